"""Background jobs: ``bgapi`` returns at once; the result arrives later as a BACKGROUND_JOB
event whose ``Job-UUID`` is the one we sent (FreeSWITCH honours the client's header, 08a) and
whose body is the command's output: ``+OK <uuid>\\n`` or ``-ERR <CAUSE>\\n`` for originate.

A job is pending in its connection's table until one of these, whichever comes first:

- its BACKGROUND_JOB arrives: the job succeeds (even ``-ERR`` is a result);
- a caller's ``result(timeout)`` runs out: the caller gave up, so the job fails with
  ``CommandTimeoutError`` and leaves the table;
- its ttl passes with nobody waiting (``bgapi(..., ttl=)``): the same;
- the connection ends: the job fails with ``ConnectionLostError``. A ``Connection`` is used
  once and a reconnect is a new one, so pending jobs never move to the next connection.

In all three failure cases the command may have run. FreeSWITCH delivers BACKGROUND_JOB to
every listener subscribed to it, not only to the connection that sent the bgapi (capture
12), so a job whose sender gave up or died is still seen by the event consumer, which
reconciles it by its Job-UUID (= the attempt id). Nobody re-sends an originate blindly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import gevent
from gevent.event import AsyncResult

from dialer.esl.errors import CommandTimeoutError, JobFailedError
from dialer.esl.events import Event


class JobResult:
    """The body of a finished job, with the BACKGROUND_JOB event it came in."""

    __slots__ = ("body", "event", "job_uuid")

    def __init__(self, job_uuid: str, body: str, event: Event | None = None) -> None:
        self.job_uuid = job_uuid
        self.body = body
        self.event = event

    @property
    def ok(self) -> bool:
        return self.body.startswith("+OK")

    @property
    def value(self) -> str:
        """Text after ``+OK `` (an originate's A-leg uuid); the whole body otherwise."""
        text = self.body.rstrip("\n")
        return text[4:] if text.startswith("+OK ") else text

    @property
    def cause(self) -> str | None:
        """``NO_ANSWER`` for ``-ERR NO_ANSWER\\n``; None when the job succeeded."""
        text = self.body.strip()
        if not text.startswith("-ERR"):
            return None
        return text[4:].strip() or "UNKNOWN"

    def raise_for_error(self) -> JobResult:
        cause = self.cause
        if cause is not None:
            raise JobFailedError(self.job_uuid, cause)
        return self

    def __repr__(self) -> str:
        return f"JobResult({self.job_uuid!r}, {self.body.strip()[:60]!r})"


class Job:
    """A future for one background job. Fails with ``ConnectionLostError`` if its connection ends
    first: the command may have run, so the caller must reconcile, never blindly re-send."""

    __slots__ = ("_forget", "_result", "command", "expires_at", "job_uuid")

    def __init__(
        self,
        job_uuid: str,
        command: str,
        *,
        expires_at: float = math.inf,
        forget: Callable[[Job], None] | None = None,
    ) -> None:
        self.job_uuid = job_uuid
        self.command = command
        self.expires_at = expires_at  # time.monotonic() after which nobody waits any more
        self._forget = forget  # takes the job out of its connection's table
        self._result: AsyncResult = AsyncResult()

    def result(self, timeout: float | None = None) -> JobResult:
        """Wait for the job. Raises ``CommandTimeoutError`` (and then the job is given up for
        good: a later BACKGROUND_JOB only reaches event handlers), ``ConnectionLostError``.
        Use ``ready()`` to poll without giving up."""
        # wait() + ready() rather than get(timeout=): an outer gevent.Timeout of the caller
        # must propagate as itself, not be reported as this job's timeout.
        self._result.wait(timeout=timeout)
        if not self._result.ready():
            if self._forget is not None:
                self._forget(self)
            self._fail(CommandTimeoutError(f"job {self.job_uuid} not finished after {timeout}s"))
        value: JobResult = self._result.get()
        return value

    def ready(self) -> bool:
        return bool(self._result.ready())

    def add_done_callback(self, callback: Callable[[Job], None]) -> None:
        """Run ``callback(job)`` in its own greenlet once the job is finished or failed."""
        self._result.rawlink(lambda _result: gevent.spawn(callback, self))

    def exception(self) -> BaseException | None:
        return self._result.exception if self._result.ready() else None

    def _resolve(self, event: Event) -> None:
        if not self._result.ready():
            self._result.set(JobResult(self.job_uuid, event.body, event))

    def _fail(self, error: BaseException) -> None:
        if not self._result.ready():
            self._result.set_exception(error)

    def __repr__(self) -> str:
        state = "done" if self.ready() else "pending"
        return f"Job({self.job_uuid!r}, {self.command.split(' ', 1)[0]!r}, {state})"
