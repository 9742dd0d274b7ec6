"""Extractors turn one input (a URL or a path) into documents, chosen from a registry."""
