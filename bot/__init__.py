"""The composition root: config, CLI, and (later) chat adapters and schedules."""
