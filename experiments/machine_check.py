"""Measure the machine model's acceptance numbers (issue 10): `python experiments/machine_check.py`.

Prints the load (``uptime``), then: the default and ``--quick`` calibration times; the
acceptance sweep ``analyzer sweep --model one-layer --H 256,384,512,640,768 --N 64 --check``
(exit status, the output-first fit and its explanation); how many steps the machine model
predicted within 0.75-1.33x (over 50 µs) and 0.5-2x (over 5 µs). ``--run`` also times
``analyzer run --quick`` and ``analyzer run`` (a few minutes), ``--regimes`` runs the
cache_regimes study. Outputs go to ``--out`` (default /tmp/machine_check). ``--accuracy DIR...``
only prints the fits and the step accuracy of sweep folders already written.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from analyzer.cli import main as analyzer_main
from analyzer.machine import calibrate
from analyzer.machine.explain import prediction_accuracy

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 20)
pd.set_option("display.max_colwidth", 200)


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(label: str, fn) -> object:
    start = time.perf_counter()
    value = fn()
    print(f"{label}: {time.perf_counter() - start:.1f} s   [{load()}]", flush=True)
    return value


def accuracy(folder: Path, label: str) -> None:
    # a study's folder holds its steps.csv and, under sweeps/, the same rows per sweep
    files = [folder / "steps.csv"] if (folder / "steps.csv").exists() else folder.rglob("steps.csv")
    steps = [pd.read_csv(p) for p in sorted(files)]
    if not steps:
        print(f"{label}: no steps.csv under {folder}")
        return
    table = pd.concat(steps, ignore_index=True)
    print(f"{label}: step predictions (measured / machine model)")
    print(prediction_accuracy(table).to_string(index=False))
    worst = table.assign(ratio=table["seconds"] / table["model_seconds"])
    worst = worst[worst["seconds"] > 5e-6]
    worst = worst.loc[worst["ratio"].map(lambda r: abs(math.log(r))).nlargest(6).index]
    cols = [c for c in ("order", "cost", "H", "N", "product", "shapes", "seconds", "model_seconds",
                        "ratio", "model_bound", "model_level") if c in worst]  # fmt: skip
    print(worst[cols].to_string(index=False))


def fits(folder: Path) -> None:
    table = pd.read_csv(folder / "fits.csv")
    table = table[table["y"] == "seconds"]
    cols = ["cost", "order", "x", "slope", "predicted", "predicted_asymptotic",
            "predicted_machine", "verdict"]  # fmt: skip
    print(table[cols].round(3).to_string(index=False))
    for row in table.itertuples():
        if isinstance(row.explanation, str) and row.explanation:
            print(f"  {row.order} {row.x}: {row.explanation}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/machine_check")
    parser.add_argument("--run", action="store_true", help="also time analyzer run (minutes)")
    parser.add_argument("--regimes", action="store_true", help="also run cache_regimes")
    parser.add_argument("--keep", action="store_true", help="use the cached calibration")
    parser.add_argument(
        "--accuracy", nargs="+", metavar="DIR", help="only print fits and step accuracy of DIRs"
    )
    args = parser.parse_args(argv)
    if args.accuracy:
        for folder in map(Path, args.accuracy):
            if (folder / "fits.csv").exists():
                fits(folder)
            accuracy(folder, str(folder))
        return 0
    out = Path(args.out)
    print(f"load before: {load()}")
    if not args.keep:
        timed("calibrate --quick (no cache)", lambda: calibrate(quick=True, cache=False))
        cal = timed("calibrate (default, cached afterwards)", lambda: calibrate(refresh=True))
    else:
        cal = calibrate()
    print(cal.summary())
    sweep_out = out / "x"
    subprocess.run(["rm", "-rf", str(sweep_out)], check=False)
    command = ["sweep", "--model", "one-layer", "--H", "256,384,512,640,768", "--N", "64",
               "--out", str(sweep_out), "--check"]  # fmt: skip
    status = timed("analyzer " + " ".join(command), lambda: analyzer_main(command))
    print(f"exit status: {status}")
    fits(sweep_out)
    accuracy(sweep_out, "acceptance sweep")
    if args.regimes:
        from analyzer.regimes import cache_regimes

        folder = out / "cache_regimes"
        subprocess.run(["rm", "-rf", str(folder)], check=False)
        timed("cache_regimes", lambda: cache_regimes(out=folder, calibration=cal, progress=False))
        fits(folder)
        accuracy(folder, "cache_regimes")
    if args.run:
        for quick in (True, False):
            folder = out / ("run_quick" if quick else "run")
            subprocess.run(["rm", "-rf", str(folder)], check=False)
            command = ["run", "--out", str(folder), "--check"] + (["--quick"] if quick else [])
            status = timed("analyzer " + " ".join(command), lambda c=command: analyzer_main(c))
            print(f"exit status: {status}")
            fits(folder)
            accuracy(folder, "analyzer " + " ".join(command))
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
