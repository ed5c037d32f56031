"""Milliseconds per turn from py-spy's collapsed stacks (``bench.cluster profile --format raw``).

    .venv/bin/python -m bench.flame bench/results/profile/after-actions-kb-turn.txt --turns 150 \\
        'E5._encode' 'HybridRetriever.search' …

Each pattern (a regular expression searched in every frame of a stack) counts a sampled stack
once, however many of its frames match, so recursive functions are not counted twice. Without
patterns it lists the frames with the most inclusive time. Samples are taken at ``--rate`` Hz
(``bench.cluster profile`` records at 250), so samples / rate / turns is CPU-milliseconds per turn.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    """(frames from the outermost, samples) for each line of a collapsed-stack file."""
    stacks = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        body, _, count = line.rpartition(" ")
        if body and count.isdigit():
            stacks.append((body.split(";"), int(count)))
    return stacks


def per_turn(stacks: list[tuple[list[str], int]], pattern: str, rate: float, turns: int) -> float:
    regex = re.compile(pattern)
    samples = sum(count for frames, count in stacks if any(regex.search(frame) for frame in frames))
    return samples / rate / turns * 1000


def top(stacks: list[tuple[list[str], int]], rate: float, turns: int, limit: int) -> list[tuple[float, str]]:
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in set(frames):
            inclusive[frame] += count
    return [(n / rate / turns * 1000, frame) for frame, n in inclusive.most_common(limit)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("patterns", nargs="*")
    parser.add_argument("--turns", type=int, required=True)
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_intermixed_args(argv)
    stacks = read_stacks(args.path)
    if args.patterns:
        for pattern in args.patterns:
            print(f"{per_turn(stacks, pattern, args.rate, args.turns):8.2f} ms/turn  {pattern}")
    else:
        for ms, frame in top(stacks, args.rate, args.turns, args.top):
            print(f"{ms:8.2f} ms/turn  {frame[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
