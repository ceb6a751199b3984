"""The ``dialer`` console command."""

from dialer.cli.main import app, main

__all__ = ["app", "main"]
