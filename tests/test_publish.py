"""Publishing by rename with the replaced version freed in the background (orderlab/publish.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orderlab import publish

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")


def _open_deleted(path: Path) -> list[str]:
    """This process's descriptors on replaced versions of ``path`` (unlinked, still open)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)) and target.endswith("(deleted)"):
            out.append(target)
    return out


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def test_replace_publishes_the_new_version_and_releases_the_old(tmp_path):
    dst = tmp_path / "state.pt"
    _write(tmp_path / "a.tmp", b"one" * 1000)
    publish.replace_file(tmp_path / "a.tmp", dst)
    assert dst.read_bytes() == b"one" * 1000
    with open(dst, "rb") as reader:            # a reader that opened the old version keeps it whole
        for i in range(50):
            tmp = tmp_path / f"v{i}.tmp"
            _write(tmp, str(i).encode() * 5000)
            publish.replace_file(tmp, dst)
            assert dst.read_bytes() == str(i).encode() * 5000
            assert not tmp.exists()
        assert reader.read() == b"one" * 1000
    publish.wait_released()
    assert _open_deleted(dst) == []            # every replaced version closed, so its space is freed


def test_replace_onto_nothing_and_failed_replace_leak_nothing(tmp_path):
    dst = tmp_path / "sub" / "record.npz"
    dst.parent.mkdir()
    _write(tmp_path / "x.tmp", b"x")
    publish.replace_file(tmp_path / "x.tmp", dst)
    assert dst.read_bytes() == b"x"
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):     # the temporary file vanished: dst untouched, old fd closed
        publish.replace_file(tmp_path / "gone.tmp", dst)
    assert dst.read_bytes() == b"x"
    publish.wait_released()
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_forked_child_releases_its_own_replacements(tmp_path):
    """A sweep's workers may be forked from a process whose releasing thread did not survive the fork."""
    dst = tmp_path / "state.pt"
    _write(tmp_path / "a.tmp", b"a")
    publish.replace_file(tmp_path / "a.tmp", dst)
    _write(tmp_path / "b.tmp", b"b")
    publish.replace_file(tmp_path / "b.tmp", dst)      # this process's thread now exists
    code = f"""
import os, sys
sys.path[:0] = {sys.path!r}
from pathlib import Path
from orderlab import publish
import tests.test_publish as t
dst = Path({str(dst)!r})
for i in range(20):      # some still held when the child is forked
    dst.with_name("b2.tmp").write_bytes(b"c" * 100000)
    publish.replace_file(dst.with_name("b2.tmp"), dst)
pid = os.fork()
if pid == 0:
    for i in range(5):
        tmp = dst.with_name(f"c{{i}}.tmp"); tmp.write_bytes(b"child" * 100)
        publish.replace_file(tmp, dst)
    publish.wait_released()
    os._exit(0 if t._open_deleted(dst) == [] and dst.read_bytes() == b"child" * 100 else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, timeout=60)
    assert r.returncode == 0
