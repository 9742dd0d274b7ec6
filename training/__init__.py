"""Training: a run (training/run.py) from datasets through LoRA SFT and DPO, evaluation
and promotion to EXL2, the model registry, and runs started from chat as child processes."""
