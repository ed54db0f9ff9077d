"""Tests of analyzer.report on synthetic tables whose times follow the sheet's predictions."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest

from analyzer.errors import AnalyzerError
from analyzer.report import plot_macs, plot_roofline, plot_time, render, write_report

C = 1e-10  # seconds per multiply-add of the synthetic machine
H_SWEEP = [(h, 16) for h in (32, 64, 128, 256, 512)]
N_SWEEP = [(64, n) for n in (8, 16, 32, 64, 128)]
ORDERS = {  # order: (macs, leading term, seconds factor)
    "input-first": (lambda h, n: h**3 * n + h * n, "H**3*N", 1.0),
    "output-first": (lambda h, n: h**2 * n + h * n, "H**2*N", 3.0),
}


def make_results() -> pd.DataFrame:
    rows = []
    for sweep, configs in (("H", H_SWEEP), ("N", N_SWEEP)):
        for h, n in configs:
            for order, (macs_of, term, slow) in ORDERS.items():
                macs = macs_of(h, n)
                seconds = slow * C * macs
                rows.append(
                    {
                        "model": "one_layer",
                        "cost": "dense",
                        "order": order,
                        "sweep": sweep,
                        "H": h,
                        "N": n,
                        "macs": macs,
                        "formula": f"{term} + H*N",
                        "leading_term": term,
                        "bytes": 8 * (h * h * n),
                        "seconds": seconds,
                        "seconds_min": 0.9 * seconds,
                        "seconds_iqr": 0.1 * seconds,
                        "repeats": 5,
                        "gflops": 2 * macs / seconds / 1e9,
                        "roofline_seconds": seconds / 1.5,
                        "roofline_ratio": 1.5,
                    }
                )
    return pd.DataFrame(rows)


def make_steps(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in results.iterrows():
        for step, share, ratio in ((1, 0.75, 3.0), (2, 0.25, 1.0)):
            seconds = share * r["seconds"]
            rows.append(
                {
                    **{k: r[k] for k in ("model", "cost", "order", "sweep", "H", "N")},
                    "step": step,
                    "product": f"J{step + 1} J{step}",
                    "macs": int(share * r["macs"]),
                    "bytes": int(share * r["bytes"]),
                    "seconds": seconds,
                    "roofline_seconds": seconds / ratio,
                    "roofline_ratio": ratio,
                }
            )
    return pd.DataFrame(rows)


def make_fits() -> pd.DataFrame:
    rows = [
        ("input-first", "H", "N", 16, 2.95, 2.90, 3.00, 3, "pass"),
        ("output-first", "H", "N", 16, 2.01, 1.97, 2.05, 2, "pass"),
        ("input-first", "N", "H", 64, 1.00, 0.98, 1.02, 1, "pass"),
        ("output-first", "N", "H", 64, 1.40, 1.30, 1.50, 1, "fail"),
    ]
    out = []
    for order, x, fixed, value, slope, lo, hi, predicted, verdict in rows:
        out.append(
            {
                "model": "one_layer",
                "cost": "dense",
                "order": order,
                "x": x,
                "y": "seconds",
                "H": value if fixed == "H" else None,
                "N": value if fixed == "N" else None,
                "slope": slope,
                "ci_low": lo,
                "ci_high": hi,
                "r2": 0.999,
                "predicted": predicted,
                "tolerance": 0.15,
                "verdict": verdict,
                "n_points": 4,
                "x_min": 64 if x == "H" else 16,
                "x_max": 512 if x == "H" else 128,
                "range_note": "" if verdict == "pass" else "overhead below N=32",
            }
        )
    out.append({**out[0], "y": "macs", "verdict": "n/a", "slope": None, "range_note": ""})
    return pd.DataFrame(out)


MACHINE = {
    "cpu_model": "Synthetic CPU 9000",
    "logical_cores": 2,
    "caches": [
        {"level": 1, "type": "Data", "size": "48K"},
        {"level": 2, "type": "Unified", "size": "2048K"},
    ],
    "memory_bytes": 8 * 2**30,
    "blas": [{"internal_api": "openblas", "version": "0.3.27", "num_threads": 1}],
    "numpy": "2.4.6",
    "python": "3.11.7",
    "platform": "Linux-test",
    "date": "2025-01-01T00:00:00+00:00",
    "roofline": {"macs_per_second": 1e10, "bytes_per_second": 2e10},
}
META = {
    "name": "one-layer sweep",
    "command": "analyzer sweep one_layer --H 32:512 --N 8:128 --out reports/one-layer",
    "sizes": ["H", "N"],
    "description": "Input-first against output-first on the sheet's **one-layer** network.",
    "notes": ["Output-first against `N` is dominated by call overhead at small N."],
    "fit_rule": "Fit on the points whose smallest size is at least 64.",
}
PLOTS = [
    "time_vs_H_dense",
    "time_vs_N_dense",
    "macs_vs_H_dense",
    "macs_vs_N_dense",
    "roofline_dense",
]
DATA_FILES = ["results.csv", "fits.csv", "steps.csv", "machine.json", "meta.json"]


@pytest.fixture(scope="module")
def tables():
    results = make_results()
    return {
        "results": results,
        "fits": make_fits(),
        "steps": make_steps(results),
        "machine": MACHINE,
        "meta": META,
    }


@pytest.fixture(scope="module")
def report(tmp_path_factory, tables):
    folder = tmp_path_factory.mktemp("report")
    md = write_report(folder, **tables)
    return folder, md


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _read_csv(path):
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


# ----------------------------------------------------------------------------- write_report


def test_write_report_writes_every_file(report):
    folder, md = report
    assert md == folder / "report.md"
    expected = set(DATA_FILES) | {"report.md", "report.html"}
    expected |= {f"{stem}.{ext}" for stem in PLOTS for ext in ("png", "svg")}
    assert {p.name for p in folder.iterdir()} == expected
    for stem in PLOTS:
        assert (folder / f"{stem}.png").read_bytes().startswith(b"\x89PNG")


def test_csv_round_trip(report, tables):
    folder, _ = report
    for name in ("results", "fits", "steps"):
        back = _read_csv(folder / f"{name}.csv")
        assert list(back.columns) == list(tables[name].columns)
        if name == "fits":  # CSV writes an empty string and a missing value alike
            back["range_note"] = back["range_note"].fillna("")
        pd.testing.assert_frame_equal(back, tables[name], check_dtype=False)
    assert set(_read_csv(folder / "fits.csv")["verdict"]) == {"pass", "fail", "n/a"}


def test_json_round_trip(report):
    folder, _ = report
    assert json.loads((folder / "machine.json").read_text()) == MACHINE
    assert json.loads((folder / "meta.json").read_text()) == META


def _table_lines(md: str, section: str) -> list[str]:
    body = md.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in body.splitlines() if line.startswith("|")]


def test_markdown_has_title_command_and_verdict_rows(report):
    md = report[1].read_text()
    assert md.startswith("# one-layer sweep\n")
    assert f"```\n{META['command']}\n```" in md
    assert META["description"] in md
    lines = _table_lines(md, "Verdicts")
    assert len(lines) == 2 + 5  # header, rule, one row per fit
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["cost", "order", "x", "y"]
    assert {"slope [CI]", "predicted", "verdict"} <= set(header)
    expected = [
        ("input-first", "H", "N=16", "2.95 [2.90, 3.00]", "3", "pass"),
        ("output-first", "H", "N=16", "2.01 [1.97, 2.05]", "2", "pass"),
        ("input-first", "N", "H=64", "1.00 [0.98, 1.02]", "1", "pass"),
        ("output-first", "N", "H=64", "1.40 [1.30, 1.50]", "1", "fail"),
    ]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    for order, x, fixed, slope, predicted, verdict in expected:
        assert any(
            r[1] == order
            and r[2] == x
            and r[3] == "seconds"
            and fixed in r
            and slope in r
            and predicted in r
            and verdict in r
            for r in rows
        ), (order, x)
    assert any("n/a" in r and "macs" in r for r in rows)
    assert any("overhead below N=32" in r for r in rows)


def test_markdown_sections(report):
    md = report[1].read_text()
    for heading in ("Verdicts", "Reading the numbers", "Notes", "Plots", "Results", "Machine"):
        assert f"\n## {heading}\n" in md
    assert META["fit_rule"] in md
    assert META["notes"][0] in md
    for stem in PLOTS:
        assert f"]({stem}.png)" in md


def test_results_table(report, tables):
    md = report[1].read_text()
    lines = _table_lines(md, "Results")
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == [
        "cost",
        "sweep",
        "H",
        "N",
        "order",
        "macs",
        "seconds",
        "GFLOP/s",
        "roofline_ratio",
    ]
    assert len(lines) == 2 + len(tables["results"])
    first = [c.strip() for c in lines[2].strip("|").split("|")]
    assert first == ["dense", "H", "32", "16", "input-first", str(32**3 * 16 + 32 * 16)] + [
        f"{C * (32**3 * 16 + 32 * 16):.3g}",
        "20.00",
        "1.50",
    ]


def test_reading_the_numbers(report):
    md = report[1].read_text()
    reading = md.split("## Reading the numbers\n", 1)[1].split("\n## ", 1)[0]
    h, n = 512, 16
    ratio = (h**3 * n + h * n) / (h**2 * n + h * n)
    assert "dense cost, H sweep**, largest configuration (H=512, N=16)" in reading
    assert f"input-first needs {ratio:.3g}× the macs of output-first" in reading
    assert f"took {ratio / 3:.3g}× as long" in reading
    assert "input-first ran at 3.00× the mac rate of output-first" in reading
    assert "largest configuration (H=64, N=128)" in reading
    # GFLOP/s per order, against the calibrated peak of 2 * 1e10 / 1e9
    assert "input-first median 20, max 20; output-first median 6.67, max 6.67" in reading
    assert "calibrated peak 20 GFLOP/s" in reading
    # steps: 75% share at ratio 3 (outside), 25% share at ratio 1 (inside)
    steps = make_steps(make_results())
    big = steps[steps["seconds"] > 1e-3]
    outside = big[big["roofline_ratio"] > 2]
    assert 0 < len(outside) < len(big)
    assert f"{len(outside)} of {len(big)} steps over 1 ms" in reading
    assert "outside [0.5, 2]" in reading and "`J2 J1`" in reading
    assert "**Fits**: 3 pass, 1 fail, 1 n/a (of 5)" in reading
    assert "failing: dense output-first against N: slope 1.40, predicted 1" in reading


def test_machine_section(report):
    md = report[1].read_text()
    machine = md.split("## Machine\n", 1)[1]
    assert "CPU: Synthetic CPU 9000" in machine
    assert "logical cores: 2" in machine
    assert "caches: L1d 48K, L2 2048K" in machine
    assert "memory: 8 GiB" in machine
    assert "BLAS: openblas 0.3.27 (num_threads 1)" in machine
    assert "numpy: 2.4.6" in machine
    assert "20 GFLOP/s (flops = 2·macs; 10 G macs/s)" in machine
    assert "20 GB/s" in machine


def test_html_is_self_contained(report):
    folder, _ = report
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    # every plot once, and the lead figure (one of them) again on the first screen
    assert page.count("data:image/png;base64,") == len(PLOTS) + 1
    assert len(set(re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", page))) == len(PLOTS)
    sources = re.findall(r"""src\s*=\s*["']?([^"'\s>]+)""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    assert "<style>" in page and page.count("<table") == 2
    assert "<strong>one-layer</strong>" in page and "<code>N</code>" in page
    assert META["command"] in page
    data = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1)
    assert base64.b64decode(data).startswith(b"\x89PNG")


