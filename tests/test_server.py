"""A real `mlflow server` (SQLite backend, artifacts served by the server): a sweep records into it
over HTTP and the study is read back through it; an interrupted run resumes through it."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.store import Store

runner = CliRunner()
SMALL = ["--dataset", "digits", "--train-subset", "150", "--test-subset", "80", "--epochs", "1",
         "--record-every", "0.5", "--device", "cpu", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, port: int) -> subprocess.Popen:
    """A real `mlflow server` on 127.0.0.1:``port`` (SQLite backend and artifacts under ``root``),
    once it answers /health."""
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    # Without MLflow 3's job runner and its huey consumers (GenAI jobs no test uses): 10 processes
    # and ~2 GB became 2 and ~0.5 GB, beside the suite's other tests on CI's 2 cores.
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # Its log goes to a file: a pipe nobody reads fills up (64 KB: a few tests' requests) and the
    # server then blocks on its next log line and stops answering.
    log = open(root / "server.log", "a")
    proc = subprocess.Popen([mlflow, "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
                             "--artifacts-destination", (root / "artifacts").as_uri(), "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    log.close()                      # the server holds its own copy
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                stop_server(proc)
                pytest.fail("mlflow server did not answer /health within 120 s")
            time.sleep(0.5)


def stop_server(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop the server and its workers (one process group); one already stopped is left as it is."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    port = _free_port()
    proc = start_server(root, port)
    try:
        yield f"http://127.0.0.1:{port}", root
    finally:
        stop_server(proc)


@pytest.mark.slow
def test_sweep_through_a_tracking_server(server, tmp_path):
    url, root = server
    r = runner.invoke(app, ["sweep", "--arch", "mlp", "--arch", "cnn", "--seeds", "0-1", "--workers", "2",
                            "--study", "srv", *SMALL, "--tracking-uri", url])
    assert r.exit_code == 0, (r.output, r.exception)
    assert "4 finished, 0 failed" in r.output
    store = Store(url)
    runs = store.list_runs("srv")
    assert [(x.arch, x.seed, x.status, x.checkpoints) for x in runs] == [
        (a, s, "FINISHED", 3) for a in ("cnn", "mlp") for s in (0, 1)]
    # artifacts went through the server (mlflow-artifacts:/ URIs), not to a path the client writes
    assert all(x.artifact_uri.startswith("mlflow-artifacts:") for x in runs)
    assert len(list((root / "artifacts").rglob("record.npz"))) == 4
    pairs = store.load_records("srv")
    assert len(pairs) == 4 and all(rec.n_checkpoints == 3 for _, rec in pairs)
    assert store.load_examples("srv") is not None
    # the sweep's plan (for `sweep --resume` to start networks it never reached) reads back through it
    plans, bad = store.sweep_plans("srv")
    assert bad == [] and [(p["archs"], p["seeds"]) for _, p in plans] == [(["mlp", "cnn"], [0, 1])]
    assert len(list((root / "artifacts").rglob("sweeps/*.json"))) == 1
    # read again (a TUI polls): the plan, named by its content, is not downloaded again
    from unittest import mock
    with mock.patch.object(store.client, "download_artifacts", side_effect=AssertionError("downloaded again")):
        assert store.sweep_plans("srv") == (plans, bad)
    # counts and notes (the TUI polls them) take a listing up to 30 s old; a resume lists afresh
    parent = store.study_parent("srv")
    with mock.patch.object(store.client, "list_artifacts", side_effect=AssertionError("listed again")):
        assert store.unstarted_on(parent, []) == {(a, s) for a in ("mlp", "cnn") for s in (0, 1)}
        with pytest.raises(AssertionError, match="listed again"):
            store.sweep_plans("srv")
    # the study read back through the server, as `orderlab export` does
    out = tmp_path / "srv.npz"
    r = runner.invoke(app, ["export", "srv", "-o", str(out), "--tracking-uri", url])
    assert r.exit_code == 0, r.output
    with np.load(out) as z:
        assert z["correct"].shape == (4, 3, 80) and list(z["arch"]) == ["cnn", "cnn", "mlp", "mlp"]
    assert {x.name: x.archs for x in store.list_studies()}["srv"] == ["cnn", "mlp"]     # planned-arch tags
    # a damaged examples file on the server: a note naming it as the store holds it, and the study's
    # train command (its networks finished: nothing trains) writes it anew through the server
    from orderlab.studydata import study_examples
    [held] = list((root / "artifacts").rglob("examples/examples.npz"))
    held.write_bytes(b"PK\x03\x04 cut short")
    assert not store.has_examples(store.study_parent("srv"))
    ex, note = study_examples(store, "srv", "no grid")
    assert ex is None and f"examples file examples/examples.npz of the study's run {store.study_parent('srv')}" in note
    assert "/tmp" not in note.split(" is damaged")[0], note
    r = runner.invoke(app, ["train", "--arch", "mlp", "--seeds", "0", "--study", "srv", *SMALL, "--tracking-uri", url])
    assert r.exit_code == 0, r.output
    assert store.load_examples("srv") is not None and len(store.list_runs("srv")) == 4


@pytest.mark.slow
def test_quiet_training_through_a_tracking_server_prints_nothing(server):
    """MLflow prints "View run … / View experiment …" on stdout as each run on a server ends: two
    lines per network through the progress, and under --quiet."""
    url, _ = server
    exe = os.path.join(os.path.dirname(sys.executable), "orderlab")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"}
    for cmd in ("train", "sweep"):
        out = subprocess.run([exe, cmd, "--arch", "mlp", "--seeds", "0-1", "--study", f"quiet-{cmd}", *SMALL,
                              "--tracking-uri", url, "--quiet"], capture_output=True, text=True, timeout=300, env=env)
        assert out.returncode == 0, out
        assert "View run" not in out.stdout + out.stderr, out
        assert out.stdout == "" if cmd == "train" else out.stdout.startswith("sweep quiet-sweep: 2 finished"), out
    assert [x.status for x in Store(url).list_runs("quiet-sweep")] == ["FINISHED", "FINISHED"]


def test_concurrent_study_creation_through_a_tracking_server(server):
    """No lock on a server: the experiment's creator makes the parent run, the others wait for it."""
    from conftest import race_for_study
    race_for_study(server[0], studies=4, starters=4)


