"""The code's rooms stay the shape docs/architecture.md describes (issues 19 and 28, read from the source).

- The apps are layered one way, in the order ``deepfake_portal/layers.py`` declares: an app imports only apps
  of the layers below its own (a higher app plugs into a lower one at start-up: signals, hooks).
- No file in an app (``detection/``, ``api/`` and the rest) over 400 lines, and each module's docstring says its one job.
- No two modules of one app import each other, directly or round a longer loop: Celery task modules are thin
  adapters that the writing side reaches by task name (``deepfake_portal.celery.run_task``), never a loop.
- ``ml/`` keeps at most 12 files at its top level; the rest live in subpackages by stage.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deepfake_portal.layers import LAYERS

REPO = Path(__file__).resolve().parents[2]
APPS = tuple(app for layer in LAYERS for app in layer)
MAX_LINES = 400
ML_TOP_LEVEL_FILES = 12


def modules(app: str, root: Path = REPO) -> dict[str, Path]:
    """Dotted module name -> file, for every module of an app (migrations left out: Django writes them)."""
    found = {}
    for path in sorted((root / app).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if "migrations" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported_names(name: str, path: Path) -> set[str]:
    """Every dotted name the module ``name`` imports, anywhere in the file (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return targets


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The app's own modules that ``name`` imports."""
    return {t for t in imported_names(name, path) if t in known and t != name}


def imports_against_the_layers(layers: tuple[tuple[str, ...], ...], root: Path = REPO) -> list[str]:
    """Each import from an app into an app of its own layer or of one above, as "module -> app"."""
    level = {app: n for n, layer in enumerate(layers) for app in layer}
    found = set()
    for app in level:
        for name, path in modules(app, root).items():
            for other in {target.split(".")[0] for target in imported_names(name, path)}:
                if other != app and level.get(other, -1) >= level[app]:
                    found.add(f"{name} -> {other}")
    return sorted(found)


def import_loops(app: str, root: Path = REPO) -> list[list[str]]:
    """Every loop of imports among the app's modules (strongly connected groups of more than one module)."""
    found = modules(app, root)
    graph = {name: imported_modules(name, path, set(found)) for name, path in found.items()}
    index, low, stack, on_stack, loops, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return loops


def test_every_app_has_its_layer():
    apps = sorted(p.parent.name for p in REPO.glob("*/apps.py"))
    assert apps == sorted(APPS), "add the app to deepfake_portal/layers.py"


def test_apps_import_only_the_layers_below():
    assert imports_against_the_layers(LAYERS) == []


def test_the_layer_checker_finds_an_upward_import(tmp_path):
    """The rule can fail: an import up a layer (even inside a function) or across one layer is reported."""
    for app, files in {"low": {"a.py": "def f():\n    from high.b import g\n", "c.py": "import ml.media\n"},
                       "high": {"b.py": "from low import a\n"},
                       "left": {"d.py": "from right import e\n"}, "right": {"e.py": "from low.c import x\n"}}.items():
        (tmp_path / app).mkdir()
        (tmp_path / app / "__init__.py").write_text("")
        for name, text in files.items():
            (tmp_path / app / name).write_text(text)
    layers = (("low",), ("high",), ("left", "right"))
    assert imports_against_the_layers(layers, tmp_path) == ["left.d -> right", "low.a -> high"]


@pytest.mark.parametrize("app", APPS)
def test_no_module_over_the_line_limit(app):
    long = {str(p.relative_to(REPO)): n for p in modules(app).values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by responsibility: {long}"


@pytest.mark.parametrize("app", APPS)
def test_no_import_loops(app):
    assert import_loops(app) == []


@pytest.mark.parametrize("app", APPS)
def test_every_module_says_its_job(app):
    silent = [str(p.relative_to(REPO)) for name, p in modules(app).items()
              if p.read_text().strip() and not ast.get_docstring(ast.parse(p.read_text()))
              and not name.endswith(("apps", "urls", "admin", "__init__", "forms"))]
    assert silent == []


def test_the_loop_finder_finds_a_loop(tmp_path):
    """The rule can fail: two modules that import each other are reported."""
    app = tmp_path / "loopy"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "a.py").write_text("from . import b\n")
    (app / "b.py").write_text("def f():\n    from .a import x\n")
    (app / "c.py").write_text("from loopy import a\n")
    assert import_loops("loopy", tmp_path) == [["loopy.a", "loopy.b"]]


def test_ml_top_level_stays_small():
    files = sorted(p.name for p in (REPO / "ml").iterdir() if p.is_file())
    assert len(files) <= ML_TOP_LEVEL_FILES, files
