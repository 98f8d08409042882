"""`bench.instructions` reads cachegrind's output: instruction counts summed by function."""

from __future__ import annotations

from pathlib import Path

from bench.instructions import _functions

CACHEGRIND_OUT = """\
desc: I1 cache:
cmd: python -m chain429
events: Ir
fl=/src/Python/ceval.c
fn=_PyEval_EvalFrameDefault
10 500
11 250
fn=initialize_locals
20 40
fl=???
fn=sqlite3VdbeExec
0 75
fl=/src/Python/ceval.c
fn=_PyEval_EvalFrameDefault
12 5
summary: 870
"""


def test_counts_are_summed_by_function_across_files_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "cachegrind.out"
    path.write_text(CACHEGRIND_OUT)
    counts = _functions(path)
    assert counts == {
        "_PyEval_EvalFrameDefault": 755,
        "initialize_locals": 40,
        "sqlite3VdbeExec": 75,
    }
    assert sum(counts.values()) == 870  # the file's own summary line
