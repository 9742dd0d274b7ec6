"""The warehouse: the source of truth for sources and documents (SQLite or PostgreSQL)."""
