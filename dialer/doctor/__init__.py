"""``dialer doctor``: is a FreeSWITCH node ready for the dialer's calls?

    from dialer.doctor import examine, node_needs

    report = examine(node, node_needs(campaigns))
    print("\\n".join(report.lines()))
    raise SystemExit(report.exit_code)

``needs`` says what the campaigns in scope use, ``probe`` asks the node over ESL, ``replies``
reads FreeSWITCH's answers, ``report`` holds the findings.
"""

from dialer.doctor.needs import DEFAULT_QUEUE, Needs, campaign_needs, node_needs
from dialer.doctor.probe import examine
from dialer.doctor.report import Check, Report, Status

__all__ = [
    "DEFAULT_QUEUE",
    "Check",
    "Needs",
    "Report",
    "Status",
    "campaign_needs",
    "examine",
    "node_needs",
]
