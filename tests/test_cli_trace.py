"""The command line on a user's own function (--trace) and on symbolic sizes."""

from __future__ import annotations

import pytest

from analyzer.cli import main

NET = """
import numpy as np

def net(w, W, x):
    return np.tanh(w @ np.tanh(W @ x))

def branches(x):
    if x.sum() > 0:
        return x
    return -x
"""


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET, encoding="utf-8")
    return path


def test_compare_a_traced_function_gives_one_layers_counts(net_file, capsys):
    assert (
        main(
            ["compare", "--trace", f"{net_file}:net", "--shapes", "w=10,W=10x5,x=5", "--wrt", "w,W"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert " 5560 " in out and " 620 " in out  # H³N + H²N + HN + H and H²N + H² + 2H at 10, 5


def test_symbolic_sizes_print_the_polynomial(capsys):
    assert main(["plan", "--model", "one-layer", "--H", "H", "--N", "N", "--order", "forward"]) == 0
    out = capsys.readouterr().out
    assert "H**3*N + H**2*N + H*N + H" in out and "leading term H**3*N" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--trace", "missing.py:net", "--shapes", "w=3"], "no Python file"),
        (["compare", "--trace", "{file}:nope", "--shapes", "w=3"], "has no function 'nope'"),
        (["compare", "--trace", "{file}:net", "--shapes", "w=3"], "missing W, x"),
        (["compare", "--trace", "{file}:net"], "--trace needs --shapes"),
        (["compare", "--trace", "{file}:net", "--shapes", "w=3,W=3x0,x=2"], "positive sizes"),
        (["compare", "--trace", "{file}:net", "--shapes", "w=3;W"], "sizes joined by 'x'"),
        (["compare", "--trace", "{file}:net", "--shapes", "w"], "NAME=AxB"),
        (["compare", "--trace", "{file}:branches", "--shapes", "x=3"], "branches on traced values"),
        (["compare", "--shapes", "w=3"], "--shapes goes with --trace"),
        (["compare", "--trace", "{file}", "--shapes", "w=3"], "FILE.py:FUNCTION"),
        (["plan", "--model", "one-layer", "--H", "H", "--N", "N"], "give numbers"),
        (["compare", "--model", "one-layer", "--H", "class", "--N", "3"], "integers or symbol"),
    ],
)
def test_bad_trace_and_symbol_arguments_are_one_line(net_file, capsys, argv, message):
    argv = [a.replace("{file}", str(net_file)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("analyzer: error:") and message in err[0], err


def test_operator_chains_on_the_command_line(capsys):
    argv = ["compare", "--model", "chain", "--dims", "8,7,8,5,7", "--edges", "44,2,18,11"]
    assert main([*argv, "--cost", "matrix-free"]) == 0
    out = capsys.readouterr().out
    assert " 408 " in out and " 556 " in out and " 500 " in out
    assert main(["plan", "--model", "chain", "--dims", "8,7,8", "--edges", "57,2"]) == 2
    assert "from 1 to 56" in capsys.readouterr().err


def test_a_jax_function_on_the_command_line(tmp_path, capsys):
    pytest.importorskip("jax")
    path = tmp_path / "jnet.py"
    path.write_text(
        "import jax.numpy as jnp\n\ndef net(w, W, x):\n    return jnp.tanh(w @ jnp.tanh(W @ x))\n",
        encoding="utf-8",
    )
    argv = ["compare", "--trace", f"{path}:net", "--shapes", "w=10,W=10x5,x=5", "--wrt", "w,W"]
    assert main([*argv, "--jax"]) == 0
    out = capsys.readouterr().out
    assert " 5560 " in out and " 620 " in out
    assert main([*argv[:-2], "--wrt", "v", "--jax"]) == 2
    assert "names no argument v" in capsys.readouterr().err
    assert main(["compare", "--model", "one-layer", "--H", "3", "--N", "2", "--jax"]) == 2


def test_a_jax_function_read_matrix_free_on_the_command_line(tmp_path, capsys):
    pytest.importorskip("jax")
    path = tmp_path / "jnet.py"
    path.write_text(
        "import jax.numpy as jnp\n\ndef net(w, W, x):\n    return jnp.tanh(w @ jnp.tanh(W @ x))\n",
        encoding="utf-8",
    )
    argv = ["compare", "--trace", f"{path}:net", "--shapes", "w=10,W=10x5,x=5", "--wrt", "w,W"]
    argv += ["--jax", "--cost", "matrix-free"]
    assert main(argv) == 0
    ordinary = capsys.readouterr().out
    assert main([*argv, "--matrix-free"]) == 0
    operators = capsys.readouterr().out
    macs = [line.split()[:2] for line in ordinary.splitlines()[1:]]
    assert macs and macs == [line.split()[:2] for line in operators.splitlines()[1:]]
    assert main(["plan", "--trace", f"{path}:net", "--shapes", "w=10,W=10x5,x=5",
                 "--jax", "--matrix-free", "--cost", "matrix-free"]) == 0  # fmt: skip
    assert "operator" in capsys.readouterr().out
    for bad in (argv[:-3] + ["--matrix-free"], ["compare", "--model", "chain", "--matrix-free"]):
        assert main(bad) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("--matrix-free" in err[0] or "--jax" in err[0]), err


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import sys\nsys.exit(0)\n", "cannot import"),
        ("def f(x):\n    raise RuntimeError('boom')\n", "raised RuntimeError: boom"),
        ("import sys\ndef f(x):\n    sys.exit(3)\n", "raised SystemExit"),
    ],
)
def test_a_users_file_that_exits_or_raises_is_one_line(tmp_path, capsys, source, message):
    path = tmp_path / "user.py"
    path.write_text(source, encoding="utf-8")
    assert main(["compare", "--trace", f"{path}:f", "--shapes", "x=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
