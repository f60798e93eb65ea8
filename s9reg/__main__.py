"""``python -m s9reg``."""

from s9reg.cli import main

main()
