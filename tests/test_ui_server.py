"""`orderlab ui` serves the same store through MLflow's own UI/REST API, on 127.0.0.1."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from orderlab.store import Store
from orderlab.synthetic import populate_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_commands(sid: int) -> list[str]:
    """The command lines of the processes of session ``sid`` (Linux /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:        # the field after state, ppid, pgrp: the session
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode(errors="replace").strip())
        except (OSError, IndexError, ValueError):
            continue            # gone meanwhile
    return out


@pytest.mark.slow
def test_orderlab_ui_shows_the_study(store_uri, tmp_path):
    populate_store(Store(store_uri), "ui-study", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=20)
    port = _free_port()
    # Another `mlflow` first on PATH (another environment's, another version): the UI must be that of
    # orderlab's own MLflow, which knows this store's schema.
    other = tmp_path / "other-env"
    other.mkdir()
    (other / "mlflow").write_text("#!/bin/sh\necho 'another mlflow' >&2\nexit 3\n")
    (other / "mlflow").chmod(0o755)
    env = {**os.environ, "PATH": f"{other}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "orderlab.cli", "ui", "--port", str(port),
                             "--tracking-uri", store_uri], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/health", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("mlflow ui did not answer within 120 s")
        req = urllib.request.Request(base + "/api/2.0/mlflow/experiments/search",
                                     data=json.dumps({"max_results": 10}).encode(),
                                     headers={"Content-Type": "application/json"})
        exps = json.loads(urllib.request.urlopen(req, timeout=10).read())["experiments"]
        assert "ui-study" in [e["name"] for e in exps]
        exp_id = next(e["experiment_id"] for e in exps if e["name"] == "ui-study")
        req = urllib.request.Request(base + "/api/2.0/mlflow/runs/search",
                                     data=json.dumps({"experiment_ids": [exp_id]}).encode(),
                                     headers={"Content-Type": "application/json"})
        runs = json.loads(urllib.request.urlopen(req, timeout=10).read())["runs"]
        assert len(runs) == 3  # parent + 2 networks
        child = next(r for r in runs if {"key": "orderlab.kind", "value": "network"} in r["data"]["tags"])
        arts = json.loads(urllib.request.urlopen(
            f"{base}/api/2.0/mlflow/artifacts/list?run_id={child['info']['run_id']}&path=record", timeout=10).read())
        assert [f["path"] for f in arts["files"]] == ["record/record.npz"]
        # orderlab ui, mlflow ui and its one uvicorn worker: not MLflow's job runner and its consumers
        started = _session_commands(proc.pid)
        assert len(started) <= 3 and not any("huey" in c or "_job_runner" in c for c in started), started
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass                # it ended by itself: the assertion above says why
        proc.wait(timeout=30)
    out = proc.stdout.read()
    # what the user reads: the address, then MLflow's log, without warnings they can do nothing about
    assert f"at http://127.0.0.1:{port}" in out.splitlines()[0], out
    assert "Warning" not in out and "Traceback" not in out, out
    assert out.count("Started server process") == 1, out      # one worker is started, not MLflow's 4
