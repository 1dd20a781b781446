"""The layering of the packages, checked in fresh interpreters (GUIDE §2)."""
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "textual", "mlflow", "matplotlib", "sklearn")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module, forbidden", [
    ("orderlab.analysis", {"torch", "textual", "mlflow"}),
    ("orderlab.analysis.stack", {"torch", "textual", "mlflow"}),
    ("orderlab.record", {"torch", "textual", "mlflow"}),
    ("orderlab.trainer", {"textual"}),
    ("orderlab.trainer.api", {"textual"}),
    ("orderlab.cli", {"torch", "torchvision", "mlflow", "textual"}),
])
def test_module_does_not_load(module, forbidden):
    loaded = _loaded_after(f"import {module}")
    assert not (loaded & forbidden), f"{module} loads {loaded & forbidden}"


def test_analysis_metrics_and_app_stay_light():
    """Every analysis module stays free of torch/textual/mlflow; every app module of torch."""
    import pkgutil
    import orderlab.analysis
    import orderlab.app
    for pkg, forbidden in ((orderlab.analysis, {"torch", "textual", "mlflow"}), (orderlab.app, {"torch"})):
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            loaded = _loaded_after(f"import {m.name}")
            assert not (loaded & forbidden), f"{m.name} loads {loaded & forbidden}"


def test_trainer_modules_never_load_textual():
    """Every trainer module, imported one after another in one interpreter (each in its own took
    ~30 s of the suite, most of it importing torch again): textual must not appear after any."""
    import pkgutil
    import orderlab.trainer
    names = [m.name for m in pkgutil.walk_packages(orderlab.trainer.__path__, "orderlab.trainer.")
             if not m.name.endswith(".sweep")]      # may import ray, still not textual: checked below with the rest
    assert len(names) > 10, names
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "    if 'textual' in sys.modules:\n"
            "        raise SystemExit('textual loaded by ' + name)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr or proc.stdout
    # the check can fail: a module that loads textual is named
    proc = subprocess.run([sys.executable, "-c", "import textual\n" + code], capture_output=True, text=True)
    assert proc.returncode != 0 and f"textual loaded by {names[0]}" in proc.stderr, proc.stderr


def test_help_is_fast_and_light():
    code = ("from orderlab.cli import app\n"
            "from typer.testing import CliRunner; r=CliRunner().invoke(app, ['--help'])\n"
            "assert r.exit_code == 0, r.output")
    loaded = _loaded_after(code)
    assert not (loaded & set(HEAVY)), loaded & set(HEAVY)
    # Speed follows from loading nothing heavy; no wall-clock assertion (machines are noisy):
    # benchmarks/tui.py times `orderlab --help` as its reference.
    proc = subprocess.run([sys.executable, "-m", "orderlab.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "train" in proc.stdout


def test_nothing_generic_is_importable_at_top_level(tmp_path):
    for name in ("app", "trainer", "analysis"):
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True)
        assert proc.returncode != 0, f"top-level module {name!r} is importable"


def test_import_present_skips_an_absent_module_but_not_a_broken_one(tmp_path, monkeypatch):
    """Commands, architectures and datasets are registered by importing their modules: one left
    out of an install is skipped, one whose own dependency is missing is a broken install."""
    from orderlab.plugins import import_present
    (tmp_path / "ol_present.py").write_text("X = 1\n")
    (tmp_path / "ol_broken.py").write_text("import ol_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = import_present(["ol_absent", "ol_present"])
    assert [m.__name__ for m in found] == ["ol_present"]
    with pytest.raises(ModuleNotFoundError, match="ol_no_such_dependency"):
        import_present(["ol_present", "ol_broken"])
