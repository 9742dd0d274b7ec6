"""Model fixtures live in tests/conftest.py (the chat tests use them too)."""