def test_render_regenerates_plots_and_report(report, tmp_path):
    folder, md = report
    # a copy of the folder with the plots and the report deleted: only the data files
    data = {name: (folder / name).read_bytes() for name in DATA_FILES}
    for name, content in data.items():
        (tmp_path / name).write_bytes(content)
    out = render(str(tmp_path))
    assert out == tmp_path / "report.md"
    assert out.read_text() == md.read_text()
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in folder.iterdir()}
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()
    assert {name: (tmp_path / name).read_bytes() for name in DATA_FILES} == data  # not rewritten


def test_render_with_only_results(tmp_path, tables):
    results = tables["results"]
    results[results["sweep"] == "H"].to_csv(tmp_path / "results.csv", index=False)
    md = render(tmp_path).read_text()
    assert "No fits were given." in md and "No machine description was recorded." in md
    assert "(not recorded)" in md
    assert (tmp_path / "time_vs_H_dense.png").is_file()
    assert (tmp_path / "roofline_dense.png").is_file()  # from results' roofline columns


def test_render_missing_folder_or_results(tmp_path):
    with pytest.raises(AnalyzerError, match="nowhere"):
        render(tmp_path / "nowhere")
    with pytest.raises(AnalyzerError, match="missing .*results.csv"):
        render(tmp_path)


