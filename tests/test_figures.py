"""The figures a student hands in: ``train`` writes the decision boundary too, every figure
has a title, the decision region fills its axes, sweep heat-maps come straight from a
``SweepResult`` with their never-converged cells marked, and the results page's tables fit
the page."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import nn
from microgradnp.cli import main

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _titles(figure) -> list[str]:
    """The figure's title and its axes' titles, the empty ones left out."""
    titles = [figure.get_suptitle(), *(axis.get_title() for axis in figure.axes)]
    return [title for title in titles if title.strip()]


@pytest.fixture(scope="module")
def xor_model():
    X, y = mg.data.make_xor_easy()
    model = nn.MLP(2, (8, 8), 1, rng=0)
    history = mg.train.fit(model, X, y, "mse", mg.optim.Adam(model.parameters(), lr=0.05), epochs=300,
                           stop_at_accuracy=1.0, progress=False)
    return model, X, y, history


@pytest.fixture(scope="module")
def small_sweep():
    """2 learning rates x 2 hidden sizes, 2 seeds, 300 epochs: Adam at lr 0.1 solves XOR in
    about 60 epochs, at lr 1e-4 never within the limit."""
    result = mg.train.sweep({"lr": [0.1, 0.0001], "hidden": [4, 8], "optimizer": "adam"}, "xor", seeds=2,
                            epochs=300, progress=False, workers=1)
    converged = [row for row in result.rows if not row["never_converged"]]
    assert 0 < len(converged) < len(result.rows), "the sweep must have converged and never-converged cells"
    return result


# -- the train command --------------------------------------------------------------------------
def _wrote(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith("wrote "))
    return line.removeprefix("wrote ").rsplit(" in ", 1)[0].split(", ")


def test_train_writes_the_decision_boundary_and_says_so(capsys, tmp_path):
    code = main(["train", "--hidden", "4", "4", "--epochs", "20", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert _is_png(tmp_path / "decision_boundary.png")
    assert {"curves.png", "prediction.png", "decision_boundary.png"} <= set(_wrote(out))
    assert all((tmp_path / name).is_file() for name in _wrote(out))  # the list names what is there


def test_train_on_points_with_three_features_skips_only_the_decision_boundary(capsys, tmp_path):
    rng = np.random.default_rng(0)
    points = rng.random((20, 3))
    labels = (points.sum(axis=1) > 1.5).astype(int)
    data = tmp_path / "points.csv"
    data.write_text("".join(f"{a},{b},{c},{label}\n" for (a, b, c), label in zip(points, labels)))
    out_dir = tmp_path / "out"
    code = main(["train", "--dataset", str(data), "--hidden", "4", "4", "--epochs", "5", "--no-progress",
                 "--out", str(out_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert "no decision boundary" in out and "the data has 3" in out
    assert "decision_boundary.png" not in _wrote(out) and not (out_dir / "decision_boundary.png").exists()
    assert _is_png(out_dir / "prediction.png")


# -- titles ------------------------------------------------------------------------------------
def _every_figure(model, X, y, history, sweep_result):
    plots = mg.viz.plots
    return {
        "ground_truth_vs_prediction": plots.ground_truth_vs_prediction(X, y, mg.train.predict(model, X)),
        "decision_boundary": plots.decision_boundary(model, X, y, resolution=30),
        "learning_curves": plots.learning_curves(history),
        "sweep_heatmap": plots.sweep_heatmap(sweep_result),
    }


def test_every_figure_function_is_tested_here():
    assert set(mg.viz.plots.__all__) == {"ground_truth_vs_prediction", "decision_boundary", "learning_curves",
                                         "sweep_heatmap"}


def test_every_figure_has_a_title(xor_model, small_sweep):
    for name, figure in _every_figure(*xor_model, small_sweep).items():
        assert _titles(figure), f"{name} has no title"
    plots = mg.viz.plots
    model, X, y, history = xor_model
    # a figure-level title by default, and the one given
    assert plots.learning_curves(history).get_suptitle() == "Learning curves"
    assert plots.learning_curves(history, title="XOR").get_suptitle() == "XOR"
    figure = plots.ground_truth_vs_prediction(X, y, mg.train.predict(model, X), title="my run")
    assert figure.get_suptitle() == "my run"
    assert plots.decision_boundary(model, X, y, resolution=20, title="XOR boundary").axes[0].get_title() == \
        "XOR boundary"


def test_ground_truth_vs_prediction_panel_titles(xor_model):
    model, X, y, _ = xor_model
    prediction = mg.train.predict(model, X)
    assert mg.train.count_correct(prediction, y) == len(X)
    figure = mg.viz.plots.ground_truth_vs_prediction(X, y, prediction)
    assert [axis.get_title() for axis in figure.axes] == ["Ground truth", "Prediction"]
    assert figure.get_suptitle() == f"Ground truth vs prediction: {len(X)}/{len(X)} correct"
    prediction[:2] = 1 - prediction[:2]
    figure = mg.viz.plots.ground_truth_vs_prediction(X, y, prediction)
    assert [axis.get_title() for axis in figure.axes] == ["Ground truth", "Prediction (2 wrong)"]
    assert figure.get_suptitle() == f"Ground truth vs prediction: {len(X) - 2}/{len(X)} correct"


# -- the decision region fills the axes -----------------------------------------------------------
def _region_and_limits(figure):
    """The shaded region's data extent and the axes limits, after laying the figure out
    (aspect ratios are applied at drawing time)."""
    figure.draw_without_rendering()
    axis = figure.axes[0]
    region = axis.collections[0]  # the contourf (QuadContourSet) is drawn first
    extent = region.get_datalim(axis.transData)
    return (extent.x0, extent.x1), (extent.y0, extent.y1), axis.get_xlim(), axis.get_ylim()


@pytest.mark.parametrize("case", ["xor", "three classes", "wide data"])
def test_the_decision_region_fills_the_axes(xor_model, case):
    model, X, y, _ = xor_model
    if case == "three classes":
        X, y = mg.data.make_spiral(40, classes=3, rng=0)
        model = nn.Linear(2, 3, rng=0)
    elif case == "wide data":  # x1 spans 10 times x2's range: no equal aspect, still no margin
        X = X * np.array([10.0, 1.0])
        model = nn.MLP(2, (4,), 1, rng=0)
    figure = mg.viz.plots.decision_boundary(model, X, y, resolution=25)
    mesh_x, mesh_y, xlim, ylim = _region_and_limits(figure)
    margin = 0.1
    np.testing.assert_allclose(mesh_x, (X[:, 0].min() - margin, X[:, 0].max() + margin))
    np.testing.assert_allclose(mesh_y, (X[:, 1].min() - margin, X[:, 1].max() + margin))
    np.testing.assert_allclose(xlim, mesh_x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ylim, mesh_y, rtol=0, atol=1e-9)


def test_decision_boundary_needs_two_features():
    with pytest.raises(ValueError, match=r"two columns.*\(5, 3\)"):
        mg.viz.plots.decision_boundary(nn.Linear(3, 1, rng=0), np.zeros((5, 3)), np.zeros(5))


# -- sweep heat-maps ----------------------------------------------------------------------------
def _cell_texts(axis) -> dict[tuple[str, str], str]:
    """(row tick label, column tick label) -> the text written in that cell."""
    rows = [t.get_text() for t in axis.get_yticklabels()]
    columns = [t.get_text() for t in axis.get_xticklabels()]
    found = {}
    for text in axis.texts:
        x, y = text.get_position()
        found[rows[round(y)], columns[round(x)]] = text.get_text()
    return found


def test_sweep_heatmap_straight_from_a_sweep_result(small_sweep, tmp_path):
    figure = mg.viz.plots.sweep_heatmap(small_sweep, path=tmp_path / "heat.png")
    axis = figure.axes[0]
    assert _is_png(tmp_path / "heat.png")
    assert (axis.get_ylabel(), axis.get_xlabel()) == ("hidden", "lr")  # the defaults
    assert [t.get_text() for t in axis.get_yticklabels()] == ["4", "8"]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["0.0001", "0.1"]
    assert "xor" in axis.get_title() and "mean stop epoch" in axis.get_title()
    texts = _cell_texts(axis)
    assert len(texts) == 4  # every cell is written in, never-converged ones included
    image = axis.images[0]
    rows, columns = ["4", "8"], ["0.0001", "0.1"]
    for row in small_sweep.rows:
        cell = (str(row["hidden"]), f"{row['lr']:g}")
        shown = image.get_array()[rows.index(cell[0]), columns.index(cell[1])]
        if row["never_converged"]:
            assert texts[cell] == f"{small_sweep.epochs}+" == "300+"  # as the results tables write it
            assert shown > image.norm.vmax  # drawn in the colour beyond the scale
        else:
            assert texts[cell] == f"{row['mean_stop_epoch']:.0f}"
            assert shown == pytest.approx(row["mean_stop_epoch"])
    assert figure.axes[1].get_ylabel() == "mean stop epoch"


def test_sweep_heatmap_of_rows_read_back_from_json(small_sweep, tmp_path):
    """Saved tables give layer widths back as lists; never-converged cells keep their text."""
    import json

    path = tmp_path / "sweep.json"
    small_sweep.to_json(path)
    saved = json.loads(path.read_text())
    rows = saved.pop("rows")
    for row in rows:
        row["hidden"] = [row["hidden"], row["hidden"]]
    figure = mg.viz.plots.sweep_heatmap(rows)
    texts = _cell_texts(figure.axes[0])
    assert sorted(texts.values()).count("300+") == sum(1 for row in rows if row["never_converged"])
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["(4, 4)", "(8, 8)"]


def _row(lr, hidden, activation="sigmoid", stop=100.0):
    return {"lr": lr, "hidden": hidden, "activation": activation, "optimizer": "sgd", "mean_stop_epoch": stop,
            "stop_epoch_text": f"{stop:.1f}", "never_converged": 0}


def test_sweep_heatmap_of_a_grid_over_more_keys_draws_the_first_rows_configuration():
    rows = [_row(0.1, 10), _row(0.1, 20), _row(0.01, 10), _row(0.1, 10, "relu", 5.0), _row(0.1, 20, "relu", 6.0)]
    figure = mg.viz.plots.sweep_heatmap(rows)
    axis = figure.axes[0]
    assert axis.get_title().splitlines()[-1] == "(activation sigmoid)"
    assert _cell_texts(axis) == {("10", "0.1"): "100", ("20", "0.1"): "100", ("10", "0.01"): "100"}
    assert ("20", "0.01") not in _cell_texts(axis)  # no row: blank
    with pytest.raises(ValueError, match="differ in no configuration key"):
        mg.viz.plots.sweep_heatmap([_row(0.1, 10), _row(0.1, 10)])
    with pytest.raises(ValueError, match="'momentum' is not a key"):
        mg.viz.plots.sweep_heatmap(rows, "momentum")


# -- the results page ---------------------------------------------------------------------------
MAX_COLUMNS = 9


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_results_tables_are_narrow_enough_for_the_page():
    text = (DOCS / "results.md").read_text()
    tables = _markdown_tables(text)
    assert len(tables) == 2
    for table in tables:
        header = table[0]
        assert len(header) <= MAX_COLUMNS, f"{len(header)} columns: {header}"
        assert max(map(len, header)) <= 14, header
        assert all(len(cell) <= 10 for row in table[2:] for cell in row)
    # Each table sits in a block whose CSS drops Material's 5rem minimum column width.
    assert text.count('<div class="results-table" markdown>') == len(tables)
    css_files = re.findall(r"^extra_css:\n((?:\s+- .+\n)+)", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert css_files, "mkdocs.yml lists no extra_css"
    css = "".join((DOCS / name.strip()).read_text() for name in re.findall(r"- (.+)", css_files[0]))
    rule = re.search(r"\.results-table table:not\(\[class\]\) th\s*\{([^}]*)\}", css)
    assert rule and re.search(r"min-width:\s*0", rule.group(1))


def test_results_page_tables_are_the_saved_tables():
    """docs/results.md's tables are make_results.py's, from docs/results/*.json (so the
    page's numbers are the sweep's)."""
    spec = importlib.util.spec_from_file_location("make_results", DOCS / "make_results.py")
    make_results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_results)
    text = (DOCS / "results.md").read_text()
    for name, result in make_results.load_sweeps().items():
        assert make_results.page_table(result) in text, name
