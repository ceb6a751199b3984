"""Channel fill and pacing from the simulator's ledger (the switch's own record, not ours)."""

from __future__ import annotations

import argparse
import itertools
from typing import Any


def live_series(facts: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """(t, live channels after the fact) in time order."""
    live = 0
    out = []
    for fact in sorted(facts, key=lambda f: f["t"]):
        if fact["event"] == "originate" and not fact.get("refused"):
            live += 1
        elif fact["event"] == "hangup":
            live -= 1
        else:
            continue
        out.append((fact["t"], live))
    return out


def fill_figures(facts: list[dict[str, Any]], limit: int) -> tuple[float, int]:
    series = live_series(facts)
    peak = max(n for _, n in series)
    starts = [f["t"] for f in facts if f["event"] == "originate"]
    reached = next((t for t, n in series if n >= limit), None)
    if reached is None:
        return 0.0, peak - limit
    end = max(starts)
    area = 0.0
    for (t0, n), (t1, _) in itertools.pairwise(series):
        lo, hi = max(t0, reached), min(t1, end)
        if hi > lo:
            area += n * (hi - lo)
    return area / (end - reached) / limit, max(0, peak - limit)


def pacing_figures(facts: list[dict[str, Any]], rate: float) -> float:
    starts = sorted(float(f["t"]) for f in facts if f["event"] == "originate")
    # leave the first and the last 10 % out: the ramp and the drain
    cut = len(starts) // 10
    steady = starts[cut : len(starts) - cut]
    measured = (len(steady) - 1) / (steady[-1] - steady[0])
    return measured / rate - 1.0


def refill_seconds(facts: list[dict[str, Any]], limit: int) -> list[float]:
    """How long each channel freed at the limit stayed free: the k-th hangup paired with the
    (limit + k)-th originate (calls of one fixed length end in the order they started)."""
    ordered = sorted(facts, key=lambda f: f["t"])
    hangups = [f["t"] for f in ordered if f["event"] == "hangup"]
    starts = [f["t"] for f in ordered if f["event"] == "originate" and not f.get("refused")]
    return [starts[limit + k] - t for k, t in enumerate(hangups) if limit + k < len(starts)]


def quantiles_text(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"p50 {at(0.5):.3f} s, p90 {at(0.9):.3f} s, max {ordered[-1]:.3f} s"


def fill_arguments(description: str) -> argparse.Namespace:
    """The options both fill benches take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--cps", type=float, default=20.0)
    parser.add_argument("--ring", type=float, default=1.0)
    parser.add_argument("--talk", type=float, default=10.0)
    parser.add_argument("--fill-calls", type=int, default=2000)
    parser.add_argument("--pacing-calls", type=int, default=1200)
    return parser.parse_args()


def print_fill(facts: list[dict[str, Any]], args: argparse.Namespace, mode: str) -> None:
    utilisation, overshoot = fill_figures(facts, args.channels)
    print(
        f"fill ({mode}): max_channels={args.channels}, calls of {args.ring + args.talk:g} s: "
        f"mean live / limit at steady state = {utilisation:.3f} (goal >= 0.98), "
        f"overshoot = {overshoot} (goal 0)"
    )
    gaps = refill_seconds(facts, args.channels)
    print(f"  a freed channel waited for its next call: {quantiles_text(gaps)}")


def print_pacing(facts: list[dict[str, Any]], args: argparse.Namespace, mode: str) -> None:
    error = pacing_figures(facts, args.cps)
    print(
        f"pacing ({mode}): cps={args.cps:g}: measured / configured - 1 = {error:+.2%} "
        f"(goal within ±5 %)"
    )
