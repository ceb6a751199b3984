"""A FreeSWITCH stand-in speaking the Event Socket protocol byte for byte like 1.10.12.

See DESIGN §8; the captures in ``tests/data/freeswitch`` are the reference it is tested
against. ``Switch`` (``switch.py``) is the node without sockets, ``Simulator`` (``server.py``)
puts it on a TCP port.
"""

from dialer.simulator.faults import Faults
from dialer.simulator.ledger import Ledger
from dialer.simulator.scenario import Plan, Scenario
from dialer.simulator.server import Simulator
from dialer.simulator.switch import Switch

__all__ = ["Faults", "Ledger", "Plan", "Scenario", "Simulator", "Switch"]
