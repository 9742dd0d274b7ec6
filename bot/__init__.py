"""The composition root (`bot/twin.py`), the config loader, the CLI, the chat layer and its
adapters, the web page, the schedules and `serve`: everything that wires the library up."""
