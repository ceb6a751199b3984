"""Originate: claim an attempt, take its leases, send ``bgapi originate``; repair what
crashes leave (the sweeper). The only part of the dialer that starts calls on a switch."""

from dialer.originate.pool import NodePool
from dialer.originate.scopes import CallLimits, call_limits
from dialer.originate.worker import OriginateOutcome, Originator

__all__ = ["CallLimits", "NodePool", "OriginateOutcome", "Originator", "call_limits"]
