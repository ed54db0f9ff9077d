"""Run the mlp_widths experiment: `python experiments/mlp_widths.py [--quick] [--out DIR]`."""

from __future__ import annotations

import argparse
import shlex
import sys

from analyzer.errors import AnalyzerError
from analyzer.studies import mlp_widths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=mlp_widths.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--out", default=None, help="output folder (default reports/mlp_widths)")
    args = parser.parse_args(argv)
    command = " ".join(["python", "experiments/mlp_widths.py", *map(shlex.quote, argv)])
    try:
        outcome = mlp_widths(quick=args.quick, out=args.out, command=command)
    except AnalyzerError as error:
        print(f"mlp_widths: error: {error}", file=sys.stderr)
        return 2
    print(outcome.summary())
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
