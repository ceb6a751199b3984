"""The summary's chart: a campaign's funnel and its calls ended per outcome over time, as a PNG.

The top panel is the summary's funnel (dialled, answered, human, pressed, queued, agent
answered), each bar labelled with its count and its share of the dialled calls. The bottom
panel stacks, per time bucket, the attempts that ended in it by outcome; the legend (with each
outcome's total) sits outside the plot so it never covers a bar. The bucket follows the span of
the end times: the smallest of 1, 5 and 15 minutes, 1 and 6 hours, a day and a week of which
the span is at most :data:`MAX_BUCKETS` (an hour-long run by the minute, a day by the hour). An
attempt counts when it ended (``ended_at``; an ended attempt without one, at its last state
change). Times are UTC, and the chart says so.

matplotlib is imported inside :func:`render_png` only: it takes a while to import and no other
command needs it. The chart is drawn on a ``Figure`` with the Agg canvas, never through pyplot,
so there is no global state and the HTTP API may render charts from several threads.
"""

from __future__ import annotations

import errno
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.clock import get_clock
from dialer.db.models import Campaign
from dialer.reports.outcomes import CampaignNotFoundError
from dialer.reports.summary import attempts_frame, summarise

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_CAMPAIGNS = cast(sa.Table, Campaign.__table__)

#: The bucket sizes to choose from, smallest first: (pandas frequency, length, how it reads).
BUCKETS: tuple[tuple[str, timedelta, str], ...] = (
    ("1min", timedelta(minutes=1), "minute"),
    ("5min", timedelta(minutes=5), "5 minutes"),
    ("15min", timedelta(minutes=15), "15 minutes"),
    ("1h", timedelta(hours=1), "hour"),
    ("6h", timedelta(hours=6), "6 hours"),
    ("1D", timedelta(days=1), "day"),
    ("7D", timedelta(days=7), "week"),
)
#: The most buckets the timeline gets before the next size up is taken.
MAX_BUCKETS = 60

#: The attempts' columns the timeline needs on top of the summary's.
_TIMELINE_COLUMNS = ("state", "outcome", "ended_at", "state_changed_at")

#: Each outcome's colour, the same on every chart: reached people green and blue, machines
#: orange, no contact grey, IVR purple, queue losses brown and pink, failures red.
COLOURS: dict[str, str] = {
    "completed": "#1f77b4", "agent_answered": "#2ca02c", "transferred": "#98df8a",
    "ai_completed": "#17becf", "opted_out": "#bcbd22", "amd_machine": "#ff7f0e",
    "voicemail_left": "#ffbb78", "no_answer": "#7f7f7f", "busy": "#c7c7c7",
    "invalid_number": "#525252", "ivr_timeout": "#9467bd", "ivr_hangup": "#c5b0d5",
    "queue_timeout": "#8c564b", "queue_hangup": "#e377c2", "failed": "#d62728",
}  # fmt: skip
_OTHER_COLOUR = "#000000"

#: 11 x 8 inches at 100 dpi: 1100 x 800 pixels.
FIGURE_SIZE = (11.0, 8.0)
DPI = 100


@dataclass(frozen=True)
class Bucket:
    """The timeline's bucket: its pandas frequency, its length and how it reads ("minute")."""

    frequency: str
    length: timedelta
    label: str


@dataclass(frozen=True)
class ChartData:
    """What the chart shows: the campaign, its summary (the funnel), and the timeline (one row
    per bucket start, UTC; one column per outcome, most frequent first; counts)."""

    campaign_id: int
    name: str
    summary: dict[str, Any]
    timeline: pd.DataFrame
    bucket: Bucket
    attempts: int


def chart_data(engine: Engine, campaign_id: int, *, now: datetime | None = None) -> ChartData:
    """The figures behind the chart of campaign ``campaign_id``, from one pass over its
    attempts. Raises :class:`~dialer.reports.outcomes.CampaignNotFoundError`."""
    name = campaign_name(engine, campaign_id)
    frame = attempts_frame(engine, campaign_id, extra=_TIMELINE_COLUMNS)
    summary = summarise(frame, campaign_id, now or get_clock().now())
    timeline, bucket = outcomes_over_time(frame)
    return ChartData(campaign_id, name, summary, timeline, bucket, len(frame))


def campaign_name(engine: Engine, campaign_id: int) -> str:
    """The campaign's name. Raises :class:`~dialer.reports.outcomes.CampaignNotFoundError`."""
    with engine.connect() as conn:
        name = conn.execute(
            sa.select(_CAMPAIGNS.c.name).where(_CAMPAIGNS.c.id == campaign_id)
        ).scalar_one_or_none()
    if name is None:
        raise CampaignNotFoundError(f"no campaign {campaign_id}")
    return str(name)


def outcomes_over_time(frame: pd.DataFrame) -> tuple[pd.DataFrame, Bucket]:
    """Ended attempts per bucket (rows, every bucket from the first to the last, UTC) and
    outcome (columns, most frequent first) of attempts ``frame``, and the bucket chosen."""
    ended = frame[frame["state"].eq("ended")]
    if ended.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz=UTC), dtype="int64"), pick_bucket(
            timedelta(0)
        )
    at = pd.to_datetime(ended["ended_at"].fillna(ended["state_changed_at"]), utc=True)
    bucket = pick_bucket((at.max() - at.min()).to_pytimedelta())
    starts = _bucket_starts(at, bucket)
    outcome = ended["outcome"].fillna("unknown").astype(str)
    counts = pd.crosstab(starts.to_numpy(), outcome.to_numpy())
    every = pd.date_range(starts.min(), starts.max(), freq=bucket.length, tz=UTC)
    counts.index = pd.DatetimeIndex(counts.index).tz_convert(UTC)
    counts = counts.reindex(every, fill_value=0)
    order = counts.sum().sort_values(ascending=False, kind="stable").index
    timeline = counts[list(order)].astype("int64")
    timeline.index.name, timeline.columns.name = "bucket_start", "outcome"
    return timeline, bucket


