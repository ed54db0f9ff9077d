"""The report's first screen (the answer beside its figure), its HTML, and the graph picture."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import html5lib
import pandas as pd
import pytest
from test_report import MACHINE, META, make_fits, make_results, make_steps

from analyzer.errors import AnalyzerError
from analyzer.machine import Roofline
from analyzer.measure import graph_record, sweep
from analyzer.models import one_layer
from analyzer.report import render, write_report
from analyzer.report.headline import big_o
from analyzer.report.jacobian import MAX_DRAWN, _layers, graph_from_data

NS = {"h": "http://www.w3.org/1999/xhtml"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lead")
    results = make_results()
    write_report(out, results, make_fits(), make_steps(results), MACHINE, META)
    return out


def _first_screen(md: str) -> str:
    """What comes between the title and the second heading."""
    return md.split("\n", 1)[1].split("\n## ", 1)[0]


def _parse(page: str):
    # strict: a parse error (unclosed or misnested element, bad doctype) raises
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(page)


# ----------------------------------------------------------------------------- first screen


def test_first_screen_states_prediction_measurement_and_agreement(folder):
    md = (folder / "report.md").read_text()
    first = _first_screen(md)
    fits = make_fits()
    timed = fits[fits["y"] == "seconds"]
    # predicted: the leading terms of the results, as O()
    assert "input-first O(H³N)" in first and "output-first O(H²N)" in first
    # measured: each fitted slope of time, with the exponent it is checked against
    for _, f in timed.iterrows():
        assert f"{f['slope']:.2f} ({f['order']})" in first
    # agreement: counted from the verdicts
    agree = int((timed["verdict"] == "pass").sum())
    assert f"{agree} of {len(timed)} fits of time agree" in first
    assert f"{int((timed['verdict'] == 'fail').sum())} fail" in first
    assert "failing: dense output-first against N: slope 1.40, predicted 1" in first
    # beside the one figure that shows it
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", first) == ["time_vs_H_dense.png"]


def test_first_screen_follows_the_tables(tmp_path):
    # other slopes and verdicts give another headline: nothing is written in advance
    results = make_results()
    fits = make_fits().assign(slope=[3.31, 1.62, 0.97, 1.05, None], verdict="pass")
    fits.loc[4, "verdict"] = "n/a"
    write_report(tmp_path, results, fits)
    first = _first_screen((tmp_path / "report.md").read_text())
    assert "3.31 (input-first) and 1.62 (output-first)" in first
    assert "all 4 fits of time pass" in first


def test_first_screen_without_fits_or_times(tmp_path):
    results = make_results()[["cost", "order", "sweep", "H", "N", "macs", "leading_term"]]
    write_report(tmp_path, results, None)
    first = _first_screen((tmp_path / "report.md").read_text())
    assert "input-first O(H³N)" in first and "no exponent was fitted" in first
    assert re.findall(r"\]\(([^)]+)\)", first) == ["macs_vs_H_dense.png"]


def test_long_tables_come_after_the_plots(folder):
    md = (folder / "report.md").read_text()
    at = {h: md.index(f"\n## {h}\n") for h in ("Reading the numbers", "Plots", "Verdicts")}
    assert at["Reading the numbers"] < at["Plots"] < at["Verdicts"] < md.index("\n## Results\n")


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("H**3*N", "O(H³N)"),
        ("H**2*N", "O(H²N)"),
        ("3*H*N", "O(HN)"),
        ("N", "O(N)"),
        ("H**12", "O(H¹²)"),
        ("H**(1/2)", None),
        ("log(H)", None),
        ("__import__('os')", None),
        ("", None),
        (None, None),
    ],
)
def test_big_o(term, expected):
    assert big_o(term) == expected


# ----------------------------------------------------------------------------- HTML


def test_html_parses_and_every_image_is_there(folder):
    page = (folder / "report.html").read_text()
    tree = _parse(page)
    images = tree.findall(".//h:img", NS)
    assert images
    for img in images:
        src = img.get("src")
        assert src.startswith("data:image/png;base64,"), src[:40]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
        assert img.get("alt")
    # every image the markdown links is a file of the folder
    md = (folder / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((folder / link).is_file() for link in links)


def test_html_first_screen_is_the_answer_beside_its_figure(folder):
    tree = _parse((folder / "report.html").read_text())
    body = tree.find("h:body", NS)
    children = list(body)
    assert children[0].tag.endswith("h1") and children[1].tag.endswith("section")
    lead = children[1]
    assert lead.get("class") == "lead"
    answer = "".join(lead.find("h:div", NS).itertext())
    assert "Predicted" in answer and "Measured" in answer and "Agreement" in answer
    figure = lead.find("h:figure", NS)
    assert figure.find("h:img", NS).get("src").startswith("data:image/png;base64,")
    assert "Median time against H" in "".join(figure.itertext())


def test_markdown_is_rendered_by_a_library_and_text_stays_text(tmp_path):
    results = make_results()
    meta = {
        **META,
        "description": "A *note* with <script>alert(1)</script> and `code`.",
        "notes": ["- one\n- two"],
    }
    fits = make_fits().assign(range_note="a | b and H**3")
    write_report(tmp_path, results, fits, meta=meta)
    page = (tmp_path / "report.html").read_text()
    tree = _parse(page)
    assert not tree.findall(".//h:script", NS)  # raw HTML is shown as text
    assert "&lt;script&gt;" in page
    assert "<em>note</em>" in page and "<code>code</code>" in page
    assert "<li>one</li>" in page
    cells = ["".join(td.itertext()) for td in tree.findall(".//h:td", NS)]
    assert "a | b and H**3" in cells  # escaped in markdown, literal in HTML


# ----------------------------------------------------------------------------- graph picture


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("swept")
    results = sweep(
        "one-layer",
        {"H": [2, 3], "N": [2]},
        orders=("input-first", "output-first"),
        repeat=1,
        min_seconds=0.0,
        warmup=0,
        roofline=Roofline(1e9, 1e10),
        out=out,
        progress=False,
    )
    write_report(out, results, None, meta={"name": "tiny", "sizes": ["H", "N"]})
    return out


def test_a_fresh_sweep_saves_its_graph_and_the_report_draws_it(swept):
    data = json.loads((swept / "graph.json").read_text())
    g = one_layer("H", "N")
    # the saved graph is the model's: same variables, sizes, factors and structure kinds
    assert {n["id"]: str(n["size"]) for n in data["nodes"]} == {
        v: str(g.nodes[v]["size"]) for v in g.nodes
    }
    assert {(e["source"], e["target"]): e["structure"] for e in data["links"]} == {
        (u, v): str(d["structure"]) for u, v, d in g.edges(data=True)
    }
    for ext in ("png", "svg"):
        assert (swept / f"graph.{ext}").stat().st_size > 0
    md = (swept / "report.md").read_text()
    assert "](graph.png)" in md and "## The function and its Jacobian graph" in md
    assert "7 variables and 6 factors" in md


def test_an_old_folder_has_no_picture_and_renders(swept, tmp_path):
    for p in swept.iterdir():
        if p.name not in ("graph.json", "graph.png", "graph.svg"):
            (tmp_path / p.name).write_bytes(p.read_bytes())
    md = render(tmp_path).read_text()
    assert not (tmp_path / "graph.png").exists()
    assert "graph.png" not in md and "## The function\n" in md


def test_a_damaged_graph_file_is_one_error(swept, tmp_path):
    for p in swept.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "graph.json").write_text('{"nodes": [], "links": [{"source": "a"}]}')
    with pytest.raises(AnalyzerError, match="graph.json.*unknown variables"):
        render(tmp_path)


def test_a_large_graph_is_described_not_drawn(tmp_path):
    n = MAX_DRAWN + 5
    data = {
        "graph": {"name": "long chain"},
        "nodes": [
            {"id": f"v{i}", "size": 4, "role": "parameter" if i == 0 else "intermediate"}
            for i in range(n)
        ],
        "links": [
            {"source": f"v{i}", "target": f"v{i + 1}", "structure": "dense"} for i in range(n - 1)
        ],
    }
    data["nodes"][-1]["role"] = "output"
    results = make_results()[["cost", "order", "sweep", "H", "N", "macs"]]
    md = write_report(tmp_path, results, None, graph=data).read_text()
    assert f"{n} variables" in md and "too large to draw" in md
    assert not (tmp_path / "graph.png").exists()
    assert json.loads((tmp_path / "graph.json").read_text())["nodes"][0]["id"] == "v0"


def test_layers_run_from_inputs_to_outputs():
    for g in (one_layer("H", "N"),):
        data = graph_record(g)
        drawn = graph_from_data(data)
        layer = _layers(drawn)
        assert all(layer[u] < layer[v] for u, v in drawn.edges)
        last = max(layer.values())
        assert all(layer[v] == last for v in g.outputs)
        assert all(layer[v] < last for v in g.parameters)


def test_write_report_refuses_graph_data_that_is_not_a_graph(tmp_path):
    results = make_results()[["cost", "order", "sweep", "H", "N", "macs"]]
    with pytest.raises(AnalyzerError, match="write_report: graph data needs lists"):
        write_report(tmp_path / "out", results, None, graph={"nodes": 3})
    assert not (tmp_path / "out").exists()
    assert isinstance(results, pd.DataFrame)


def test_names_with_dollar_signs_are_drawn_as_text(tmp_path):
    data = {
        "graph": {"name": "f$"},
        "nodes": [
            {"id": "$\\sqrt{w$", "size": "N", "role": "parameter"},
            {"id": "$y^$", "size": 1, "role": "output"},
        ],
        "links": [{"source": "$\\sqrt{w$", "target": "$y^$", "structure": "$^dense$"}],
    }
    results = make_results()[["cost", "order", "sweep", "H", "N", "macs"]]
    write_report(tmp_path, results, None, graph=data)
    svg = (tmp_path / "graph.svg").read_text()
    assert (tmp_path / "graph.png").stat().st_size > 0
    assert "sqrt" in svg and "dense" in svg


def _copied(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    out.mkdir()
    for p in folder.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    return out


def test_an_unknown_verdict_in_fits_csv_is_one_error(folder, tmp_path, capsys):
    from analyzer.cli import main

    out = _copied(folder, tmp_path)
    fits = pd.read_csv(out / "fits.csv", keep_default_na=False, na_values=[""])
    fits.loc[0, "verdict"] = "bogus"
    fits.to_csv(out / "fits.csv", index=False)
    with pytest.raises(AnalyzerError, match="unknown verdicts 'bogus'; verdicts are pass"):
        render(out)
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "bogus" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("explanation", "machine"), [("", 2.3), ("the cache", float("nan"))])
def test_explained_without_its_grounds_is_shown_as_fail(folder, tmp_path, explanation, machine):
    out = _copied(folder, tmp_path)
    fits = pd.read_csv(out / "fits.csv", keep_default_na=False, na_values=[""])
    timed = fits.index[fits["y"] == "seconds"]
    fits.loc[timed, "verdict"] = "explained"
    fits["explanation"] = explanation
    fits["predicted_machine"] = machine
    fits.to_csv(out / "fits.csv", index=False)
    first = _first_screen(render(out).read_text())
    assert f"0 of {len(timed)}" in first or f"all {len(timed)} fits of time fail" in first
    assert "explained" not in first


def test_the_machine_note_says_the_calibration_runs_no_checked_plan(tmp_path):
    results = make_results()
    fits = make_fits().assign(predicted_machine=2.0, explanation="")
    md = write_report(tmp_path, results, fits, make_steps(results), MACHINE, META).read_text()
    text = " ".join(md.split())
    assert "synthetic kernels, none of them a plan a sweep checks" in text
