"""Run Beat Panel's benchmarks and print one table of ratios measured in this run.

    python bench/run.py [--quick] [--only NAME...] [--json]

A benchmark is a module `bench/bench_<name>.py` with `run(quick: bool) -> list[Row]`;
adding such a module adds its rows. This is a report, not a test: it exits 0 whether
the targets are met or not.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from harness import Row

HERE = Path(__file__).resolve().parent
COLUMNS = ("benchmark", "median ms", "p95 ms", "runs", "vs baseline", "target", "result")


def names() -> list[str]:
    """The benchmarks' names (bench_NAME.py next to this file), in the order they run."""
    return sorted(f.stem.removeprefix("bench_") for f in HERE.glob("bench_*.py"))


def benchmarks(only: list[str] | None = None) -> list[Callable[[bool], list[Row]]]:
    """The `run` function of every benchmark (or of those named in `only`, e.g.
    ["status", "window"]), by name."""
    unknown = sorted(set(only or ()) - set(names()))
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(unknown)}; there are "
                         f"{', '.join(names())}")
    return [importlib.import_module(f"bench_{name}").run for name in names()
            if not only or name in only]


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    if 0 < ratio < 0.001:
        return f"{ratio:.1e}×"
    return f"{ratio:.3f}×" if ratio < 0.01 else f"{ratio:.2f}×"


def _result(row: Row) -> str:
    words = ["—" if row.passed is None else "PASS" if row.passed else "MISS"]
    if row.exact is not None:
        words.append("exact" if row.exact else "not exact")
    if row.note:
        words.append(f"({row.note})")
    return " ".join(words)


def table(rows: list[Row]) -> str:
    cells = [
        (r.benchmark, f"{r.median_ms:.2f}", f"{r.p95_ms:.2f}", str(r.runs), _ratio(r.ratio),
         r.target, _result(r))
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [COLUMNS, *cells]) for i in range(len(COLUMNS))]
    left = {0, 5, 6}  # text columns; numbers are right-aligned

    def fmt(line: tuple[str, ...]) -> str:
        padded = (
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        return "   ".join(padded).rstrip()

    return "\n".join(fmt(line) for line in [COLUMNS, *cells])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", action="store_true", help="write the rows as JSON")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"run only these benchmarks ({', '.join(names())})")
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so every benchmark's cleanup still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    rows = [row for run in benchmarks(args.only) for row in run(args.quick)]
    if args.json:
        json.dump({"quick": args.quick, "rows": [dataclasses.asdict(r) for r in rows]},
                  sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
