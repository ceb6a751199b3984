"""The scheduler: who may be called now (DESIGN §2).

:func:`tick` is one admission round (Celery beat runs one at a time); :func:`run_scheduler`
is the loop of the embedded mode. See :mod:`dialer.scheduler.loop`.
"""

from dialer.scheduler.loop import (
    PENDING_GAUGE,
    CampaignTick,
    StopEvent,
    TickReport,
    run_scheduler,
    tick,
)

__all__ = ["PENDING_GAUGE", "CampaignTick", "StopEvent", "TickReport", "run_scheduler", "tick"]
