"""The hottest functions of py-spy collapsed stacks (``bench.stack_rate --profile DIR``).

    .venv/bin/python -m bench.profile_top DIR/w1.txt [--top 30]

Prints, per function, the share of samples where it is on the stack (inclusive) and where it
is the innermost frame (self).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    for path in args.files:
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        total = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            for frame in set(frames):
                inclusive[frame] += n
            own[frames[-1]] += n
        print(f"== {path} ({total} samples)")
        print("-- inclusive")
        for frame, n in inclusive.most_common(args.top):
            print(f"{n / total:6.1%}  {frame}")
        print("-- self")
        for frame, n in own.most_common(args.top):
            print(f"{n / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
