"""The cross-border study: `python experiments/cache_regimes.py [--quick] [--out DIR]`."""

from __future__ import annotations

import argparse
import shlex
import sys

from analyzer.errors import AnalyzerError
from analyzer.regimes import cache_regimes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=cache_regimes.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick calibration, fewer repeats")
    parser.add_argument("--out", default=None, help="output folder (default reports/cache_regimes)")
    args = parser.parse_args(argv)
    command = " ".join(["python", "experiments/cache_regimes.py", *map(shlex.quote, argv)])
    try:
        outcome = cache_regimes(quick=args.quick, out=args.out, command=command)
    except AnalyzerError as error:
        print(f"cache_regimes: error: {error}", file=sys.stderr)
        return 2
    print(outcome.summary())
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
