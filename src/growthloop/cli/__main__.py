"""``python -m growthloop.cli``: the growthloop command."""

from growthloop.cli import main

main()
