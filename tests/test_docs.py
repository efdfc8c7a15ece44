"""The documentation tells the truth: its Python examples run, the output it shows is the
output they print, every image it references exists, the figure script makes exactly the
committed figures, and ``mkdocs build --strict`` passes (when mkdocs is installed).

Conventions in docs/*.md:

- every ```python block runs, in page order, in one namespace per page, inside a
  temporary working folder; put ``<!-- no-run -->`` on the line before a block to keep
  it out (for instance one that needs the system Graphviz or Jupyter);
- a ```text block titled "output" (```text title="output") directly after a python block
  is what that block prints. ``...`` matches any text, as in doctest; numbers below
  1e-10 in scientific notation (rounding noise such as 6.94e-18) match each other, and
  other numbers may differ by 0.2 % or two units of their last digit (BLAS kernels round
  differently on different CPUs).

To see what the blocks of a page print (when updating the docs):
``python tests/test_docs.py docs/tutorial.md``.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import linecache
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import renderer_available

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FIGURES = DOCS / "figures"
PAGES = sorted(DOCS.rglob("*.md"))

NO_RUN = "<!-- no-run -->"
_OPENING = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
_TINY = re.compile(r"-?\d\.\d+e-(?:[1-9]\d\d|[1-9]\d)\b")  # exponents -10 and below
_IMAGE = re.compile(r"!\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<path>[^)\s]+)(?:\s+\"[^\"]*\")?\)"  # ![alt](path "title")
                    r"|<img[^>]*\ssrc=\"(?P<src>[^\"]+)\"")


@dataclass
class Block:
    language: str
    title: str
    code: str
    line: int  # 1-based line of the opening fence
    run: bool
    follows: Block | None = None  # the block right before this one, with only blank lines between


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page (indented ones too, as in admonitions)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    previous_end = None  # index of the closing fence of the last block
    i = 0
    while i < len(lines):
        match = _OPENING.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                      and lines[j].strip().strip(fence[0]) == ""):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        title = _TITLE.search(info)
        adjacent = previous_end is not None and all(not line.strip() for line in lines[previous_end + 1:i])
        found.append(Block(language=info.split()[0].lower() if info.split() else "", title=title["title"] if title
                           else "", code="\n".join(body) + "\n", line=i + 1, run=before != NO_RUN,
                           follows=found[-1] if found and adjacent else None))
        previous_end = j
        i = j + 1
    return found


_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"


def output_matches(want: str, got: str) -> bool:
    """Does ``got`` print what ``want`` shows? Text must agree (``...`` matching anything);
    numbers may differ by 0.2 % or two units of their last shown digit: BLAS libraries
    pick different kernels on different CPUs, and their roundings move the last digits
    (and the stop epoch of a long run by one or two)."""
    if doctest.OutputChecker().check_output(want, got, doctest.ELLIPSIS):
        return True
    parts = re.split(f"({_NUMBER}|{re.escape(doctest.ELLIPSIS_MARKER)})", want)
    pattern = "".join(
        "(?s:.*?)" if part == doctest.ELLIPSIS_MARKER else f"({_NUMBER})" if i % 2 else re.escape(part)
        for i, part in enumerate(parts))
    match = re.fullmatch(pattern, got)
    if match is None:
        return False
    shown = [part for i, part in enumerate(parts) if i % 2 and part != doctest.ELLIPSIS_MARKER]
    return all(math.isclose(float(printed), float(expected), rel_tol=2e-3, abs_tol=2 * _last_digit(expected))
               for printed, expected in zip(match.groups(), shown))


def _last_digit(number: str) -> float:
    """The value of one unit in the last digit of a printed number ("0.0501" -> 1e-4)."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _normalise(text: str) -> str:
    text = _TINY.sub("~0", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def run_page(page: Path, show: bool = False) -> list[str]:
    """Run the page's python blocks in order; return the mismatches between the output they
    print and the output the page shows (or print everything when ``show``)."""
    namespace = {"__name__": "__docs__"}
    page_blocks = blocks(page)
    outputs: dict[int, str] = {}
    problems = []
    for block in page_blocks:
        if block.language in ("python", "py") and block.run:
            where = f"{page.relative_to(ROOT)}:{block.line}"
            # Register the source, as doctest does, so that tracebacks and mg.detect_anomaly show its lines.
            linecache.cache[where] = (len(block.code), None, block.code.splitlines(True), where)
            captured = io.StringIO()
            with contextlib.redirect_stdout(captured):
                exec(compile(block.code, where, "exec"), namespace)
            outputs[block.line] = captured.getvalue()
            if show:
                print(f"--- {where}\n{captured.getvalue()}", end="")
        elif block.language == "text" and block.title == "output":
            source = block.follows
            if source is None or source.language not in ("python", "py"):
                problems.append(f"line {block.line}: an output block must follow a python block directly")
                continue
            if source.line not in outputs:
                continue  # the python block is marked no-run
            got, want = _normalise(outputs[source.line]), _normalise(block.code)
            if not output_matches(want, got):
                problems.append(f"line {block.line}: the block at line {source.line} printed\n{got}\n"
                                f"but the page shows\n{want}")
    return problems


@pytest.mark.parametrize("page", [p for p in PAGES if any(b.language in ("python", "py") for b in blocks(p))],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_examples_run_and_print_what_the_page_shows(page, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    if not renderer_available():
        pytest.skip("no Graphviz renderer installed (pip install -e \".[render]\")")
    monkeypatch.chdir(tmp_path)  # examples write figures and graphs into the working folder
    problems = run_page(page)
    assert not problems, f"{page.relative_to(ROOT)}:\n" + "\n\n".join(problems)


def referenced_images(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [m["path"] or m["src"] for m in _IMAGE.finditer(text)
            if not (m["path"] or m["src"]).startswith(("http://", "https://"))]


@pytest.mark.parametrize(("want", "got", "matches"), [
    ("reached at epoch 4205, loss 0.050141\n", "reached at epoch 4204, loss 0.050217\n", True),
    ("reached at epoch 4205\n", "reached at epoch 4305\n", False),
    ("loss 0.050141\n", "loss 0.060141\n", False),
    ("x = 1.5 ...\nend 3\n", "x = 1.5 and more\nend 3\n", True),
    ("acc 1.0000\n", "accuracy 1.0000\n", False),
    ("grad 2.0e-03\n", "grad 2.1e-03\n", True),
])
def test_output_comparison_tolerates_only_last_digit_rounding(want, got, matches):
    assert output_matches(want, got) is matches


def test_every_image_the_pages_reference_exists_and_every_figure_is_used():
    missing, used = [], set()
    for page in PAGES:
        for reference in referenced_images(page):
            target = (page.parent / reference).resolve()
            used.add(target)
            if not target.is_file():
                missing.append(f"{page.relative_to(ROOT)}: {reference}")
    assert not missing, "missing images (run python docs/make_figures.py):\n" + "\n".join(missing)
    unused = sorted(p.name for p in FIGURES.glob("*") if p.resolve() not in used)
    assert not unused, f"figures no page uses: {unused}"


def test_figure_script_makes_exactly_the_committed_figures(tmp_path):
    pytest.importorskip("matplotlib")
    if not renderer_available():
        pytest.skip("no Graphviz renderer installed")
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "make_figures.py")
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    made = {path.name for path in make_figures.make_all(tmp_path)}
    committed = {path.name for path in FIGURES.glob("*")}
    assert made == committed, f"made but not committed: {sorted(made - committed)}; " \
                              f"committed but not made: {sorted(committed - made)}"
    for path in tmp_path.iterdir():
        assert path.stat().st_size > 1000, f"{path.name} is suspiciously small"


def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter",
                   "mkdocs_glightbox"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e \".[docs]\")")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    # Diagrams open full size on click: every image of the graphs page is a lightbox link.
    page = (tmp_path / "site" / "graphs" / "index.html").read_text()
    images, linked = page.count("<img "), len(re.findall(r'<a class="glightbox"[^>]*>\s*<img ', page))
    assert images and linked == images, f"{linked} of {images} images open full size on click"


if __name__ == "__main__":
    import tempfile

    pages = [Path(name).resolve() for name in sys.argv[1:]] or PAGES
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        for path in pages:
            print(f"=== {path.relative_to(ROOT)}")
            for problem in run_page(path, show=True):
                print(f"MISMATCH {problem}")


def test_readme_set_up_command_installs_what_the_tests_and_the_docs_need():
    """README's first block is what CI runs: one set-up command whose extras hold the test
    tools (pytest, hypothesis), every optional feature the tests use, and mkdocs."""
    import tomllib

    setup, main_job, test = [line.split("#")[0].strip() for line in blocks(ROOT / "README.md")[0].code.splitlines()]
    extras = re.fullmatch(r'pip install -e "\.\[(?P<extras>[a-z,]+)\]"', setup)
    assert extras, setup
    assert main_job == "python examples/xor.py" and test == "python -m pytest"
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = " ".join(" ".join(optional[name]) for name in extras["extras"].split(","))
    for requirement in ("pytest", "hypothesis", "ruff", "mkdocs-material", "mkdocstrings", "microgradnp[plot"):
        assert requirement in installed, f"README's set-up command does not install {requirement}"
    assert "README.md" in (ROOT / ".ci" / "run").read_text()  # CI takes the commands from README itself
