"""Recording URLs: a stored path on a node, under DIALER_RECORDINGS_URL."""

from __future__ import annotations

import pytest

from dialer.config import ConfigError, get_settings
from dialer.recordings import recording_url

PATH = "dialer/7/6d63309e-a6a0-45a5-9ee9-a0858d40d21e.wav"


def test_the_url_is_the_base_with_the_node_then_the_path() -> None:
    base = "https://rec.example.com/{node}/"
    assert recording_url(base, "fs1", PATH) == f"https://rec.example.com/fs1/{PATH}"
    assert recording_url("https://rec.example.com", "fs1", PATH) == (
        f"https://rec.example.com/{PATH}"
    )


def test_without_a_base_the_path_is_the_answer_and_no_recording_is_none() -> None:
    assert recording_url("", "fs1", PATH) == PATH
    assert recording_url("https://rec.example.com/", "fs1", None) is None
    assert recording_url("https://rec.example.com/", "fs1", "") is None


def test_odd_node_names_and_paths_are_escaped() -> None:
    got = recording_url("https://r.example.com/{node}", "fs 1/x", "dialer/7/a b#.wav")
    assert got == "https://r.example.com/fs%201%2Fx/dialer/7/a%20b%23.wav"


@pytest.mark.parametrize(
    "value",
    ["ftp://rec.example.com/", "rec.example.com/{node}", "https://r.example.com/{campaign}/",
     "https://r.example.com/?token=1", "https:///nohost"],
)  # fmt: skip
def test_a_bad_base_is_a_clear_configuration_error(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_RECORDINGS_URL", value)
    with pytest.raises(ConfigError, match="DIALER_RECORDINGS_URL"):
        get_settings()


def test_a_good_base_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_RECORDINGS_URL", " https://rec.example.com/{node}/ ")
    assert get_settings().recordings_url == "https://rec.example.com/{node}/"
