"""Fetching, extraction, cleaning, chunking and the warehouse: links in, documents out."""
