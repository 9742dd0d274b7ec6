"""Generation: the `Generator` seam, prompt templates and the draft writer (drafting issue)."""
