"""Datasets, LoRA fine-tuning, evaluation, export and the model registry (training issue)."""
