"""Placeholder: see the issue for publish."""
