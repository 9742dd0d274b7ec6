"""Embedding, the vector index seam and its backends, hybrid search.

The lowest layer: imports nothing else of ours, so every other package may import it.
"""
