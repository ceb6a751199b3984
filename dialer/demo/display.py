"""What the demo shows while it runs: a live Rich panel on a terminal, plain lines otherwise.

Both read one :class:`Snapshot` per progress callback of the embedded run (every half second of
real time): the campaign's status on the simulated clock, and the webhooks received so far.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from dialer.campaigns.status import CampaignStatus

#: The demo's clock is shown where its first recipients live.
SHOWN_ZONE = ZoneInfo("America/New_York")
#: Plain progress: one line at most this often (real seconds), and only when something moved.
PLAIN_EVERY = 2.0
REFRESHES_PER_SECOND = 4

_DIALLED_STATES = ("originating", "ringing", "answered", "ended")


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    real_seconds: float
    status: CampaignStatus
    webhooks_received: int = 0
    webhooks_verified: int = 0
    webhooks_by_event: dict[str, int] = field(default_factory=dict)
    #: Deliveries still to send once the calls are over (None while they run).
    pending: int | None = None
    #: The last picture: always shown.
    final: bool = False

    @property
    def dialled(self) -> int:
        return sum(self.status.attempts.get(state, 0) for state in _DIALLED_STATES)

    @property
    def clock_text(self) -> str:
        return self.at.astimezone(SHOWN_ZONE).strftime("%a %Y-%m-%d %H:%M:%S %Z")


def plain_line(snap: Snapshot) -> str:
    s = snap.status
    return (
        f"{snap.clock_text}  {s.status}  final {s.progress:.0%} of {s.total:,}  "
        f"dialled {snap.dialled:,}  active {s.active_calls}  "
        f"{s.calls_per_second_last_minute:.1f} cps  webhooks {snap.webhooks_verified:,}"
        + ("" if snap.pending is None else f" ({snap.pending:,} to send)")
        + f"  ({snap.real_seconds:.0f} s)"
    )


class PlainProgress:
    """One line per :data:`PLAIN_EVERY` real seconds on ``console``, when it changed."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._last_line = ""
        self._last_at = 0.0

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, snap: Snapshot) -> None:
        now = time.monotonic()
        if not snap.final and now - self._last_at < PLAIN_EVERY:
            return
        line = plain_line(snap)
        # the clock always moves: compare what the line says apart from it
        sameness = line.split("  ", 2)[-1].rsplit("  (", 1)[0]
        if sameness == self._last_line and not snap.final:
            return
        self._last_line, self._last_at = sameness, now
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)


class LiveDashboard:
    """The Rich panel: the simulated clock, progress, dialled / active / cps, outcomes."""

    def __init__(self, console: Console, title: str, speedup: float) -> None:
        self.title = title
        self.speedup = speedup
        self.live = Live(
            Text("starting…"),
            console=console,
            refresh_per_second=REFRESHES_PER_SECOND,
            transient=False,
        )

    def __enter__(self) -> LiveDashboard:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def show(self, snap: Snapshot) -> None:
        self.live.update(self.render(snap), refresh=snap.final)

    def render(self, snap: Snapshot) -> Panel:
        s = snap.status
        final = round(s.progress * s.total)
        head = Table.grid(padding=(0, 2))
        head.add_row(
            Text(snap.clock_text, style="bold"),
            Text(f"simulated, {self.speedup:,.0f}× real time"),
            Text(f"{snap.real_seconds:.0f} s", style="dim"),
        )
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=max(s.total, 1), completed=final, width=48),
            Text(f"{final:,} of {s.total:,} recipients final ({s.progress:.0%})"),
        )
        figures = Table.grid(padding=(0, 3))
        figures.add_row(
            _figure("dialled", f"{snap.dialled:,}"),
            _figure("active", f"{s.active_calls}"),
            _figure("cps", f"{s.calls_per_second_last_minute:.1f}"),
            _figure("webhooks verified", f"{snap.webhooks_verified:,}"),
        )
        if snap.pending is not None:
            figures.add_row(_figure("webhooks to send", f"{snap.pending:,}"))
        outcomes = Table("outcome", "calls", box=None, padding=(0, 2), header_style="bold")
        for outcome, count in sorted(s.attempt_outcomes.items(), key=lambda item: -item[1]):
            outcomes.add_row(outcome, f"{count:,}")
        waiting = {k: v for k, v in s.blocked.items() if v}
        parts: list[Table | Text] = [head, bar, figures, outcomes]
        if waiting:
            held = ", ".join(f"{reason} {n:,}" for reason, n in sorted(waiting.items()))
            parts.append(Text(f"held back: {held}", style="yellow"))
        return Panel(Group(*parts), title=self.title, border_style="cyan")


def _figure(label: str, value: str) -> Text:
    text = Text()
    text.append(value, style="bold cyan")
    text.append(f" {label}")
    return text
