"""A FreeSWITCH stand-in speaking the Event Socket protocol byte for byte like 1.10.12.

See DESIGN §8 and ``tests/data/freeswitch/README.md`` (the reference it is tested
against).
"""

from dialer.simulator.faults import Faults
from dialer.simulator.ledger import Ledger
from dialer.simulator.scenario import Plan, Scenario
from dialer.simulator.server import Simulator

__all__ = ["Faults", "Ledger", "Plan", "Scenario", "Simulator"]
