"""Placeholder: see the issue for catalogue."""