@pytest.mark.slow
def test_resume_through_a_tracking_server(server):
    """State and record are uploaded to the server at each checkpoint and downloaded to resume."""
    from conftest import whole_and_cut
    url, _ = server
    cut = whole_and_cut(url, "srv", 3, archs=["mlp"], seeds=[3], dataset="digits", train_subset=150, test_subset=80,
                        epochs=1, record_every=0.25, device="cpu", quiet=True)
    store = Store(url)
    r = runner.invoke(app, ["train", "--resume", cut.run_id, "--tracking-uri", url, "--quiet"])
    assert r.exit_code == 0, (r.output, r.exception)
    a = store.load_record(store.list_runs("srv-cut")[0])
    b = store.load_record(store.list_runs("srv-whole")[0])
    assert a.n_checkpoints == 5
    for split in ("train", "test"):
        assert np.array_equal(a.split(split).correct_bits, b.split(split).correct_bits)
        assert np.array_equal(a.split(split).p_true, b.split(split).p_true)


def test_a_run_whose_tags_lag_shows_what_its_record_on_the_server_holds(server):
    """A server that stopped answering left a run's progress tags at 0 while its record, uploaded
    before, held 18 checkpoints: the TUI and `orderlab runs` showed "stale 0 ckpts" with no accuracy.
    A run ended early is read from its record on a server as in a local store, once per state."""
    from orderlab.synthetic import populate_store
    url, _ = server
    store = Store(url)
    [rid] = populate_store(store, "lagging", archs=("mlp",), seeds=1, n_checkpoints=4, n_examples=40, finish=False)
    store.set_tags(rid, {"orderlab.checkpoints": "0", "orderlab.epoch": "0"})
    store.end_run(rid, "KILLED")
    [run] = store.list_runs("lagging")
    assert run.checkpoints == 0
    done, epoch, _, test_acc = store.recorded_progress(run)
    assert (done, epoch) == (4, 0.75) and test_acc is not None
    calls = []
    real = store.record_file
    store.record_file = lambda *a, **k: calls.append(a) or real(*a, **k)
    assert store.recorded_progress(run)[0] == 4 and calls == []        # read once per run and state
    # the studies list, over every study's runs, reads a server's tags: no download per ended run
    fresh = Store(url)
    fresh.record_file = lambda *a, **k: calls.append(a) or real(*a, **k)
    assert [s.checkpoints for s in fresh.list_studies() if s.name == "lagging"] == [0] and calls == []
    r = runner.invoke(app, ["runs", "lagging", "--tracking-uri", url])
    assert r.exit_code == 0 and "0.75" in r.stdout, r.output


@pytest.mark.slow
def test_a_server_that_stops_answering_mid_training_stops_train_with_one_line(tmp_path):
    """What the README says of a server outage while `train` runs: exit code 2 and a one-line fix; the
    run stays RUNNING with what it recorded, and shows as STALE once the server is back."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(tmp_path, port)
    train = None
    try:
        train = subprocess.Popen([sys.executable, "-m", "orderlab.cli", "train", "--arch", "mlp", "--seeds", "0",
                                  "--dataset", "digits", "--train-subset", "150", "--test-subset", "80", "--epochs",
                                  "2000", "--record-every", "1", "--device", "cpu", "--study", "down", "--quiet",
                                  "--tracking-uri", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        store = Store(url)
        deadline = time.monotonic() + 120
        runs = []
        while time.monotonic() < deadline and not (runs and runs[0].checkpoints >= 3):
            time.sleep(0.3)
            try:
                runs = store.list_runs("down")
            except Exception:  # noqa: BLE001 - the study does not exist yet
                runs = []
        assert runs and train.poll() is None, "the training did not get going"
        stop_server(proc, signal.SIGKILL)
        out, err = train.communicate(timeout=180)
        assert train.returncode == 2, (out, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"error: tracking server {url} stopped answering; restart it and retry"), err
        proc = start_server(tmp_path, port)
        [run] = Store(url).list_runs("down")
        assert run.status == "STALE"                          # RUNNING, its process gone
        # what its record holds (its tags may lag behind it): at least the 3 checkpoints seen
        assert store.recorded_progress(run)[0] == store.load_record(run).n_checkpoints >= 3
        r = runner.invoke(app, ["runs", "down", "--tracking-uri", url])
        assert r.exit_code == 0 and "stale" in r.stdout.lower(), r.output
    finally:
        if train is not None and train.poll() is None:
            train.kill()
            train.communicate(timeout=30)
        stop_server(proc)
