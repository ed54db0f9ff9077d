"""Run the random_chains experiment: `python experiments/random_chains.py [--quick] [--out DIR]`."""

from __future__ import annotations

import argparse
import shlex
import sys

from analyzer.errors import AnalyzerError
from analyzer.studies import random_chains


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=random_chains.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--out", default=None, help="output folder (default reports/random_chains)")
    args = parser.parse_args(argv)
    command = " ".join(["python", "experiments/random_chains.py", *map(shlex.quote, argv)])
    try:
        outcome = random_chains(quick=args.quick, out=args.out, command=command)
    except AnalyzerError as error:
        print(f"random_chains: error: {error}", file=sys.stderr)
        return 2
    print(outcome.summary())
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
