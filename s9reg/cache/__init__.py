"""Placeholder: see the issue for cache."""
