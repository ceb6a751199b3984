"""Outbound campaign dialer for FreeSWITCH."""

__version__ = "0.1.0"
