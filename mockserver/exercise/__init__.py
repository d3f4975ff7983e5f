"""``seedance-mock exercise``: a resilience report for any client (see README.md here)."""

from mockserver.exercise.cli import add_parser, main

__all__ = ["add_parser", "main"]
