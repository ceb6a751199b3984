"""One call's progression: a greenlet that walks the A leg through FreeSWITCH's events.

The callee's behaviour comes from a sampled ``Plan``; the dialer's side comes from the
originate (``&park`` or a dialplan flow) and from commands that arrive while the call runs
(``uuid_kill``, ``sendmsg`` execute/hangup, ``uuid_transfer``, ``hupall``).
The shipped dialplan flow and mod_callcenter are in ``flow.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent
from gevent.event import AsyncResult
from gevent.queue import Empty, Queue

from dialer.simulator import bridge as bridge_mod
from dialer.simulator import flow
from dialer.simulator.avmd import Avmd
from dialer.simulator.bleg import BLeg
from dialer.simulator.channel import WHERE, Channel, ChannelEvents, new_uuid
from dialer.simulator.control import Command, Hangup
from dialer.simulator.events import Event
from dialer.simulator.originate import Originate
from dialer.simulator.scenario import Plan
from dialer.simulator.transfer import Transfer

if TYPE_CHECKING:
    from dialer.simulator.switch import Switch

log = logging.getLogger("dialer.simulator")

PROMPT_SECONDS = 3.0  # the fixtures' IVR prompt
INVALID_SOUND_SECONDS = 0.25
BGJOB_AFTER_ANSWER = 0.02  # BACKGROUND_JOB arrives ~20 ms after CHANNEL_ANSWER


def play_seconds(path: str) -> float:
    """How long a file plays: tone_stream ``%(on,off,…)`` × ``loops``, silence_stream ms,
    ``say:`` text 0.4 s a word (TTS); anything else (a file, an http(s) URL) 1 s."""
    if path.startswith("say:"):
        return 0.4 * max(1, len(re.split(r"[\s_+-]+", path[4:].strip())))
    tone = re.search(r"%\((\d+),(\d+)", path)
    loops = re.search(r"loops=(\d+)", path)
    if path.startswith("tone_stream://") and tone:
        once = (int(tone.group(1)) + int(tone.group(2))) / 1000
        return once * (int(loops.group(1)) if loops else 1)
    silence = re.match(r"silence_stream://(\d+)", path)
    return int(silence.group(1)) / 1000 if silence else 1.0


class Call:
    def __init__(
        self,
        switch: Switch,
        channel: Channel,
        request: Originate,
        plan: Plan,
        sessions: int,
        campaign_id: str,
        attempt_id: str,
    ) -> None:
        self.switch = switch
        self.ch = channel
        self.request = request
        self.plan = plan
        self.sessions = sessions
        self.campaign_id = campaign_id
        self.attempt_id = attempt_id
        self.result: AsyncResult[str] = AsyncResult()
        # bgapi: publishes BACKGROUND_JOB synchronously, so it lands in FreeSWITCH's order
        self.on_result: Callable[[str], None] | None = None
        self.commands: Queue[Command] = Queue()
        self.events = ChannelEvents(switch.factory)
        self.answered_at: float | None = None  # simulated epoch seconds
        self.callee_deadline: float | None = None
        self.scheduled_hangup: tuple[float, str] | None = None  # sched_hangup: (epoch, cause)
        self.greenlet: gevent.Greenlet[[], None] | None = None
        self._after_events: list[Event] = []
        self._after_callbacks: list[Callable[[], None]] = []
        # commands the channel has not run yet: FreeSWITCH queues them on the session and
        # runs them in order once the running application returns
        self.pending: list[Command] = []
        #: how long the modelled mod_amd took to decide (the scaled clock's lateness aside)
        self.amd_took: float | None = None
        self.recording_since: float | None = None  # record_session started (switch time)
        self.keys_used = 0  # of the plan's IVR keys (one per try), over every IVR round
        self.defer_kill = False  # originate still finishing: a kill waits for the park
        self.idle = False  # parked with nothing running: queued session events go out now
        self.avmd = Avmd(self)
        self.bleg: BLeg | None = None  # loopback only, once both sessions were granted
        # running the dialplan flow: a uuid_transfer breaks the running app (Transfer)
        self.in_flow = False

    # --- plumbing ------------------------------------------------------------------------

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run)

    def after_hangup(self, events: list[Event], callback: Callable[[], None]) -> None:
        """Events that FreeSWITCH raises after the member's CHANNEL_HANGUP_COMPLETE."""
        self._after_events += events
        self._after_callbacks.append(callback)

    def finish(self, result: str) -> None:
        self.result.set(result)
        if self.on_result is not None:
            self.on_result(result)

    def schedule_hangup(self, at: float, cause: str) -> None:
        """The api ``sched_hangup``: from another greenlet, so it goes through the queue and
        wakes the call's wait loop."""
        self.commands.put(Command("sched_hangup", cause=cause, arg=repr(at)))

    def kill(self, cause: str, *, b_leg: bool = False) -> None:
        self.commands.put(Command("kill", cause=cause, app="-b" if b_leg else ""))

    def _killed(self, cmd: Command) -> Hangup:
        return self.callee_hangs_up(cmd.cause) if cmd.app == "-b" else Hangup(cmd.cause)

    def emit(self, name: str, **kw: object) -> None:
        self.switch.publish(self.events.build(self.ch, name, **kw))  # type: ignore[arg-type]

    def publish(self, event: Event) -> None:
        self.switch.publish(event)

    def _private_command(self, cmd: Command) -> None:
        """The parsed sendmsg fired again as PRIVATE_COMMAND: its own headers first, then the
        usual prefix and the channel's headers, no variables (02, 07)."""
        headers = list(cmd.headers) + self.events.factory.prefix(
            "PRIVATE_COMMAND", WHERE["PRIVATE_COMMAND"]
        )
        self.publish(Event(headers + self.ch.channel_headers()))

    def hang_up_now(self, cause: str = "NORMAL_CLEARING") -> None:
        """Mark the channel hung up (CHANNEL_HANGUP) if nobody has yet."""
        ch = self.ch
        if ch.hangup_cause is None or ch.answer_state != "hangup":
            ch.hangup_cause = ch.hangup_cause or cause
            ch.answer_state = "hangup"
            ch.hangup_us = self.switch.clock.now_us()
            self._emit_hangup()

    def _take_queued(self) -> None:
        """Commands that arrived while an application ran join the pending ones."""
        while True:
            try:
                cmd = self.commands.get_nowait()
            except Empty:
                return
            self.pending.append(cmd)

    def callee_hangs_up(self, cause: str) -> Hangup:
        """The called party ends the call: loopback hangs the A leg up at once, and the B
        leg completes before the A leg has unwound (04a, 05b, 12)."""
        if self.bleg is not None:
            self.bleg.hangup(cause)
            self.hang_up_now(cause)
            self.bleg.complete(cause)
        return Hangup(cause)

    def _give_up(self) -> None:
        if self.ch.hangup_cause == "NO_ANSWER" and not self.result.ready():
            self.finish("-ERR NO_ANSWER\n")

    def _emit_hangup(self, before_b: Callable[[], None] | None = None) -> None:
        if self.recording_since is not None:
            # the media bug closes with the channel: its length lands in these variables
            ms = int((self.switch.clock.now() - self.recording_since) * 1000)
            self.ch.set_var("record_ms", str(ms))
            self.ch.set_var("record_seconds", str(ms // 1000))
            self.ch.set_var("record_samples", str(ms * 8))
        self.emit("CHANNEL_HANGUP")
        if before_b is not None:
            before_b()
        if self.bleg is not None:
            self.bleg.hangup(self.ch.hangup_cause or "NORMAL_CLEARING")
        # whoever hangs up raises CHANNEL_HANGUP; the session's own thread finishes the
        # hangup later (15: hupall's CHANNEL_HANGUPs all come before any HANGUP_COMPLETE)
        gevent.sleep(0)

    def state(self, state: str, number: int | None = None) -> None:
        self.ch.state = state
        self.emit("CHANNEL_STATE", state_number=number)

    def callstate(self, call_state: str) -> None:
        old = self.ch.call_state
        self.ch.call_state = call_state
        numbers = {"DOWN": 0, "DIALING": 1, "RINGING": 2, "EARLY": 3, "ACTIVE": 4, "HANGUP": 10}
        self.emit(
            "CHANNEL_CALLSTATE",
            pre=[
                ("Original-Channel-Call-State", old),
                ("Channel-Call-State-Number", str(numbers.get(call_state, 0))),
            ],
        )

    def wait(self, seconds: float, *, handle: Callable[[Command], bool] | None = None) -> None:
        """Sleep ``seconds`` of simulated time; commands arriving meanwhile are handled.

        ``kill`` raises ``Hangup`` (except while the originate completes: then it waits in
        ``pending`` for the park, capture 13); the callee's own hangup deadline raises too;
        the planned beep is reported on time. ``handle`` may take other commands (True ends
        the wait early); without it they join ``pending`` and run after the current app.
        """
        clock = self.switch.clock
        end = clock.now() + max(0.0, seconds)
        while True:
            now = clock.now()
            beep = self.avmd.due
            if beep is not None and now >= beep:
                self.avmd.detected()
                continue
            limit = end if beep is None else min(end, beep)
            callee = self.callee_deadline
            if callee is not None and callee < limit:
                limit = callee
            scheduled = self.scheduled_hangup
            if scheduled is not None and scheduled[0] < limit:
                limit = scheduled[0]
            if now >= limit:
                if scheduled is not None and now >= scheduled[0]:
                    self.scheduled_hangup = None
                    raise Hangup(scheduled[1])
                if callee is not None and callee <= end and now >= callee:
                    raise self.callee_hangs_up("NORMAL_CLEARING")
                if limit == end:
                    return
                continue
            try:
                cmd = self.commands.get(timeout=clock.real(limit - now))
            except Empty:
                continue
            if cmd.kind == "sched_hangup":
                self._sched_hangup(f"{cmd.arg} {cmd.cause}")
                continue
            if cmd.kind == "kill" and not self.defer_kill:
                raise self._killed(cmd)
            if cmd.kind == "transfer" and self.in_flow:
                raise Transfer(cmd.app)
            if handle is not None and cmd.kind != "kill":
                if handle(cmd):
                    return  # the caller wants to act on it now
            else:
                self.pending.append(cmd)  # runs after what is running now

    # --- the call ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._progress()
        except Hangup as hangup:
            self._hangup(hangup.cause)
        except Exception:  # pragma: no cover - keep the switch alive, log the bug
            log.exception("simulated call %s crashed", self.ch.uuid)
            self._hangup("NORMAL_TEMPORARY_FAILURE")
        finally:
            self.switch.call_finished(self)

    def _progress(self) -> None:
        ch, plan = self.ch, self.plan
        self.emit("CHANNEL_OUTGOING")
        self.state("CS_INIT", 1)
        self.emit("CHANNEL_CREATE")
        if self.sessions >= 2 and self.ch.dial.endpoint == "loopback":
            self.bleg = BLeg(self)
            self.bleg.create()
        self.emit("CHANNEL_ORIGINATE")
        ch.state = "CS_ROUTING"
        self.emit("CHANNEL_STATE")
        ch.state = "CS_CONSUME_MEDIA"
        self.emit("CHANNEL_STATE")
        if self.request.error_cause:
            raise Hangup(self.request.error_cause)
        timeout = float(ch.variables.get("originate_timeout", "60") or 60)
        if plan.outcome in ("invalid", "congestion"):
            self.wait(0.02)
            raise self.callee_hangs_up(plan.cause)
        ring = plan.ring
        if plan.outcome == "no_answer" or ring >= timeout:
            ring = timeout
        if self.sessions >= 2 or self.ch.dial.endpoint != "loopback":
            ch.progress_us = self.switch.clock.now_us()
            self.emit("CHANNEL_PROGRESS")
            self.callstate("RINGING")
            if self.bleg is not None:
                self.bleg.ringing(ch.progress_us)
        else:
            ring = timeout  # the loopback B leg was throttled: nobody will ever answer
        self.wait(ring)
        if plan.outcome == "no_answer" or ring >= timeout:
            raise Hangup("NO_ANSWER")
        if plan.outcome != "answer":
            raise self.callee_hangs_up(plan.cause)
        self._answer()
        if self.request.dialplan and self.request.app != "park_here":
            flow.run(self)
        else:
            self._park_app()

    def _answer(self) -> None:
        ch = self.ch
        clock = self.switch.clock
        ch.answered_us = clock.now_us()
        self.answered_at = clock.now()
        ch.answer_state = "answered"
        self.switch.record("answer", self)
        self.emit("CHANNEL_ANSWER")
        if self.bleg is not None:
            self.bleg.answer(ch.answered_us)
        self.callstate("ACTIVE")
        if self.plan.hangup_after is not None:
            self.callee_deadline = clock.now() + self.plan.hangup_after
        elif self.plan.machine:
            self.callee_deadline = clock.now() + self.plan.greeting + 30.0
        # a uuid_kill now does not stop the originate: it completes +OK and the channel
        # parks before it hangs up (capture 13)
        self.defer_kill = True
        try:
            self.wait(BGJOB_AFTER_ANSWER)
        finally:
            self.defer_kill = False
        ch.hit_dialplan = True
        ch.flip_cid()
        if not self.request.dialplan:
            self.emit("CALL_UPDATE", pre=[("Direction", "RECV")])
        self.finish(f"+OK {ch.uuid}\n")
        self._abort_early_executes()
        if self.request.dialplan:
            ch.state = "CS_ROUTING"
            self.emit("CHANNEL_STATE")
            self.emit("CALL_UPDATE", pre=[("Direction", "RECV")])
        ch.state = "CS_EXECUTE"
        self.emit("CHANNEL_STATE")

    def _abort_early_executes(self) -> None:
        """sendmsg execute before the originate completed: each app starts and is aborted
        at once, right after the BACKGROUND_JOB (capture 02x)."""
        early = [c for c in self.pending if c.kind == "execute"]
        self.pending = [c for c in self.pending if c.kind != "execute"]
        for cmd in early:
            app_uuid = cmd.app_uuid or new_uuid()
            data = [("Application-Data", cmd.arg)] if cmd.arg else []
            self.emit(
                "CHANNEL_EXECUTE",
                post=[("Application", cmd.app), *data, ("Application-UUID", app_uuid)],
            )
            self.complete(cmd.app, cmd.arg, app_uuid, "_none_")
            self._private_command(cmd)

    # --- applications --------------------------------------------------------------------

    def execute(self, app: str, arg: str = "", app_uuid: str = "") -> str:
        ch = self.ch
        app_uuid = app_uuid or new_uuid()
        ch.app, ch.app_arg = app, arg
        ch.set_var("current_application_data", arg, move_to_end=True) if arg else None
        ch.set_var("current_application", app, move_to_end=True)
        data = [("Application-Data", arg)] if arg else []
        self.emit(
            "CHANNEL_EXECUTE", post=[("Application", app), *data, ("Application-UUID", app_uuid)]
        )
        response = "_none_"
        try:
            if app == "play_and_get_digits":
                self._play_and_get_digits(arg)
            elif app == "amd":
                self._amd(arg)
            elif app == "playback":
                self._playback(arg, play_seconds(arg))
                response = "FILE PLAYED"
            elif app == "hangup":
                raise Hangup(arg or "NORMAL_CLEARING")
            elif app == "sleep":
                self.wait(float(arg or 0) / 1000)
            elif app == "export":
                bridge_mod.export(self, arg)
            elif app == "set":
                name, _, value = arg.partition("=")
                self.ch.set_var(name, value)
            elif app == "bridge":
                bridge_mod.bridge(self, arg)
            elif app == "sched_hangup":
                self._sched_hangup(arg)
            elif app == "record_session":
                if self.recording_since is None:
                    # the flow records right after the answer: from the answer, not from
                    # whenever a loaded machine resumed this call on the scaled clock
                    now = self.switch.clock.now()
                    since = self.answered_at
                    self.recording_since = now if since is None else min(since, now)
            elif app == "sched_cancel":
                self.scheduled_hangup = None
            elif app == "avmd_start":
                self.avmd.start()
            elif app == "avmd_stop":
                self.avmd.stop()
        except Hangup as hangup:
            if ch.hangup_cause is None:
                ch.hangup_cause = hangup.cause
                ch.answer_state = "hangup"
                ch.hangup_us = self.switch.clock.now_us()
                self._emit_hangup()
            self.complete(app, arg, app_uuid, response)
            raise
        except Transfer:
            self.complete(app, arg, app_uuid, response)  # broken off by the transfer
            raise
        self.complete(app, arg, app_uuid, response)
        return response

    def reroute(self) -> None:
        """A transferred channel hunts the dialplan again (capture 02, after the park)."""
        self.ch.state = "CS_ROUTING"
        self.emit("CHANNEL_STATE")
        self.ch.state = "CS_EXECUTE"
        self.emit("CHANNEL_STATE")

    def complete(self, app: str, arg: str, app_uuid: str, response: str) -> None:
        data = [("Application-Data", arg)] if arg else []
        self.emit(
            "CHANNEL_EXECUTE_COMPLETE",
            post=[
                ("Application", app),
                *data,
                ("Application-Response", response),
                ("Application-UUID", app_uuid),
            ],
        )

    def _playback(self, path: str, seconds: float) -> str:
        kind = path.split("://")[0] if "://" in path else "file"
        file_headers = [("Playback-File-Type", kind), ("Playback-File-Path", path)]
        self.emit("PLAYBACK_START", post=file_headers)
        status = "done"
        try:
            self.wait(seconds)
        except (Hangup, Transfer):
            self.emit("PLAYBACK_STOP", post=[*file_headers, ("Playback-Status", "break")])
            raise
        self.emit("PLAYBACK_STOP", post=[*file_headers, ("Playback-Status", status)])
        return status

    def _dtmf(self, digit: str) -> None:
        self.emit(
            "DTMF",
            post=[("DTMF-Digit", digit), ("DTMF-Duration", "2400"), ("DTMF-Source", "UNKNOWN")],
        )

    def _play_and_get_digits(self, arg: str) -> None:
        """``min max tries timeout terminators file invalid_file var regex digit_timeout``."""
        parts = arg.split()
        tries = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 3
        timeout = int(parts[3]) / 1000 if len(parts) > 3 and parts[3].isdigit() else 4.0
        path = parts[5] if len(parts) > 5 else "silence_stream://3000"
        var = parts[7] if len(parts) > 7 else "digits"
        regex = parts[8] if len(parts) > 8 else r"\d"
        # switch_play_and_get_digits clears ``<var>_invalid`` first and keeps the last
        # input the regex refused there
        self.ch.variables.pop(f"{var}_invalid", None)
        # one key per try: "51" presses 5 (invalid here), then 1 on the next try
        keys = list(self.plan.digit or "")[self.keys_used :]
        press_at = self.plan.digit_after
        elapsed = 0.0
        for _ in range(tries):
            prompt_end = elapsed + PROMPT_SECONDS
            window_end = prompt_end + timeout
            if keys and elapsed <= press_at < window_end:
                digit = keys.pop(0)
                self.keys_used += 1
                if press_at < prompt_end:
                    self.emit(
                        "PLAYBACK_START",
                        post=[("Playback-File-Type", "tone_stream"), ("Playback-File-Path", path)],
                    )
                    self.wait(press_at - elapsed)
                    self._dtmf(digit)
                    self.emit(
                        "PLAYBACK_STOP",
                        post=[
                            ("Playback-File-Type", "tone_stream"),
                            ("Playback-File-Path", path),
                            ("Playback-Status", "break"),
                        ],
                    )
                else:
                    self._playback(path, PROMPT_SECONDS)
                    self.wait(press_at - prompt_end)
                    self._dtmf(digit)
                if re.fullmatch(regex, digit):
                    self.ch.set_var("read_result", "success")
                    self.ch.set_var(var, digit)
                    return
                # an invalid key: the invalid sound, then the next try (and its key, if any)
                self.ch.set_var(f"{var}_invalid", digit)
                elapsed = press_at
                self.wait(INVALID_SOUND_SECONDS)
                elapsed += INVALID_SOUND_SECONDS
                press_at = elapsed + self.plan.digit_after
                continue
            self._playback(path, PROMPT_SECONDS)
            self.wait(timeout)
            self.wait(INVALID_SOUND_SECONDS)
            elapsed = window_end + INVALID_SOUND_SECONDS
        self.ch.set_var("read_result", "failure")

    def _sched_hangup(self, arg: str) -> None:
        """``[+]<seconds> [<cause>]``: the earliest scheduled hangup wins."""
        when, _, cause = arg.strip().partition(" ")
        try:
            at = float(when[1:]) + self.switch.clock.now() if when[:1] == "+" else float(when)
        except ValueError:
            return
        if self.scheduled_hangup is None or at < self.scheduled_hangup[0]:
            self.scheduled_hangup = (at, cause.strip() or "ALLOTTED_TIMEOUT")

    def _amd(self, arg: str = "") -> None:
        # mod_amd reports only through variables; a hangup mid-analysis leaves them unset.
        # Of its ``name=value`` arguments only total_analysis_time changes what is simulated.
        settings = dict(word.partition("=")[::2] for word in arg.split())
        # without the argument, mod_amd's default (amd.conf) of 5000 ms
        total = settings.get("total_analysis_time", "5000")
        if total.isdigit() and self.plan.amd_seconds * 1000 >= int(total):
            self.amd_took = int(total) / 1000
            self.wait(self.amd_took)
            self.ch.set_var("amd_result", "NOTSURE")
            self.ch.set_var("amd_cause", "TOOLONG")
            return
        self.amd_took = self.plan.amd_seconds
        self.wait(self.amd_took)
        result = "MACHINE" if self.plan.machine else "HUMAN"
        self.ch.set_var("amd_result", result)
        self.ch.set_var("amd_cause", self.plan.amd_cause if self.plan.machine else "HUMAN")

    # --- &park ---------------------------------------------------------------------------

    def _park_app(self) -> None:
        """``&park``: park and obey sendmsg / uuid_transfer until someone hangs up."""
        app = "park" if self.request.dialplan else self.request.app
        if app == "hangup":
            self.execute("hangup", self.request.app_arg)
            return
        if app != "park":
            self.execute(app, self.request.app_arg)
            raise Hangup("NORMAL_CLEARING")
        self._park()

    def park(self) -> None:
        """``park`` after a transfer out of the flow: obey sendmsg / uuid_transfer again."""
        self._park()

    def _park(self) -> None:
        ch = self.ch
        park_uuid = new_uuid()
        ch.app, ch.app_arg = "park", ""
        ch.set_var("current_application", "park", move_to_end=True)
        self.emit(
            "CHANNEL_EXECUTE", post=[("Application", "park"), ("Application-UUID", park_uuid)]
        )
        self.emit("CHANNEL_PARK")
        ch.parked = True

        def take(cmd: Command) -> bool:
            self.pending.append(cmd)
            return True

        try:
            while True:
                if self.callee_deadline is None and not self.plan.machine:
                    patience = self.plan.patience
                    self.callee_deadline = self.switch.clock.now() + patience
                self._take_queued()
                if not self.pending:
                    # switch_ivr_park: all queued commands first (parse_all_events), then
                    # the session's queued events (the avmd full copies)
                    self.avmd.flush()
                self.idle = True
                try:
                    while not self.pending:
                        self.wait(3600.0, handle=take)
                finally:
                    self.idle = False
                cmd = self.pending.pop(0)
                if cmd.kind == "kill":
                    raise self._killed(cmd)
                if cmd.kind == "execute":
                    self.callee_deadline = (
                        None if self.plan.hangup_after is None else (self.callee_deadline)
                    )
                    self.execute(cmd.app, cmd.arg, cmd.app_uuid)
                    # switch_ivr_parse_next_event fires PRIVATE_COMMAND once the app returned
                    self._private_command(cmd)
                elif cmd.kind == "transfer":
                    self._unpark(park_uuid, "ACTIVE")
                    if cmd.app == "dialer_flow":
                        self.reroute()
                        flow.run(self)
                        return
                    if cmd.app.startswith("enqueue"):
                        flow.queue(
                            self,
                            "queue",
                            "dialer_q@default" if cmd.app == "enqueue" else "noagent_q@default",
                        )
                        return
                    self._park()
                    return
        except Hangup as hangup:
            ch.hangup_cause = ch.hangup_cause or hangup.cause
            if ch.answer_state != "hangup":
                ch.answer_state = "hangup"
                ch.hangup_us = self.switch.clock.now_us()
                self._emit_hangup()
            if ch.parked:
                self._unpark(park_uuid, "HANGUP")
            raise

    def _unpark(self, park_uuid: str, why: str) -> None:
        del why
        self.ch.parked = False
        self.emit("CHANNEL_UNPARK", state_number=10 if self.ch.hungup else 2)
        self.complete("park", "", park_uuid, "_none_")

    # --- hangup --------------------------------------------------------------------------

    def _hangup(self, cause: str) -> None:
        ch = self.ch
        clock = self.switch.clock
        if ch.hangup_cause is None or ch.answer_state != "hangup":
            ch.hangup_cause = ch.hangup_cause or cause
            ch.answer_state = "hangup"
            ch.hangup_us = clock.now_us()
            # the originate gives up as the A leg hangs up: its job before the B leg's
            # hangup (03)
            self._emit_hangup(before_b=self._give_up)
        self._give_up()
        if not ch.hangup_us:
            ch.hangup_us = clock.now_us()
        running = ch.state
        ch.state = "CS_HANGUP"
        self.emit("CHANNEL_STATE")
        del running
        self.callstate("HANGUP")
        ch.state = "CS_REPORTING"
        self.emit("CHANNEL_STATE")
        ch.cdr_variables()
        self.emit("CHANNEL_HANGUP_COMPLETE")
        if self.bleg is not None:  # the B leg follows the A leg it was hung up with (16)
            self.bleg.complete(ch.hangup_cause or cause)
        for event in self._after_events:
            self.publish(event)
        for callback in self._after_callbacks:
            callback()
        if self.bleg is not None:
            self.bleg.destroy()
        if not self.result.ready():
            self.finish(f"-ERR {ch.hangup_cause}\n")
        self.switch.record("hangup", self)
        self.emit("CHANNEL_DESTROY", state_number=12)
        ch.state = "CS_DESTROY"
        self.emit("CHANNEL_STATE")
