"""``dialer api``: the HTTP API (FastAPI) under uvicorn, e.g. the AI agents' tools webhook."""

from __future__ import annotations

import logging

import typer

from dialer.cli.context import fail, load_settings, open_engine


def api_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes (each with its own connections)."
    ),
) -> None:
    """Serve the HTTP API (GET /healthz, POST /ai/tools) until SIGTERM/SIGINT."""
    settings = load_settings()
    open_engine(settings).dispose()  # fail now on a bad database; the embedded one migrates
    level = settings.log_level.upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if not settings.ai_tools_key_list:
        logging.getLogger("dialer.api").warning(
            "DIALER_AI_TOOLS_KEYS is not set: POST /ai/tools refuses every request"
        )
    import uvicorn

    try:
        uvicorn.run(
            "dialer.api.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level.lower() if level.lower() in ("debug", "info", "warning", "error")
            else "info",
            access_log=False,
        )
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
