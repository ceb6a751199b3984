"""mod_avmd on the A leg: ``avmd_start`` / ``avmd_stop`` and the beep the scenario plans.

As captured (07, 07b, 10c): ``avmd_start`` raises MEDIA_BUG_START and ``CUSTOM avmd::start``;
the beep is reported ``BEEP_DETECT_SECONDS`` after it starts (``avmd::beep``, ``Beep-Status:
DETECTED``); ``avmd_stop`` raises ``avmd::stop`` (``DETECTED`` or ``NOTDETECTED``,
``Total-time``) and MEDIA_BUG_STOP. Each avmd event reaches a listener twice with the same
Event-Sequence: a bare copy at once, and a full copy (plus the channel's headers and
variables) that waits in the session's queue until the park loop delivers it — right away
when the channel is parked idle, else once the running application and every command queued
behind it have run (``switch_ivr_park`` parses all private events before it dequeues one);
a hangup first drops it (10c never shows the avmd::stop copy).
Audio before ``avmd_start`` is not analysed: a beep that already began is missed.
A detection sets ``avmd_total_time`` (``[<ms>]``) and ``avmd_detect`` (``TRUE``) on the channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialer.simulator.events import Event

if TYPE_CHECKING:
    from dialer.simulator.call import Call

BEEP_DETECT_SECONDS = 0.05  # README: 40-45 ms after the beep began in 7 runs (100 ms in 07)
WHERE = ("mod_avmd.c", "avmd_fire_event", 700)
# the measured tone of 07 (a 1000 Hz beep at -6 dBFS)
BEEP_FIELDS = [
    ("Frequency", "1000.454123"),
    ("Frequency-variance", "0.000018"),
    ("Amplitude", "14401.345206"),
    ("Amplitude-variance", "27176.962574"),
]
FRAME_US = 20_000


class Avmd:
    def __init__(self, call: Call) -> None:
        self.call = call
        self.started_us: int | None = None
        self.beeped = False
        self.due: float | None = None  # simulated epoch of the beep report, when running
        self.queued: list[Event] = []  # full copies waiting for the park loop

    def start(self) -> None:
        call = self.call
        if self.started_us is not None:
            return
        clock = call.switch.clock
        call.emit("MEDIA_BUG_START", pre=_bug())
        self.started_us = clock.now_us()
        self.beeped = False
        self._fire("avmd::start", [("Start-time", str(self.started_us))], self.started_us)
        beep = call.plan.beep
        if beep is not None and call.answered_at is not None:
            begins = call.answered_at + beep
            if begins >= clock.now():
                self.due = begins + BEEP_DETECT_SECONDS

    def detected(self) -> None:
        """Called by the call's wait loop when the planned beep is heard."""
        call = self.call
        self.due = None
        if self.started_us is None:
            return
        self.beeped = True
        now = call.switch.clock.now_us()
        detection = max(0, now - self.started_us - FRAME_US)
        # set before the event, so its full copy carries them (07): the shipped flow polls
        # avmd_detect for the beep
        call.ch.set_var("avmd_total_time", f"[{detection // 1000}]")
        call.ch.set_var("avmd_detect", "TRUE")
        self._fire(
            "avmd::beep",
            [
                ("Beep-Status", "DETECTED"),
                *BEEP_FIELDS,
                ("Detection-time", str(detection)),
                ("Detector-resolution", "1"),
                ("Detector-offset", "0"),
                ("Detector-index", "0"),
            ],
            now,
        )
        if call.idle:
            self.flush()

    def stop(self) -> None:
        call = self.call
        if self.started_us is None:
            return
        now = call.switch.clock.now_us()
        status = "DETECTED" if self.beeped else "NOTDETECTED"
        total = str(now - self.started_us)
        self._fire("avmd::stop", [("Beep-Status", status), ("Total-time", total)], now)
        call.emit("MEDIA_BUG_STOP", pre=_bug())
        self.started_us = None
        self.due = None

    def flush(self) -> None:
        queued, self.queued = self.queued, []
        for event in queued:
            self.call.publish(event)

    def _fire(self, subclass: str, fields: list[tuple[str, str]], us: int) -> None:
        call = self.call
        ch = call.ch
        bare = call.events.factory.prefix("CUSTOM", WHERE, subclass=subclass, us=us)
        bare += [("Unique-ID", ch.uuid), ("Call-command", "avmd"), *fields]
        call.publish(Event(bare))
        self.queued.append(Event(bare + ch.channel_headers() + ch.variable_headers()))


def _bug() -> list[tuple[str, str]]:
    return [("Media-Bug-Function", "avmd"), ("Media-Bug-Target", "N/A")]
