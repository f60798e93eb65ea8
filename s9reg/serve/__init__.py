"""Placeholder: see the issue for serve."""
