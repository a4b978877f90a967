"""``python -m growthloop``: the command line."""

from growthloop.cli import main

main()