def test_render_bad_json(tmp_path, tables):
    tables["results"].to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(AnalyzerError, match="meta.json"):
        render(tmp_path)
    (tmp_path / "meta.json").write_text("[1, 2]")
    with pytest.raises(AnalyzerError, match="JSON object"):
        render(tmp_path)


def test_write_report_with_minimal_tables(tmp_path):
    results = make_results()[["cost", "order", "sweep", "H", "N", "macs", "seconds"]]
    md = write_report(tmp_path, results, None).read_text()
    names = {p.name for p in tmp_path.iterdir()}
    assert {"time_vs_H_dense.png", "macs_vs_N_dense.svg", "fits.csv"} <= names
    assert not any(n.startswith("roofline") for n in names)
    header = pd.read_csv(tmp_path / "fits.csv")
    assert header.empty and {"order", "x", "slope", "verdict"} <= set(header.columns)
    assert md.startswith(f"# {tmp_path.name}\n")
    assert "input-first needs" in md


def test_write_report_removes_stale_steps(tmp_path, tables):
    (tmp_path / "steps.csv").write_text("old,steps\n1,2\n")
    results = tables["results"]
    write_report(tmp_path, results[results["sweep"] == "H"], tables["fits"])
    assert not (tmp_path / "steps.csv").exists()
    assert "2 of 2" not in (tmp_path / "report.md").read_text()
    assert "runs over 1 ms" in (tmp_path / "report.md").read_text()


