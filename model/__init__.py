"""Generation: the `Generator` seam and its backends, the model worker, prompt templates and
the draft writer."""
