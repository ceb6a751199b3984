"""Ground truth for tests and benchmarks: one JSON object per fact, independent of the dialer.

Facts: ``originate`` (every originate received, refused or not), ``refused`` (the switch said
no before creating a channel), ``answer``, ``hangup``, ``duplicate`` (an origination_uuid that
belongs to a live call — real FreeSWITCH does not reject it: the new call keeps a random uuid,
which is the fact's ``uuid``, and ``requested_uuid`` is the one asked for; a uuid whose call
has ended is simply used again), ``restart`` (the node restarted; its in-flight calls got a
``hangup`` with ``cause: SYSTEM_SHUTDOWN`` and ``lost: true``). Every call fact has ``t``
(real seconds since the simulator started), ``event``, ``uuid``, ``attempt_id``,
``campaign_id``, ``to`` and ``cause``; a refused originate's fact also has ``refused: true``.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any, TextIO


class Ledger:
    def __init__(self, path: str | Path | None = None) -> None:
        self.facts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = (
            open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        )

    def record(self, fact: dict[str, Any]) -> None:
        with self._lock:
            self.facts.append(fact)
            if self._file is not None:
                self._file.write(json.dumps(fact, ensure_ascii=False) + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    # --- questions tests ask -------------------------------------------------------------

    def of(self, event: str) -> list[dict[str, Any]]:
        return [f for f in self.facts if f["event"] == event]

    def duplicates_by_attempt(self) -> dict[str, int]:
        """attempt_id → number of originates received for it, only where more than one."""
        counts = Counter(f["attempt_id"] for f in self.of("originate"))
        return {k: n for k, n in counts.items() if n > 1}

    def max_concurrent(self, campaign_id: str | None = None) -> int:
        """Peak number of live calls (originated, not yet refused or hung up)."""
        live = peak = 0
        for fact in self.facts:
            if campaign_id is not None and fact.get("campaign_id") != campaign_id:
                continue
            # a live channel: an originate not refused, until its hangup
            if fact["event"] == "originate" and not fact.get("refused"):
                live += 1
                peak = max(peak, live)
            elif fact["event"] == "hangup":
                live -= 1
        return peak

    def max_concurrent_by_campaign(self) -> dict[str, int]:
        campaigns = {str(f["campaign_id"]) for f in self.facts if f.get("campaign_id")}
        return {c: self.max_concurrent(c) for c in sorted(campaigns)}