def test_write_report_several_models_and_costs(tmp_path):
    a = make_results()
    a = a[a["sweep"] == "H"].drop(columns=["roofline_seconds", "roofline_ratio"])
    b = a.assign(model="mlp")
    c = a.assign(cost="structured", seconds=a["seconds"] / 2)
    results = pd.concat([a, b, c], ignore_index=True)
    md = write_report(tmp_path, results, make_fits()).read_text()
    names = {p.name for p in tmp_path.iterdir()}
    stems = [
        "time_vs_H_dense_one_layer",
        "time_vs_H_dense_mlp",
        "time_vs_H_structured_one_layer",
        "macs_vs_H_dense_one_layer",
        "macs_vs_H_dense_mlp",
        "macs_vs_H_structured_one_layer",
    ]
    assert names == set(DATA_FILES) - {"steps.csv"} | {"report.md", "report.html"} | {
        f"{stem}.{ext}" for stem in stems for ext in ("png", "svg")
    }
    assert "| model |" in md
    assert "**mlp, dense cost, H sweep**" in md


# ----------------------------------------------------------------------------- figures


def test_plot_time_labels_fits_and_predictions(tables):
    fig, ax = plot_time(tables["results"], "H", "dense", tables["fits"])
    assert ax.get_title() == "Median time against H (dense cost, N=16)"
    assert ax.get_xlabel() == "H" and ax.get_ylabel() == "seconds (median)"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = _legend(ax)
    assert "input-first: slope 2.95 [2.90, 3.00]" in labels
    assert "output-first: slope 2.01 [1.97, 2.05]" in labels
    assert "predicted H^3" in labels and "predicted H^2" in labels
    assert {"input-first", "output-first"} <= set(labels)


def test_plot_time_fitted_line_spans_the_fitted_range(tables):
    fig, ax = plot_time(tables["results"], "H", "dense", tables["fits"])
    line = next(li for li in ax.get_lines() if li.get_label().startswith("input-first: slope"))
    xs = line.get_xdata()
    assert xs.min() == pytest.approx(64) and xs.max() == pytest.approx(512)
    predicted = next(li for li in ax.get_lines() if li.get_label() == "predicted H^3")
    # through the last point: the slowest input-first run
    assert predicted.get_ydata()[-1] == pytest.approx(C * (512**3 * 16 + 512 * 16))


