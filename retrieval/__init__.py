"""Embedding, the vector index seam and its backends, hybrid search.

Above `core` only: every other package may import it.
"""
