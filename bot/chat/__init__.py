"""Chat: one platform-neutral command layer and the adapters that translate to it."""