def pick_bucket(span: timedelta) -> Bucket:
    """The smallest bucket of which ``span`` is at most :data:`MAX_BUCKETS` long (the floored
    bucket starts add one at most: an hour by the minute is 60 or 61 buckets)."""
    for frequency, length, label in BUCKETS:
        if span <= length * MAX_BUCKETS:
            return Bucket(frequency, length, label)
    frequency, length, label = BUCKETS[-1]
    return Bucket(frequency, length, label)


def _bucket_starts(at: pd.Series[Any], bucket: Bucket) -> pd.Series[Any]:
    if bucket.label == "week":  # weeks start on Monday (a plain 7-day floor would be Thursday)
        days = at.dt.floor("1D")
        return cast("pd.Series[Any]", days - pd.to_timedelta(days.dt.day_of_week, unit="D"))
    return cast("pd.Series[Any]", at.dt.floor(bucket.frequency))


def check_target(path: Path) -> None:
    """Raise an :class:`OSError` saying why ``path`` cannot take the chart, before any work."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a directory", str(path))
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"no directory {parent}", str(path))


def write_chart(
    engine: Engine, campaign_id: int, path: Path | str, *, now: datetime | None = None
) -> ChartData:
    """Write the chart of campaign ``campaign_id`` to ``path`` as a PNG; what it shows.
    Raises :class:`~dialer.reports.outcomes.CampaignNotFoundError` or an :class:`OSError`
    (no such directory, a directory, the disk full) and then writes nothing."""
    target = Path(path)
    check_target(target)
    data = chart_data(engine, campaign_id, now=now)
    target.write_bytes(render_png(data))
    return data


def chart_png(engine: Engine, campaign_id: int, *, now: datetime | None = None) -> bytes:
    """The chart of campaign ``campaign_id`` as PNG bytes (for the HTTP API). Raises
    :class:`~dialer.reports.outcomes.CampaignNotFoundError`."""
    return render_png(chart_data(engine, campaign_id, now=now))


def render_png(data: ChartData) -> bytes:
    """The chart of ``data`` as PNG bytes, :data:`FIGURE_SIZE` at :data:`DPI`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    funnel_axes, time_axes = figure.subplots(2, 1, height_ratios=(2, 3))
    title = f"Campaign {data.campaign_id}: {data.name}"
    if data.attempts == 0:
        title += " (no calls yet)"
    figure.suptitle(title, fontsize=14, fontweight="bold")
    _draw_funnel(funnel_axes, data)
    _draw_timeline(time_axes, data)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


_STEPS = ("dialled", "answered", "human", "pressed", "queued", "agent_answered")


def _draw_funnel(axes: Axes, data: ChartData) -> None:
    from matplotlib.ticker import MaxNLocator

    funnel = data.summary["funnel"]
    counts = [int(funnel[step]) for step in _STEPS]
    dialled = counts[0]
    names = [step.replace("_", " ") for step in _STEPS]
    bars = axes.barh(names, counts, color="#4c72b0")
    axes.invert_yaxis()  # the funnel reads top down
    labels = [f"{counts[0]:,}"] + [
        f"{n:,}" + (f"  ({n / dialled:.1%} of dialled)" if dialled else "") for n in counts[1:]
    ]
    axes.bar_label(bars, labels=labels, padding=4, fontsize=10)
    axes.set_xlim(0, max(counts) * 1.35 if max(counts) else 1)
    axes.set_title(f"Funnel of campaign {data.campaign_id}", loc="left")
    axes.set_xlabel("calls (attempts)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)


def _draw_timeline(axes: Axes, data: ChartData) -> None:
    from matplotlib import dates
    from matplotlib.ticker import MaxNLocator

    timeline, bucket = data.timeline, data.bucket
    title = f"Calls ended per outcome of campaign {data.campaign_id}"
    axes.set_title(title if timeline.empty else f"{title}, per {bucket.label} (UTC)", loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    if timeline.empty:
        message = "no calls yet" if data.attempts == 0 else "no calls ended yet"
        axes.text(0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center",
                  fontsize=14, color="#666666")  # fmt: skip
        axes.set_xticks([])
        axes.set_yticks([])
        return
    starts = [t.to_pydatetime() for t in timeline.index]
    width = bucket.length / timedelta(days=1) * 0.9  # a date axis counts in days
    bottom = [0] * len(timeline)
    bars = None
    for outcome in timeline.columns:
        counts = [int(n) for n in timeline[outcome]]
        bars = axes.bar(
            starts, counts, width=width, bottom=bottom, align="edge",
            color=COLOURS.get(outcome, _OTHER_COLOUR), label=f"{outcome} ({sum(counts):,})",
        )  # fmt: skip
        bottom = [b + n for b, n in zip(bottom, counts, strict=True)]
    if bars is not None and len(timeline) <= 31:  # the bucket totals, while they still fit
        axes.bar_label(bars, labels=[f"{n:,}" if n else "" for n in bottom], padding=2,
                       fontsize=8)  # fmt: skip
    axes.legend(title="outcome (calls)", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                frameon=False)  # fmt: skip
    locator = dates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    concise = dates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_formatter(concise)
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel(f"calls ended per {bucket.label}")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(bottom) * 1.15)
