"""The built wheel holds every module of the user's layout under orderlab.*, and nothing generic."""
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

LAYOUT = {"orderlab": "orderlab", "app": "orderlab/app", "trainer": "orderlab/trainer",
          "analysis": "orderlab/analysis"}


@pytest.mark.slow
def test_wheel_contains_every_module(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = tmp_path.glob("orderlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for src, dst in LAYOUT.items():
        for f in (REPO / src).rglob("*"):
            if "__pycache__" in f.parts or not f.is_file():
                continue
            if f.suffix in (".py", ".tcss") or (f.suffix == ".toml" and "recipes" in f.parts):
                expected.add(f"{dst}/{f.relative_to(REPO / src).as_posix()}")
    missing = sorted(expected - names)
    assert not missing, f"missing from the wheel (add the subpackage to pyproject's packages): {missing}"
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"orderlab", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops
