"""``dialer run``: the embedded mode — the whole engine in one process."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import typer

from dialer.cli.context import err_console, fail, load_settings, open_engine, out_console


def run_command(
    campaigns: list[int] = typer.Argument(
        None, help="Campaign ids to run (drafts are started); default: every running one."
    ),
    simulate: str | None = typer.Option(
        None,
        "--simulate",
        help="Run against an in-process simulator with this scenario (realistic, all-answer, "
        "or a YAML file): a dry run that forecasts duration and outcomes.",
    ),
    time_scale: float = typer.Option(
        1.0,
        "--time-scale",
        min=0.0001,
        help="With --simulate: simulated seconds per real second = 1/X (0.01 = 100x faster).",
    ),
    start_at: str | None = typer.Option(
        None,
        "--start-at",
        help="With --simulate: the simulated moment the run starts, e.g. "
        "2026-06-02T09:00:00-05:00.",
    ),
    until_done: bool = typer.Option(
        False, "--until-done", help="Exit once the campaigns are completed or cancelled."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.1, help="Exit after this many real seconds (exit 1)."
    ),
    pool_size: int = typer.Option(200, "--pool-size", min=1, help="Concurrent originates."),
    seed: int | None = typer.Option(None, "--seed", help="Simulator seed (repeatable runs)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
) -> None:
    """Run the scheduler, originate workers, consumers and sweeper in one process."""
    from dialer.embedded import EmbeddedRun, RunOptions

    settings = load_settings()
    start: datetime | None = None
    if start_at is not None:
        if simulate is None:
            fail("--start-at needs --simulate: only simulated time can start at another moment")
        try:
            start = datetime.fromisoformat(start_at.replace("Z", "+00:00"))
        except ValueError:
            fail(f"--start-at: not an ISO 8601 time: {start_at!r}")
        if start.tzinfo is None:
            fail("--start-at: give a zone, e.g. 2026-06-02T09:00:00-05:00")
    if time_scale != 1.0 and simulate is None:
        fail("--time-scale needs --simulate: a real switch runs in real time")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    engine = open_engine(settings)
    options = RunOptions(
        campaigns=tuple(campaigns or ()),
        until_done=until_done,
        simulate=simulate,
        time_scale=time_scale,
        start_at=start,
        pool_size=pool_size,
        seed=seed,
        timeout=timeout,
    )

    last: list[str] = []

    def progress(run: EmbeddedRun) -> None:
        if quiet:
            return
        line = _progress_line(run)
        if line != (last[0] if last else None):
            last[:] = [line]
            err_console.print(line, highlight=False)

    try:
        report = EmbeddedRun(engine, settings, options, progress=progress).run()
    except (OSError, ValueError) as exc:
        fail(f"run: {exc}")
    summary: dict[str, object] = {
        "campaigns": {str(k): v for k, v in report.campaigns.items()},
        "started_at": report.started_at.isoformat() if report.started_at else None,
        "ended_at": report.ended_at.isoformat() if report.ended_at else None,
        "simulated_seconds": report.simulated_seconds,
        "attempts": report.attempts,
        "outcomes": dict(report.outcomes),
        "timed_out": report.timed_out,
    }
    if simulate is not None:
        summary["switch"] = {
            "originates": report.originates_seen_by_switch,
            "duplicate_originates": report.duplicate_originates,
            "peak_channels": report.peak_channels,
        }
    if as_json:
        out_console.print_json(json.dumps(summary))
    else:
        for key, value in summary.items():
            out_console.print(f"{key}: {value}", highlight=False)
    if report.timed_out:
        raise typer.Exit(1)


def _progress_line(run: object) -> str:
    from dialer.campaigns.status import campaign_status
    from dialer.embedded import EmbeddedRun

    assert isinstance(run, EmbeddedRun)
    parts = [run.clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")]
    for campaign_id in run.watched_campaigns():
        status = campaign_status(run.engine, campaign_id, clock=run.clock)
        parts.append(
            f"campaign {campaign_id} {status.status}: {status.progress:.0%} of {status.total} "
            f"final, {status.active_calls} active, {status.calls_per_second_last_minute:.1f} cps"
        )
    return " | ".join(parts)
