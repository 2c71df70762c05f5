"""Builds the Lambda image's task root (assemble.py); not shipped in the image itself."""