def test_plot_time_same_predicted_slope_twice(tables):
    fig, ax = plot_time(tables["results"], "N", "dense", tables["fits"])
    labels = _legend(ax)
    assert "predicted N" in labels and "predicted N (output-first)" in labels
    assert "(dense cost, H=64)" in ax.get_title()


def test_plot_time_without_fits_reads_leading_term(tables):
    fig, ax = plot_time(tables["results"], "H", "dense")
    labels = _legend(ax)
    assert "predicted H^3" in labels and "predicted H^2" in labels
    assert not any("slope" in label for label in labels)


def test_plot_macs(tables):
    fig, ax = plot_macs(tables["results"], "N", "dense")
    assert ax.get_title() == "Multiply-adds against N (dense cost, H=64)"
    assert ax.get_xlabel() == "N" and ax.get_ylabel() == "macs (multiply-adds)"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert _legend(ax) == ["input-first", "output-first"]
    assert list(ax.get_lines()[0].get_xdata()) == [8, 16, 32, 64, 128]


def test_plot_roofline(tables):
    fig, ax = plot_roofline(tables["steps"], "dense")
    assert ax.get_title() == "Measured against roofline-predicted time (dense cost)"
    assert ax.get_xlabel() == "roofline-predicted seconds"
    assert ax.get_ylabel() == "measured seconds (median)"
    labels = _legend(ax)
    assert {"input-first", "output-first", "measured = predicted"} <= set(labels)
    assert "within ×2 of the prediction" in labels
    fig, ax = plot_roofline(tables["results"])
    assert ax.get_title().endswith("(all costs)")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: plot_time(t["results"], "M", "dense"), r"unknown x .*'M'.*\['H', 'N'\]"),
        (lambda t: plot_time(t["results"], "H", "sparse"), r"unknown cost .*\['dense'\]"),
        (lambda t: plot_time(t["results"], "H", "dense", model="vgg"), r"\['one_layer'\]"),
        (lambda t: plot_time(t["results"].to_dict(), "H", "dense"), "must be a pandas DataFrame"),
        (lambda t: plot_time(t["results"].drop(columns="seconds"), "H", "dense"), "seconds"),
        (lambda t: plot_macs(t["results"].assign(macs=0), "H", "dense"), "no rows with positive"),
        (lambda t: plot_roofline(t["steps"].drop(columns="roofline_seconds")), "roofline_seconds"),
        (lambda t: plot_roofline(t["steps"], "sparse"), r"unknown cost .*\['dense'\]"),
        (lambda t: plot_roofline(t["steps"].assign(seconds=-1.0)), "no rows with positive"),
    ],
)
def test_bad_plot_input(tables, call, message):
    with pytest.raises(AnalyzerError, match=message):
        call(tables)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"results": [1, 2]}, "results must be a pandas DataFrame"),
        ({"fits": "fits"}, "fits must be a pandas DataFrame"),
        ({"machine": ["cpu"]}, "machine must be a dict"),
        ({"meta": {"sizes": ["H", "K"]}}, r"\['K'\].*not columns"),
        ({"meta": {"sizes": "H"}}, "list of column names"),
    ],
)
def test_bad_report_input(tmp_path, tables, kwargs, message):
    args = {"results": tables["results"], "fits": tables["fits"], **kwargs}
    with pytest.raises(AnalyzerError, match=message):
        write_report(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_report_needs_sizes_and_columns(tmp_path, tables):
    results = tables["results"].drop(columns="sweep")
    with pytest.raises(AnalyzerError, match="cannot tell which columns are sizes"):
        write_report(tmp_path, results, None)
    with pytest.raises(AnalyzerError, match=r"lacks column\(s\) \['macs'\]"):
        write_report(tmp_path, tables["results"].drop(columns="macs"), None)


def test_report_folder_is_a_file(tmp_path, tables):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AnalyzerError, match="not a folder"):
        write_report(tmp_path / "file", tables["results"], None)
    with pytest.raises(AnalyzerError, match="cannot write"):
        write_report(tmp_path / "file" / "sub", tables["results"], None)


