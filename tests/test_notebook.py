"""The tutorial notebook, docs/notebooks/lab_tutorial.ipynb, runs from top to bottom in a
fresh Jupyter kernel of this very interpreter and shows what its text says: the hand
gradients pass check_backprop, the slip is caught, training reaches 100 % accuracy, and
the figures and the graph display. It is committed without outputs (small diffs; the docs
site runs it at build time), and the docs list it.

Needs the ``dev`` extra (nbclient, nbformat, ipykernel) and, as the notebook does, the
``plot`` and ``render`` extras; without them the execution tests skip, saying which is
missing.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "notebooks" / "lab_tutorial.ipynb"
CELL_TIMEOUT = 300  # seconds per cell: generous, the whole notebook takes a few seconds
_WHERE = "print('kernel:', sys.executable, sys.prefix, sep='\\n')"


def _raw() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def test_notebook_is_committed_without_outputs_and_for_a_python3_kernel():
    notebook = _raw()
    dirty = [i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
             and (cell["outputs"] or cell["execution_count"] is not None)]
    assert not dirty, f"cells {dirty} have outputs: clear them (jupyter nbconvert --clear-output --inplace)"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def test_docs_site_lists_the_notebook_and_the_tutorial_points_to_it():
    assert "notebooks/lab_tutorial.ipynb" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "(notebooks/lab_tutorial.ipynb)" in (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")


def _kernel_manager(prefix: Path):
    """A KernelManager whose only "python3" kernelspec runs this interpreter (a kernelspec
    in the user's or the system's Jupyter folders may point at another Python)."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    install(kernel_name="python3", prefix=str(prefix))
    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")], ensure_native_kernel=False)
    assert specs.get_kernel_spec("python3").argv[0] == sys.executable
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after running every cell; a cell that raises fails every test using it."""
    for module in ("nbclient", "nbformat", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e \".[dev]\"): the notebook cannot be run")
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the notebook draws figures: matplotlib is not installed (pip install -e \".[plot]\")")
    import microgradnp as mg

    try:
        mg.viz.find_renderer("svg")
    except mg.viz.RenderError:
        pytest.skip("the notebook draws a graph: no Graphviz renderer installed (pip install -e \".[render]\")")
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # First, a cell that says which Python the kernel runs.
    notebook.cells.insert(0, nbformat.v4.new_code_cell(f"import sys\n{_WHERE}", metadata={"tags": ["where"]}))
    folder = tmp_path_factory.mktemp("notebook")
    client = nbclient.NotebookClient(notebook, km=_kernel_manager(folder / "jupyter"), timeout=CELL_TIMEOUT,
                                     startup_timeout=120, resources={"metadata": {"path": str(folder)}})
    client.execute()  # raises CellExecutionError, naming the cell, if one fails
    return notebook


def _cells(notebook, tag: str) -> list:
    cells = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    assert cells, f"no cell tagged {tag!r} in {NOTEBOOK.name}"
    return cells


def _printed(notebook, tag: str) -> str:
    (cell,) = _cells(notebook, tag)
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


def test_the_kernel_is_this_interpreter(executed):
    assert _printed(executed, "where").splitlines() == ["kernel:", sys.executable, sys.prefix]


def test_hand_gradients_match_autograd(executed):
    printed = _printed(executed, "check-backprop")
    rows = [line.split() for line in printed.splitlines() if line.startswith("fc")]
    assert len(rows) == 6, printed
    assert all(row[-1] == "OK" for row in rows), printed
    assert printed.rstrip().endswith("all OK: True"), printed


def test_the_slip_is_caught_in_layers_1_and_2_only(executed):
    assert "WRONG: ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']" in _printed(executed, "slip")


def _epoch(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return int(match[1])


def test_training_reaches_100_percent_by_hand_with_autograd_and_with_fit(executed):
    by_hand = _epoch(_printed(executed, "hand-training"), r"100 % accuracy at epoch (\d+)")
    with_autograd = _epoch(_printed(executed, "autograd-training"), r"100 % accuracy at epoch (\d+)")
    fit_xor = _printed(executed, "fit-xor")
    with_fit = _epoch(fit_xor, r"(?m)^reached (\d+)$")
    assert "final accuracy: 100%" in fit_xor, fit_xor
    # The same numbers up to rounding: the same stop epoch, give or take one (BLAS roundings).
    assert abs(with_autograd - by_hand) <= 1 and abs(with_fit - by_hand) <= 1, (by_hand, with_autograd, with_fit)
    assert 1000 < by_hand < 100_000  # XOR's plateau: it never takes only a few epochs
    fit_linear = _printed(executed, "fit-linear")
    assert re.search(r"(?m)^reached \d+$", fit_linear) and "final accuracy: 100%" in fit_linear, fit_linear


def test_figures_and_graph_display(executed):
    figures = _cells(executed, "figure")
    assert len(figures) == 6
    for cell in figures:
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), cell.source
    (graph,) = _cells(executed, "graph")
    svg = next(output["data"]["image/svg+xml"] for output in graph.outputs if "image/svg+xml" in output.get("data", {}))
    for label in ("fc1", "fc3", "mse_loss", "#7"):
        assert label in svg, label


def test_backward_steps_display_one_frame_per_operation(executed):
    (cell,) = _cells(executed, "backward-steps")
    shown = [output["data"] for output in cell.outputs if output.output_type == "execute_result"]
    assert shown and "text/html" in shown[0], cell.outputs
    # The trained network's graph: 3 linear, 3 sigmoid and the loss, from the loss back.
    assert re.fullmatch(r"BackwardSteps\(7 steps: #1 mse_loss, .*\)", shown[0]["text/plain"]), shown[0]["text/plain"]
    assert shown[0]["text/html"].count("<img") == 7  # the frames, drawn


def test_last_section_is_watching_backward():
    sections = [line for cell in _raw()["cells"] if cell["cell_type"] == "markdown"
                for line in "".join(cell["source"]).splitlines() if line.startswith("## ")]
    assert sections[-1] == "## Watching backward", sections
