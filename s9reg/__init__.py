"""s9reg: a static StartOS package registry (build, publish, serve, image cache)."""

__version__ = "0.1.0"
