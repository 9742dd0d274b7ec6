"""The local web page adapter."""
