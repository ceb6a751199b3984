"""What the demo prints at the end: the summary's funnel and rates, the webhooks, the files."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from dialer.demo.run import SPEEDUP, DemoResult
from dialer.lifecycle import COMPLETED


def print_result(console: Console, result: DemoResult) -> None:
    summary = result.written.summary
    report = result.report
    say = _printer(console)
    simulated = report.simulated_seconds or 0.0
    say(
        f"[bold]campaign {result.campaign_id} {report.campaigns.get(result.campaign_id, '?')}[/]: "
        f"{report.attempts:,} calls to {result.written.outcomes_rows:,} recipients in "
        f"{_duration(simulated)} of simulated time ({SPEEDUP:.0f}× real time), "
        f"{result.real_seconds:.0f} s in all"
    )
    funnel = summary["funnel"]
    say("  funnel: " + " > ".join(f"{n.replace('_', ' ')} {v:,}" for n, v in funnel.items()))
    rates = (("answer rate", "answer_rate"), ("AMD machine rate", "amd_machine_rate"),
             ("press-1 rate", "press1_rate"))  # fmt: skip
    say("  " + ", ".join(f"{label} {_percent(summary[key])}" for label, key in rates))
    wait = summary["queue_wait"]
    ab = summary["abandonment"]
    say(
        f"  queue wait: average {_seconds(wait['average_seconds'])}, p90 "
        f"{_seconds(wait['p90_seconds'])}; abandoned {ab['abandoned']:,} of "
        f"{ab['handoffs']:,} queue handoffs ({_percent(ab['rate'])}, limit "
        f"{_percent(ab['limit'])})"
    )
    say("  outcomes: " + ", ".join(f"{k} {v:,}" for k, v in report.outcomes.most_common()))
    say(webhook_line(result))
    if result.deliveries.timed_out:
        say(
            f"[yellow]webhooks: {result.deliveries.unsettled:,} deliveries still pending after "
            f"{result.deliveries.seconds:.0f} s (see dialer webhooks deliveries)[/]"
        )
    say("written:")
    for path in result.written.paths:
        say(f"  {path}")


def webhook_line(result: DemoResult) -> str:
    hooks = result.webhooks
    completed = hooks.by_event.get(COMPLETED, 0)
    per_call = (
        "one per call"
        if completed == result.report.attempts
        else (f"for {result.report.attempts:,} calls")
    )
    return (
        f"webhooks: {hooks.received:,} received, {hooks.verified:,} signatures verified, "
        f"{completed:,} {COMPLETED} ({per_call})"
    )


def _printer(console: Console) -> Callable[[str], None]:
    def say(line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)

    return say


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"
