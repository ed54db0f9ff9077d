"""Run the forward_vs_reverse experiment (the main job): `[--quick] [--out DIR]`."""

from __future__ import annotations

import argparse
import shlex
import sys

from analyzer.errors import AnalyzerError
from analyzer.studies import forward_vs_reverse


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=forward_vs_reverse.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument(
        "--out", default=None, help="output folder (default reports/forward_vs_reverse)"
    )
    args = parser.parse_args(argv)
    command = " ".join(["python", "experiments/forward_vs_reverse.py", *map(shlex.quote, argv)])
    try:
        outcome = forward_vs_reverse(quick=args.quick, out=args.out, command=command)
    except AnalyzerError as error:
        print(f"forward_vs_reverse: error: {error}", file=sys.stderr)
        return 2
    print(outcome.summary())
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
