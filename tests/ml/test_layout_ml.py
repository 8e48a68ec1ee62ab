"""``ml/`` is layered one way (read from the source): each module imports only layers below its own, or
modules of its own package; no circle; no file over 400 lines; a serving process never loads the trainers.

The layers, lowest first, are declared once here (``LAYERS``); ``ml/README.md`` draws the same picture.
A module's home is the longest entry that names it or a package above it.
"""
from __future__ import annotations

import graphlib
import subprocess
import sys
from pathlib import Path

from tests.portal.test_layout import MAX_LINES, REPO, imported_modules, modules

LAYERS: tuple[tuple[str, ...], ...] = (
    ("ml.errors", "ml.paths"),                                        # stable codes, where files live
    ("ml.metrics", "ml.calibration", "ml.clip_rules", "ml.items"),    # numbers and item types (numpy, scikit-learn)
    ("ml.media",),                                                    # files in: frames, sound, faces, degradations
    ("ml.models",),                                                   # networks, their builders, the checkpoint format
    ("ml.inference", "ml.audio", "ml.sync"),                          # serving: a file in, a verdict out
    ("ml.training", "ml.audio.data", "ml.audio.train", "ml.audio.calibrate",
     "ml.sync.data", "ml.sync.calibrate"),                            # making models
    ("ml.evaluation", "ml.audio.evaluate", "ml.sync.evaluate"),       # measuring them
    ("ml", "ml.detect", "ml.train", "ml.evaluate"),                   # entry points
)


def home(module: str) -> tuple[int, str] | None:
    """(floor, entry) of the longest ``LAYERS`` entry that is ``module`` or a package above it
    (the bare ``ml`` names only the package's own ``__init__``)."""
    found = [(len(entry), floor, entry) for floor, entries in enumerate(LAYERS) for entry in entries
             if module == entry or (entry != "ml" and module.startswith(entry + "."))]
    return max(found)[1:] if found else None


def ml_imports(root: Path = REPO) -> dict[str, set[str]]:
    """ml module -> the ml modules it imports, anywhere in the file. ``from package import module`` names
    the package too (``imported_modules``); only the module counts, the package's ``__init__`` is passed through."""
    found = modules("ml", root)
    graph = {}
    for name, path in found.items():
        targets = imported_modules(name, path, set(found))
        graph[name] = {t for t in targets if not any(other.startswith(t + ".") for other in targets)}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs up a layer, or sideways into another package on the same floor."""
    bad = []
    for name, targets in sorted(graph.items()):
        floor, entry = home(name)
        for target in sorted(targets):
            t_floor, t_entry = home(target)
            if t_floor > floor or (t_floor == floor and t_entry.split(".")[:2] != entry.split(".")[:2]):
                bad.append(f"{name} ({entry}) -> {target} ({t_entry})")
    return bad


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports, or None."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def long_files(root: Path = REPO) -> dict[str, int]:
    return {str(p.relative_to(root)): n for p in sorted((root / "ml").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}


def test_every_ml_module_has_a_layer():
    assert [name for name in modules("ml") if home(name) is None] == []


def test_ml_imports_run_down_the_layers():
    assert upward_imports(ml_imports()) == []


def test_ml_has_no_circle():
    assert circle(ml_imports()) is None


def test_no_ml_file_over_the_line_limit():
    assert long_files() == {}, f"split these by responsibility: {long_files()}"


def test_the_checks_fail_on_a_planted_upward_import_a_circle_and_a_long_file(tmp_path):
    """The rules can fail: a small ml/ tree with an upward import, a sideways one, a circle and a long file."""
    files = {
        "__init__.py": "",
        "media/__init__.py": "",
        "media/decode.py": "from ml.media import audio\n",
        "media/audio.py": "def probe():\n    from ml.media.decode import MediaInfo\n",
        "inference/__init__.py": "",
        "inference/predictor.py": "from ml.training.calibration import calibrate\n",
        "audio/__init__.py": "",
        "audio/predictor.py": "from ml.inference import predictor\n",
        "training/__init__.py": "",
        "training/calibration.py": "from ml.media import decode\n" + "x = 1\n" * MAX_LINES,
    }
    for rel, text in files.items():
        (tmp_path / "ml" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ml" / rel).write_text(text)
    graph = ml_imports(tmp_path)
    assert upward_imports(graph) == [
        "ml.audio.predictor (ml.audio) -> ml.inference.predictor (ml.inference)",
        "ml.inference.predictor (ml.inference) -> ml.training.calibration (ml.training)",
    ]
    assert sorted(set(circle(graph))) == ["ml.media.audio", "ml.media.decode"]
    assert long_files(tmp_path) == {"ml/training/calibration.py": MAX_LINES + 1}


def test_a_serving_process_never_loads_the_trainers_or_the_evaluations():
    """What a detection worker imports (the predictors, the sync check, the CLI) pulls in no
    ``ml.training`` or ``ml.evaluation`` module."""
    code = ("import sys; import ml.detect, ml.inference.predictor, ml.inference.export_onnx, ml.audio, ml.sync; "
            "print(sorted(m for m in sys.modules if m.startswith(('ml.training', 'ml.evaluation'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
