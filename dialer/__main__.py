"""``python -m dialer`` is the ``dialer`` command."""

from dialer.cli import main

main()
