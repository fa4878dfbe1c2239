"""The monitoring pipeline: realised performance once outcomes arrive."""
