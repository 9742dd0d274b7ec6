"""What every layer may import: the user-facing errors and a few process-wide primitives.

Below `retrieval/`, so it imports nothing else of ours.
"""
