"""``dialer reports``: campaign outcomes and CDRs as spreadsheet-safe CSV."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from dialer.cli.context import err_console, fail, load_settings, open_engine, out_console
from dialer.reports.cdr import CdrReport, cdr_report
from dialer.reports.outcomes import CampaignNotFoundError, Report, outcomes_report
from dialer.reports.stream import write_csv

log = logging.getLogger(__name__)

app = typer.Typer(help="Reports: campaign outcomes and CDRs as CSV.", no_args_is_help=True)

_OUTPUT = typer.Option(..., "-o", "--output", help="The CSV file to write; - for stdout.")


@app.command("outcomes")
def outcomes_command(
    campaign_id: int = typer.Argument(..., help="The campaign's id."),
    output: str = _OUTPUT,
) -> None:
    """One row per recipient: number, the list's columns, status and how the last call went."""
    engine = open_engine(load_settings())
    try:
        report = outcomes_report(engine, campaign_id)
    except CampaignNotFoundError as exc:
        fail(str(exc))
    _write(report, output, "outcomes", campaign=campaign_id)


@app.command("cdr")
def cdr_command(
    output: str = _OUTPUT,
    campaign_id: int | None = typer.Option(None, "--campaign", help="Only this campaign."),
    since: str | None = typer.Option(
        None, "--from", help="From this UTC date or time (YYYY-MM-DD or ISO 8601), inclusive."
    ),
    until: str | None = typer.Option(
        None, "--to", help="To this UTC date (the whole day) or time, exclusive of a time."
    ),
) -> None:
    """One row per call attempt: timings, AMD, IVR, queue, handoff, recording, hangup cause."""
    start = _moment(since, "--from", end=False)
    stop = _moment(until, "--to", end=True)
    if start is not None and stop is not None and stop <= start:
        fail(f"--to ({until}) is not after --from ({since})")
    engine = open_engine(load_settings())
    try:
        report = cdr_report(engine, campaign_id=campaign_id, since=start, until=stop)
    except CampaignNotFoundError as exc:
        fail(str(exc))
    _write(report, output, "cdr", campaign=campaign_id)


@app.command("summary")
def summary_command(
    campaign_id: int = typer.Argument(..., help="The campaign's id."),
    as_json: bool = typer.Option(False, "--json", help="The figures as one JSON object."),
    chart: Path | None = typer.Option(
        None, "--chart", help="Also write a PNG of the funnel and the outcomes over time here."
    ),
) -> None:
    """The funnel, answer, AMD machine and press-1 rates, queue waits, and abandonment of the
    last 30 days against the 3 % limit."""
    # pandas (and matplotlib) load here, not when any other command starts
    from dialer.reports.chart import chart_data, render_png
    from dialer.reports.summary import campaign_summary

    if chart is not None:
        _check_chart_target(chart)  # before any work
    engine = open_engine(load_settings())
    try:
        if chart is None:
            summary = campaign_summary(engine, campaign_id)
        else:  # one pass over the attempts for both
            data = chart_data(engine, campaign_id)
            summary = data.summary
    except CampaignNotFoundError as exc:
        fail(str(exc))
    if chart is not None:
        _write_chart(chart, render_png(data))
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _print_summary(summary)


def _check_chart_target(path: Path) -> None:
    from dialer.reports.chart import check_target

    try:
        check_target(path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def _write_chart(path: Path, png: bytes) -> None:
    try:
        path.write_bytes(png)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    err_console.print(f"chart written to {path}", highlight=False, markup=False)


def _print_summary(summary: dict[str, Any]) -> None:
    funnel = summary["funnel"]
    out_console.print(f"campaign {summary['campaign_id']}", highlight=False)
    out_console.print(
        "  funnel: " + " > ".join(f"{n.replace('_', ' ')} {v}" for n, v in funnel.items()),
        highlight=False,
    )
    rates = (("answer rate", "answer_rate"), ("AMD machine rate", "amd_machine_rate"),
             ("press-1 rate", "press1_rate"))  # fmt: skip
    out_console.print(
        "  " + ", ".join(f"{label} {_percent(summary[key])}" for label, key in rates),
        highlight=False,
    )
    wait = summary["queue_wait"]
    out_console.print(
        f"  queue wait: average {_seconds(wait['average_seconds'])}, "
        f"p90 {_seconds(wait['p90_seconds'])}",
        highlight=False,
    )
    ab = summary["abandonment"]
    verdict = "[bold red]OVER the limit[/]" if ab["over_limit"] else "within the limit"
    out_console.print(
        f"  abandonment (30 days): {ab['abandoned']} of {ab['handoffs']} queue handoffs, "
        f"{_percent(ab['rate'])}, limit {_percent(ab['limit'])}: {verdict}",
        highlight=False,
    )


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _moment(text: str | None, option: str, *, end: bool) -> datetime | None:
    """A date (its start, or for ``--to`` the next day's) or a time; naive means UTC."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time")
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _write(report: Report, output: str, name: str, **context: Any) -> None:
    try:
        with _opened(output) as out, _progress(report.total, name) as tick:
            if isinstance(report, CdrReport):  # PostgreSQL COPYs it
                count = report.write(out, on_row=tick)
            else:
                count = write_csv(out, report.header, report.rows, on_row=tick)
    except BrokenPipeError:  # ``-o - | head``: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:  # the disk filled up, the file system went away
        fail(f"cannot write {output}: {exc.strerror or exc}")
    log.info("report written report=%s rows=%d output=%s %s", name, count, output,
             " ".join(f"{k}={v}" for k, v in context.items()))  # fmt: skip
    if output != "-":
        err_console.print(f"{count} rows written to {output}", highlight=False, markup=False)


@contextmanager
def _opened(output: str) -> Iterator[IO[str]]:
    """stdout for ``-``; else the file, UTF-8 with a BOM so Excel reads the accents right."""
    if output == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(output)
    if path.is_dir():
        fail(f"cannot write {path}: it is a directory")
    try:
        out = path.open("w", encoding="utf-8-sig", newline="")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    with out:
        yield out


@contextmanager
def _progress(total: int, name: str) -> Iterator[Any]:
    """A progress bar on a terminal's stderr; nothing (a no-op tick) otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn(f"{name}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(name, total=total)
        yield lambda: progress.advance(task)
