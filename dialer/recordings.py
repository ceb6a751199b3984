"""Call recordings: the flow records to ``dialer/<campaign>/<call uuid>.wav`` under the node's
``recordings_dir`` (``record_session``); the attempt stores that path, and this module turns
it into the URL a CRM downloads it from (``DIALER_RECORDINGS_URL``), when one is configured.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

NODE_PLACEHOLDER = "{node}"


def check_base(value: str) -> str:
    """``DIALER_RECORDINGS_URL``: empty, or an http(s) URL with at most a ``{node}``."""
    value = value.strip()
    if not value:
        return ""
    probe = value.replace(NODE_PLACEHOLDER, "node")
    if "{" in probe or "}" in probe:
        raise ValueError(f"only {NODE_PLACEHOLDER} may be written in braces: {value!r}")
    parts = urlsplit(probe)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        example = "https://rec.example.com/{node}/"
        raise ValueError(f"must be an http(s) URL like {example}: {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or a fragment: {value!r}")
    return value


def recording_url(base: str, node: str | None, stored: str | None) -> str | None:
    """The URL of a recording stored as ``stored`` (its path) on ``node``; the path itself
    when no base is configured; None when the call has no recording."""
    if not stored:
        return None
    if "://" in stored or not base:
        return stored
    root = base.replace(NODE_PLACEHOLDER, quote(node or "", safe=""))
    return root.rstrip("/") + "/" + quote(stored.lstrip("/"), safe="/")
