"""Arrow's CSV reader may not read far ahead of the batches the importer has asked for."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow.csv as pacsv

from dialer.lists.paced_file import PacedFile

BLOCK = 64 << 10


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("phone,notes\n")
        for index in range(rows):
            handle.write(f"+1415555{index % 10000:04d},{'x' * 90}\n")


def _options() -> dict[str, object]:
    return {"read_options": pacsv.ReadOptions(block_size=BLOCK, use_threads=False)}


def test_reads_at_most_a_few_blocks_ahead_of_the_batches_taken(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    _write_csv(path, 40_000)  # ~4 MB: 60 blocks
    ahead: list[int] = []
    with PacedFile(path, BLOCK) as raw, raw.open_csv(**_options()) as reader:
        asked = 0
        while True:
            try:
                raw.next_batch(reader)
            except StopIteration:
                break
            asked += 1
            time.sleep(0.002)  # the importer at work: Arrow's I/O thread would race ahead
            ahead.append(raw.bytes_read - asked * BLOCK)
        raw.release()
    assert asked > 50
    assert raw.bytes_read == path.stat().st_size
    # Two blocks of slack, one per question (the opening counts as one), one being parsed.
    assert max(ahead) <= 4 * BLOCK


def test_closing_early_never_leaves_the_reader_hanging(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    _write_csv(path, 40_000)
    finished = threading.Event()

    def read_one_batch_and_stop() -> None:
        with PacedFile(path, BLOCK) as raw, raw.open_csv(**_options()) as reader:
            try:
                raw.next_batch(reader)
                time.sleep(0.1)  # the I/O thread is now waiting for permission
            finally:
                raw.release()
        finished.set()

    worker = threading.Thread(target=read_one_batch_and_stop, daemon=True)
    worker.start()
    assert finished.wait(10)
