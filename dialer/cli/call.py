"""``dialer call``: one call to one number, with an idempotency key."""

from __future__ import annotations

import json

import typer

from dialer.cli.context import fail, load_settings, open_engine, out_console


def call_command(
    to_number: str = typer.Argument(..., help="The number to call, E.164 (+12125550123)."),
    caller_id: str = typer.Option(..., "--caller-id", help="Caller id number, E.164."),
    caller_id_name: str | None = typer.Option(None, "--caller-id-name"),
    idempotency_key: str | None = typer.Option(
        None,
        "--idempotency-key",
        help="The same key returns the same call, never a second one.",
    ),
    ring_timeout: int = typer.Option(30, "--ring-timeout", help="Seconds to ring."),
    max_duration: int = typer.Option(300, "--max-duration", help="Seconds the call may last."),
    trunk: str = typer.Option("default", "--trunk", help="A trunk of DIALER_TRUNKS."),
    metadata: str | None = typer.Option(
        None, "--metadata", help='JSON object echoed in webhooks, e.g. {"companyId": "c-1"}.'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print {callUuid, status} as JSON."),
) -> None:
    """Queue one call (placed by a running `dialer run` or originate worker)."""
    from dialer.calls import CallError, parse_call_request, start_call

    settings = load_settings()
    meta: object = {}
    if metadata is not None:
        try:
            meta = json.loads(metadata)
        except json.JSONDecodeError as exc:
            fail(f"--metadata: not JSON: {exc.msg}")
        if not isinstance(meta, dict):
            fail("--metadata: must be a JSON object")
    try:
        request = parse_call_request(
            {
                "toNumber": to_number,
                "callerIdNumber": caller_id,
                "callerIdName": caller_id_name,
                "ringTimeoutSec": ring_timeout,
                "maxDurationSec": max_duration,
                "trunk": trunk,
                "metadata": meta,
            }
        )
    except CallError as exc:
        fail(str(exc))
    engine = open_engine(settings)
    dispatch = None
    if settings.redis_url is not None:
        from workers.tasks import dispatch_originates

        dispatch = dispatch_originates
    try:
        result = start_call(
            engine, request, idempotency_key=idempotency_key, settings=settings, dispatch=dispatch
        )
    except CallError as exc:
        fail(str(exc))
    if as_json:
        out_console.print_json(json.dumps(result.as_json()))
    else:
        what = "queued" if result.created else "already placed with this key"
        out_console.print(
            f"call {result.call_uuid}: {result.status} ({what})", highlight=False
        )
