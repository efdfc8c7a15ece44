"""``render``: a graph to SVG, PNG, PDF or DOT, with the system Graphviz when it is
installed and otherwise the self-contained ``graphviz-pure`` (the ``render`` extra)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import graphviz
from graphviz.backend import dot_command

from microgradnp._files import write_bytes_atomically
from microgradnp.tensor import Tensor

__all__ = ["FORMATS", "RenderError", "find_renderer", "render", "to_png", "to_svg"]

FORMATS = ("svg", "png", "pdf", "dot")
_PURE_FORMATS = ("svg", "png")  # what graphviz-pure can write

_INSTALL_PDF = ("PDF needs the system Graphviz (apt-get install graphviz, or brew install graphviz); "
                "graphviz-pure, the renderer of the 'render' extra, writes only svg and png")
_INSTALL_ANY = ('no Graphviz renderer found: pip install "microgradnp[render]" (graphviz-pure, svg and png), '
                "or install the system Graphviz (apt-get install graphviz / brew install graphviz)")


class RenderError(RuntimeError):
    """A graph could not be rendered; the message says what to install."""


def _graphviz_pure() -> str | None:
    """The graphviz-pure executable: on PATH, or beside this Python (a venv not activated)."""
    found = shutil.which("graphviz-pure")
    if found:
        return found
    beside = Path(sys.executable).with_name("graphviz-pure")
    return str(beside) if beside.exists() else None


def find_renderer(format: str = "svg") -> str:
    """The executable that renders ``format``: the system ``dot`` when present, otherwise
    graphviz-pure (svg and png only). Raises RenderError saying what to install, and
    ValueError for a format that is not one of ``FORMATS``."""
    _checked_format(format, "find_renderer")
    system = shutil.which("dot")
    if system:
        return system
    if format == "pdf":
        raise RenderError(_INSTALL_PDF)
    pure = _graphviz_pure()
    if pure is None:
        raise RenderError(_INSTALL_ANY)
    return pure


def _checked_format(format, caller: str) -> str:
    """``format`` lower-cased ("gv" is "dot"), or a TypeError/ValueError naming the argument."""
    if not isinstance(format, str):
        raise TypeError(f"{caller}: format must be a str, one of {FORMATS}, got {format!r} ({type(format).__name__})")
    format = format.lower()
    format = "dot" if format == "gv" else format
    if format not in FORMATS:
        raise ValueError(f"{caller}: unsupported format {format!r}; use one of {FORMATS}")
    return format


def make_folder(folder: Path, caller: str) -> None:
    """Create ``folder`` and its parents; a file standing where one of them must be is
    named in the error (mkdir would only say "File exists")."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((part for part in [*reversed(folder.parents), folder] if part.exists() and not part.is_dir()),
                        folder)
        raise NotADirectoryError(f"{caller}: cannot write into {folder}: {blocking} is a file, not a folder") from None


def _use(binary: str) -> None:
    # The graphviz package runs its module-level DOT_BINARY (an internal name, hence the
    # pinned graphviz version); pointing it at the renderer also makes Digraphs display
    # in Jupyter through graphviz-pure. graphviz.version() is never called: it cannot
    # parse graphviz-pure's banner.
    dot_command.DOT_BINARY = Path(binary)


def _digraph(graph) -> graphviz.Digraph:
    if isinstance(graph, graphviz.Graph | graphviz.Digraph):
        return graph
    if isinstance(graph, Tensor):
        from microgradnp.viz.graph import draw_graph

        return draw_graph(graph)
    raise TypeError(f"render: expected a Tensor or a graphviz.Digraph, got {type(graph).__name__}")


def _pipe(graph: graphviz.Digraph, format: str) -> bytes:
    _use(find_renderer(format))
    try:
        return graph.pipe(format=format)
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, subprocess.SubprocessError) as error:
        raise RenderError(f"rendering {format} failed: {error}") from error


def to_svg(graph) -> str:
    """The SVG text of a Tensor's graph or of a Digraph."""
    return _pipe(_digraph(graph), "svg").decode("utf-8")


def to_png(graph) -> bytes:
    """The PNG bytes of a Tensor's graph or of a Digraph (``graph.attr(dpi=...)`` sets the resolution)."""
    return _pipe(_digraph(graph), "png")


def render(graph, path, format: str | None = None) -> Path:
    """Write a Tensor's graph (drawn with ``draw_graph``'s defaults) or a Digraph to
    ``path`` as ``format`` ("svg", "png", "pdf" or "dot"; by default the path's
    extension). The file is replaced atomically. Returns the path."""
    path = Path(path)
    format = _checked_format(format if format is not None else (path.suffix.lstrip(".") or "svg"), "render")
    graph = _digraph(graph)
    content = graph.source.encode("utf-8") if format == "dot" else _pipe(graph, format)
    make_folder(path.parent, "render")
    write_bytes_atomically(path, content)
    return path


def _use_available_renderer() -> None:
    """Point the graphviz package at whichever renderer this machine has, so that
    Digraphs display in Jupyter (``_repr_mimebundle_``) without a system Graphviz."""
    with suppress(RenderError):
        _use(find_renderer("svg"))


_use_available_renderer()  # at import