def test_roofline_rates_from_an_object_with_to_dict(tmp_path):
    class Rates:
        def to_dict(self):
            return {"macs_per_second": 2.5e9, "bytes_per_second": 1.2e10}

    results = make_results()
    results = results[results["sweep"] == "H"][["cost", "order", "sweep", "H", "N", "macs"]]
    md = write_report(tmp_path, results, None, machine={"roofline": Rates()}).read_text()
    assert "roofline: 5 GFLOP/s (flops = 2·macs; 2.5 G macs/s), 12 GB/s" in md
    saved = json.loads((tmp_path / "machine.json").read_text())
    assert saved == {"roofline": {"macs_per_second": 2.5e9, "bytes_per_second": 1.2e10}}


# ----------------------------------------------------------------------------- predictions
def exact_fits(tables) -> pd.DataFrame:
    fits = make_fits()
    fits["predicted"] = fits["predicted"].astype(float)
    fits["predicted_asymptotic"] = fits["predicted"]
    fits.loc[0, "predicted"] = 2.8345  # an exact-count slope at small sizes
    return fits


def test_verdict_table_shows_the_exact_and_the_asymptotic_prediction(tmp_path, tables):
    md = write_report(tmp_path, **{**tables, "fits": exact_fits(tables)}).read_text()
    lines = _table_lines(md, "Verdicts")
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header.index("predicted") + 1 == header.index("asymptotic")
    first = [c.strip() for c in lines[2].strip("|").split("|")]
    assert first[header.index("predicted")] == "2.83"
    assert first[header.index("asymptotic")] == "3"
    assert "*predicted* is the slope the verdict checks" in md


def test_plot_time_names_both_predictions_when_they_differ(tables):
    fig, ax = plot_time(tables["results"], "H", "dense", exact_fits(tables))
    labels = _legend(ax)
    assert "predicted H^2.83, asymptotically H^3" in labels
    assert "predicted H^2" in labels  # equal predictions: one name


@pytest.mark.parametrize("term", ["__import__('os').getcwd() or H**3", "H**(", "log(H)"])
def test_plot_time_skips_a_leading_term_it_cannot_read(tmp_path, monkeypatch, tables, term):
    monkeypatch.chdir(tmp_path)
    results = tables["results"].assign(leading_term=term)
    fig, ax = plot_time(results, "H", "dense")
    assert not any(label.startswith("predicted") for label in _legend(ax))


@pytest.mark.parametrize("column", ["H", "N"])
def test_render_with_a_size_column_left_empty(tmp_path, tables, column):
    # an IndexError before: the largest configuration of no configuration
    write_report(tmp_path, **tables)
    results = _read_csv(tmp_path / "results.csv")
    results[column] = None
    results.to_csv(tmp_path / "results.csv", index=False)
    md = render(tmp_path).read_text()
    assert "## Reading the numbers" in md


@pytest.mark.parametrize("column", ["order", "model", "cost"])
def test_render_with_a_label_column_left_empty(tmp_path, tables, column):
    # 'order' left empty raised an IndexError (found by the hostile-CLI property test)
    write_report(tmp_path, **tables)
    results = _read_csv(tmp_path / "results.csv")
    results[column] = None
    results.to_csv(tmp_path / "results.csv", index=False)
    assert render(tmp_path).name == "report.md"


def test_render_with_meta_sizes_that_are_not_a_list(tmp_path, tables):
    # a TypeError before (found by the hostile-CLI property test)
    write_report(tmp_path, **tables)
    (tmp_path / "meta.json").write_text('{"sizes": 5}')
    with pytest.raises(AnalyzerError, match="meta\\['sizes'\\] must be a list"):
        render(tmp_path)


def test_reading_steps_without_an_order_column(tmp_path, tables):
    # a KeyError before, when a step over 1 ms fell outside the band (found by the
    # hostile-CLI property test, on a steps.csv without its order column)
    steps = tables["steps"].drop(columns="order")
    md = write_report(tmp_path, **{**tables, "steps": steps}).read_text()
    assert "`J2 J1` (H=512, N=16) at 3.00" in md.split("furthest: ", 1)[1]
