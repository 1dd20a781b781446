"""One-line errors of `orderlab report`, `export`, `ui`, `analyze` and `examples`: bad output paths,
bad or busy UI ports, a UI that fails, records that are missing or damaged, networks that lack a
split. Each message names the problem and a fix, and the fixes are followed here to check that they
work; nothing already recorded is touched."""
import errno
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.record import Record
from orderlab.store import Store
from orderlab.synthetic import populate_store

from conftest import assert_one_line_error, module_store_uri

store_uri = module_store_uri()
runner = CliRunner()
VENV_BIN = str(Path(sys.executable).parent)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])




def last_line_error(result, *needles) -> str:
    """The error of a command whose stderr first carries another program's output (the MLflow UI's)."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.stdout
    err = result.stderr.strip().splitlines()[-1]
    assert err.startswith("error: "), result.stderr
    for n in needles:
        assert n in err, (n, err)
    return err


def commands_in(message: str) -> list[str]:
    return re.findall(r"`([^`]+)`", message)


def snapshot(store: Store, study: str) -> dict:
    """Run ids with their status and record bytes: what must survive a refused command."""
    out = {}
    for r in store.list_runs(study):
        f = store.record_file(r.run_id, r.artifact_uri)
        out[r.run_id] = (r.status, f.read_bytes() if f.exists() else None)
    return out


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def syn(store_uri):
    """A synthetic study 'syn' (2 mlp + 2 cnn, both splits)."""
    store = Store(store_uri)
    populate_store(store, "syn", archs=("mlp", "cnn"), seeds=2, n_checkpoints=4, n_examples=40)
    return store


# -- 1. output paths --------------------------------------------------------------------

@pytest.fixture
def a_file(tmp_path) -> Path:
    f = tmp_path / "afile"
    f.write_text("not a folder")
    return f


@pytest.mark.parametrize("where", ["proc", "under-file", "is-file"])
def test_report_to_an_unwritable_folder_is_one_line(syn, store_uri, a_file, where):
    out = {"proc": Path("/proc/rep"), "under-file": a_file / "rep", "is-file": a_file}[where]
    before = snapshot(syn, "syn")
    err = assert_one_line_error(invoke("report", "syn", "-o", out, "--tracking-uri", store_uri),
                         f"cannot write the report to {out}", "choose a writable folder with -o")
    if where != "proc":
        assert "is a file, not a folder" in err
    assert not out.exists() or out == a_file and a_file.read_text() == "not a folder"
    assert snapshot(syn, "syn") == before
    assert not syn.report_runs("syn")     # nothing logged either


def test_an_empty_report_folder_is_refused_not_taken_for_the_current_one(syn, store_uri, tmp_path, monkeypatch):
    """`-o ""` was the current folder: a report's files poured into it (and an earlier report's
    files of another split removed from it). demo refuses it too, and a file, before training."""
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(invoke("report", "syn", "-o", "", "--tracking-uri", store_uri), "-o/--out is empty")
    assert list(tmp_path.iterdir()) == []
    assert_one_line_error(invoke("demo", "-o", " ", "--tracking-uri", store_uri), "-o/--out is empty")
    (tmp_path / "afile").write_text("")
    assert_one_line_error(invoke("demo", "-o", tmp_path / "afile", "--tracking-uri", store_uri),
                          "is a file, not a folder")
    # a folder that cannot be made (was found only after the training, when the report was written)
    assert_one_line_error(invoke("demo", "-o", "/proc/orderlab-report", "--tracking-uri", store_uri),
                          "cannot write the report to /proc/orderlab-report", "No such file or directory in /proc")
    assert "demo-digits" not in syn.study_names()               # nothing trained
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]    # the probe leaves nothing behind


@pytest.mark.parametrize("where", ["proc", "under-file", "a-folder"])
def test_export_to_an_unwritable_path_is_one_line(syn, store_uri, a_file, tmp_path, where):
    out = {"proc": Path("/proc/e.npz"), "under-file": a_file / "e.npz", "a-folder": tmp_path / "dir.npz"}[where]
    if where == "a-folder":
        out.mkdir()
    before = snapshot(syn, "syn")
    assert_one_line_error(invoke("export", "syn", "-o", out, "--tracking-uri", store_uri), f"cannot write {out}",
                   "-o/--output")
    assert snapshot(syn, "syn") == before
    assert a_file.read_text() == "not a folder"
    assert files_under(tmp_path) == {"afile"} | ({"dir.npz"} if where == "a-folder" else set())


def test_export_names_a_file_outside_the_stores_records(syn, store_uri, tmp_path, monkeypatch):
    """`-o ""` crashed (pathlib: "PosixPath('.') has an empty name"); `-o` naming a network's
    record.npz replaced it with the export, and the study could no longer be analysed."""
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(invoke("export", "syn", "-o", "", "--tracking-uri", store_uri),
                          "-o/--output is empty or names the current folder", "e.g. -o study.npz")
    run = syn.list_runs("syn")[0]
    record = syn.record_file(run.run_id, run.artifact_uri)      # ROOT/artifacts/syn/RUN/artifacts/record/…
    before = snapshot(syn, "syn")
    assert_one_line_error(invoke("export", "syn", "-o", record, "--tracking-uri", store_uri),
                          f"cannot write {record}: it lies in a run's folder of recorded files",
                          f"choose a file outside {record.parents[1]} with -o/--output")
    assert_one_line_error(invoke("export", "syn", "-o", record.parents[1] / "all.npz", "--tracking-uri", store_uri),
                          "it lies in a run's folder of recorded files")
    assert snapshot(syn, "syn") == before and not (record.parents[1] / "all.npz").exists()
    # the store's folders above the runs' (where nothing is replaced) are places like any other
    for out in (record.parents[4] / "all.npz", record.parents[5] / "all.npz"):
        r = invoke("export", "syn", "-o", out, "--tracking-uri", store_uri)
        assert r.exit_code == 0 and out.exists(), r.output


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_report_that_fails_midway_leaves_no_part_of_it(syn, store_uri, tmp_path, monkeypatch):
    import orderlab.analysis.report as report_mod
    real = report_mod.write_report

    def half_then_full(stacks, out, *a, **k):
        Path(out, "analysis_test.json").write_text("{}")   # some files are written, then the disk is full
        _disk_full()
    monkeypatch.setattr(report_mod, "write_report", half_then_full)
    new = tmp_path / "new" / "rep"
    assert_one_line_error(invoke("report", "syn", "-o", new, "--tracking-uri", store_uri),
                   f"cannot write the report to {new}", "No space left on device", "choose a writable folder")
    assert not (tmp_path / "new").exists()                  # the folders made for it are gone again
    old = tmp_path / "old"
    old.mkdir()
    (old / "report.md").write_text("an earlier report")
    assert_one_line_error(invoke("report", "syn", "-o", old, "--tracking-uri", store_uri), "No space left on device")
    assert files_under(old) == {"report.md"} and (old / "report.md").read_text() == "an earlier report"
    assert not syn.report_runs("syn")
    monkeypatch.setattr(report_mod, "write_report", real)   # and a report that works replaces the old one
    r = invoke("report", "syn", "-o", old, "--no-log", "--tracking-uri", store_uri)
    assert r.exit_code == 0, r.output
    assert "tpa_test.png" in files_under(old) and not any(n.startswith(".") for n in files_under(old))


def test_an_export_that_fails_midway_leaves_no_part_of_it(syn, store_uri, tmp_path, monkeypatch):
    import orderlab.studydata as studydata
    target = tmp_path / "e.npz"
    assert invoke("export", "syn", "-o", target, "--tracking-uri", store_uri).exit_code == 0
    good = target.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()

    def half_then_full(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        _disk_full()
    monkeypatch.setattr(studydata.np, "savez_compressed", half_then_full)
    assert_one_line_error(invoke("export", "syn", "-o", target, "--tracking-uri", store_uri), f"cannot write {target}",
                   "No space left on device")
    assert target.read_bytes() == good                       # the earlier export is intact
    new = tmp_path / "a" / "b" / "e.npz"
    assert_one_line_error(invoke("export", "syn", "-o", new, "--tracking-uri", store_uri), "No space left on device")
    assert files_under(tmp_path) == {"e.npz"}               # no temporary file, no folder made for it


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


# -- 2. orderlab ui ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("port", ["-1", "0", "70000"])
def test_ui_port_out_of_range(syn, store_uri, port):
    assert_one_line_error(invoke("ui", f"--port={port}", "--tracking-uri", store_uri),
                   "--port must be between 1 and 65535", f"got {port}")


def test_ui_port_in_use(syn, store_uri):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = assert_one_line_error(invoke("ui", "--port", port, "--tracking-uri", store_uri),
                             f"port {port} on 127.0.0.1 is already in use", "choose another with --port")
        suggested = int(re.search(r"e\.g\. --port (\d+)", err).group(1))
    with socket.socket() as s:                              # the port it suggests is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", suggested))


def test_ui_refuses_a_store_that_does_not_exist(tmp_path, monkeypatch):
    """A reading command: a mistyped path started an empty UI and left a new 1 MB store behind."""
    missing = tmp_path / "none" / "mlflow.db"
    assert_one_line_error(invoke("ui", "--port", _free_port(), "--tracking-uri", f"sqlite:///{missing}"),
                          f"no orderlab store at {missing}", "--tracking-uri")
    assert not (tmp_path / "none").exists()
    monkeypatch.chdir(tmp_path)                             # the default store, before any training
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert_one_line_error(invoke("ui", "--port", _free_port()), "no orderlab store at", "train a study first")
    assert not (tmp_path / "mlruns").exists()


def test_ui_on_a_tracking_server_that_does_not_answer(syn):
    """A server store has its own UI; one that does not answer is named, not sent to the browser.
    The server it says to start listens on the URI's port (it said `mlflow server --host 127.0.0.1`,
    which listens on 5000)."""
    port = _free_port()
    assert_one_line_error(invoke("ui", "--tracking-uri", f"http://127.0.0.1:{port}"),
                          f"tracking server http://127.0.0.1:{port} is unreachable", "--tracking-uri",
                          f"`mlflow server --host 127.0.0.1 --port {port}`")
    # (mlflow server serves no https: a proxy does; another machine's server is started there;
    # a password in the URI is in no message)
    err = assert_one_line_error(invoke("studies", "--tracking-uri", "https://u:secret@mlflow.invalid:8443/"),
                                "tracking server https://u:***@mlflow.invalid:8443/ is unreachable",
                                "start the server (or the proxy in front of it) at mlflow.invalid:8443 or fix")
    assert "secret" not in err
    for bad in ("abc", "99999"):                # a port that does not parse: still one line, and no server advice
        assert_one_line_error(invoke("studies", "--tracking-uri", f"http://u:secret@127.0.0.1:{bad}"),
                              "tracking URI 'http://u:***@127.0.0.1:", "has a port that is not a number from 1 "
                              "to 65535; fix --tracking-uri")


def _fake_mlflow(tmp_path, monkeypatch, output: str, rc: int) -> None:
    """An MLflow command line that prints ``output`` and exits with ``rc`` (as the real one does
    when its server cannot start: it exits 0 after logging the error)."""
    from orderlab.commands import store as store_commands
    exe = tmp_path / "mlflow"
    exe.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {rc}\n")
    exe.chmod(0o755)
    monkeypatch.setattr(store_commands, "mlflow_cli", lambda: [str(exe)])


def test_ui_exits_non_zero_when_the_mlflow_ui_fails(syn, store_uri, tmp_path, monkeypatch):
    port = _free_port()
    _fake_mlflow(tmp_path, monkeypatch, "INFO starting\nERROR:    [Errno 98] Address already in use", 0)
    last_line_error(invoke("ui", "--port", port, "--tracking-uri", store_uri), f"port {port} on 127.0.0.1 is already "
                    "in use", "choose another with --port")


def test_ui_gives_advice_it_can_follow(syn, store_uri, tmp_path, monkeypatch):
    port = _free_port()
    _fake_mlflow(tmp_path, monkeypatch, "[MLflow] Security middleware enabled with default settings (localhost-only). "
                 "To allow connections from other hosts, use --host 0.0.0.0 and configure --allowed-hosts and "
                 "--cors-allowed-origins.", 1)
    r = invoke("ui", "--port", port, "--tracking-uri", store_uri)
    assert "--host 0.0.0.0" not in r.stderr and f"ssh -L {port}:127.0.0.1:{port} THIS_MACHINE" in r.stderr


def test_ui_exits_non_zero_when_the_mlflow_ui_crashes(syn, store_uri, tmp_path, monkeypatch):
    port = _free_port()
    _fake_mlflow(tmp_path, monkeypatch, "Traceback (most recent call last):\nRuntimeError: the backend broke", 1)
    r = invoke("ui", "--port", port, "--tracking-uri", store_uri)
    last_line_error(r, "the MLflow UI stopped unexpectedly (exit code 1)", "RuntimeError: the backend broke")
    assert r.stderr.index("the backend broke") < r.stderr.index("error: the MLflow UI")  # its output, passed on


# -- 3 and 4. records that cannot be read, networks that lack a split ---------------------------------
# The fixes are followed as a user would: each command its own process, the store in the environment.
# (Each of these tests has a store of its own.)

TRAIN = ["--epochs", "1", "--train-subset", "200", "--quiet"]


@pytest.fixture
def own_store(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path}/own/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def train(study, *args):
    r = invoke("train", "--study", study, "--arch", "mlp", *args, *TRAIN)
    assert r.exit_code == 0, (r.output, r.exception)


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, shell=True, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def follow(command: str, cwd: Path) -> None:
    """Run a command an error message suggests, in a shell."""
    p = shell(command, cwd)
    assert p.returncode == 0, (command, p.stdout, p.stderr)


def shell_error(command: str, cwd: Path, *needles) -> str:
    p = shell(command, cwd)
    assert p.returncode == 2 and "Traceback" not in p.stderr, (p.returncode, p.stderr)
    err = p.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


def correct_by_network(npz: Path) -> dict:
    with np.load(npz) as z:
        return {(str(a), int(s)): z["correct"][i] for i, (a, s) in enumerate(zip(z["arch"], z["seed"]))}


@pytest.mark.slow
def test_missing_and_damaged_records_name_the_run_and_a_fix_that_works(own_store, tmp_path):
    train("rec", "--seeds", "0-2")
    assert invoke("export", "rec", "-o", tmp_path / "before.npz").exit_code == 0
    store = Store(own_store)
    runs = {r.seed: r for r in store.list_runs("rec")}
    store.record_file(runs[1].run_id, runs[1].artifact_uri).unlink()             # a deleted record, FINISHED run
    store.record_file(runs[2].run_id, runs[2].artifact_uri).write_bytes(b"garbage")  # a damaged one, KILLED run
    store.client.set_terminated(runs[2].run_id, "KILLED")
    for cmd in (["analyze", "rec"], ["examples", "rec"], ["export", "rec", "-o", tmp_path / "e.npz"],
                ["report", "rec", "-o", tmp_path / "rep"]):
        err = assert_one_line_error(invoke(*cmd), "network mlp/s1", runs[1].run_id, "study 'rec'", "is missing",
                             f"mlflow runs delete --run-id {runs[1].run_id}", "orderlab train --study rec")
    assert not (tmp_path / "e.npz").exists() and not (tmp_path / "rep").exists()
    delete, again = commands_in(err)
    assert "--seeds 1" in again and "--epochs 1" in again and "--train-subset 200" in again
    follow(delete, tmp_path)
    err = shell_error("orderlab analyze rec", tmp_path, "network mlp/s2", runs[2].run_id, "KILLED", "is corrupt",
                      f"orderlab train --resume {runs[2].run_id}")
    assert "allow_pickle" not in err and "re-run" not in err
    follow(again, tmp_path)
    [resume] = commands_in(err)
    follow(resume, tmp_path)
    follow("orderlab analyze rec", tmp_path)
    follow("orderlab export rec -o after.npz", tmp_path)
    before, after = correct_by_network(tmp_path / "before.npz"), correct_by_network(tmp_path / "after.npz")
    assert before.keys() == after.keys() == {("mlp", 0), ("mlp", 1), ("mlp", 2)}
    for k in before:                                          # the same networks again (CPU: bit for bit)
        np.testing.assert_array_equal(before[k], after[k])


def test_a_damaged_record_of_one_architecture_leaves_the_others_to_analyse(store_uri, tmp_path):
    """With --arch cnn no mlp record is read: a damaged mlp record stops only the commands that need it."""
    store = Store(store_uri)
    ids = populate_store(store, "two", archs=("mlp", "cnn"), seeds=2, n_checkpoints=4, n_examples=40)
    mlp = next(r for r in store.list_runs("two") if r.arch == "mlp")
    store.record_file(mlp.run_id).write_bytes(b"garbage")
    uri = ["--tracking-uri", store_uri]
    for cmd in (["analyze", "two"], ["examples", "two"], ["export", "two", "-o", tmp_path / "e.npz"],
                ["report", "two", "-o", tmp_path / "rep", "--no-log"]):
        assert_one_line_error(invoke(*cmd, *uri), f"network {mlp.name}", "is corrupt")
        r = invoke(*cmd, "--arch", "cnn", *uri)
        assert r.exit_code == 0, (cmd, r.output)
    with np.load(tmp_path / "e.npz") as z:
        assert list(z["arch"]) == ["cnn", "cnn"]
    # an architecture the study does not have is still named as such (not "no recorded network")
    assert_one_line_error(invoke("analyze", "two", "--arch", "vgg", *uri), "no network of architecture vgg in two",
                          "architectures: cnn, mlp")
    assert len(ids) == 4
    # cnn's only network is being trained anew (its killed run superseded, the new run has no
    # checkpoint yet): no cnn network to analyse, said as such, not a traceback
    populate_store(store, "sup", archs=("mlp",), seeds=1, n_checkpoints=4, n_examples=40)
    [old] = populate_store(store, "sup", archs=("cnn",), seeds=1, n_checkpoints=4, n_examples=40, finish=False)
    store.end_run(old, "KILLED")
    new, _ = store.create_network_run("sup", store.study_parent("sup"), store.experiment_id("sup"), arch="cnn",
                                      seed=0, dataset="synthetic", epochs=1.0, params={})
    store.supersede(old, new, "its state could not be read")
    for cmd in (["analyze", "sup"], ["examples", "sup"], ["export", "sup", "-o", tmp_path / "s.npz"],
                ["report", "sup", "-o", tmp_path / "srep", "--no-log"]):
        for extra in ([], ["--include-interrupted"]):
            assert_one_line_error(invoke(*cmd, "--arch", "cnn", *extra, *uri),
                                  "no network of architecture cnn in sup (architectures: mlp)")


@pytest.mark.slow
def test_a_damaged_examples_file_leaves_the_grid_out_and_names_the_command_that_writes_it_anew(own_store, tmp_path):
    """The study's thumbnails file overwritten: `examples` and `report` still work, say what is left
    out and give a command; that command (the study's train, its network finished) writes the file
    anew without training, after which the report has its grid again."""
    from orderlab.store import EXAMPLES_ARTIFACT_DIR, THUMBNAILS_FILENAME
    train("thumbs", "--seeds", "0")
    store = Store(own_store)
    path = store._artifact_dir(store.study_parent("thumbs")) / EXAMPLES_ARTIFACT_DIR / THUMBNAILS_FILENAME
    path.write_text("garbage")
    r = invoke("examples", "thumbs", "--hardest", "3")
    assert r.exit_code == 0, r.output
    [note] = [x for x in r.stderr.splitlines() if "examples file" in x]
    assert f"examples file {path} is damaged (not an .npz file" in note, note
    assert "ValueError" not in note and "labels are shown as numbers" in note, note
    r = invoke("report", "thumbs", "-o", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "the report has no example grid" in md and not (tmp_path / "rep" / "examples_test.png").exists()
    # said once, not contradicted further down as a study without thumbnails (digits has them)
    assert "no example thumbnails in this study" not in md, md
    [again] = re.findall(r"this writes it anew: `([^`]+)`", note)
    assert again.startswith("orderlab train --study thumbs --arch mlp --seeds 0"), again
    follow(again, tmp_path)
    assert store.load_examples("thumbs")["class_names"][:2] == ["0", "1"]
    assert [r.status for r in store.list_runs("thumbs")] == ["FINISHED"]         # nothing trained again
    r = invoke("report", "thumbs", "-o", tmp_path / "rep2")
    assert r.exit_code == 0 and (tmp_path / "rep2" / "examples_test.png").exists(), r.output


def test_record_messages_for_finished_runs_of_synthetic_studies(store_uri, tmp_path):
    """The same messages without real training: a deleted record and a record of a newer format."""
    store = Store(store_uri)
    ids = populate_store(store, "gone", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=20)
    store.record_file(ids[1]).unlink()
    before = snapshot(store, "gone")
    err = assert_one_line_error(invoke("analyze", "gone", "--tracking-uri", store_uri), "network mlp/s1", ids[1],
                         "study 'gone'", "is missing", "does not exist", f"mlflow runs delete --run-id {ids[1]}",
                         "orderlab train --study gone --arch mlp --seeds 1", f"--tracking-uri {store_uri}")
    from orderlab.studydata import mlflow_command
    assert f"MLFLOW_TRACKING_URI={store_uri} {mlflow_command()} runs delete" in err
    assert snapshot(store, "gone") == before


def test_a_record_copied_from_another_run_is_refused(store_uri):
    """A record file put into another network's run (a backup restored to the wrong folder) names
    the network it belongs to: analysed as the run's network, it would count one network twice."""
    import shutil
    store = Store(store_uri)
    ids = populate_store(store, "swap", archs=("mlp", "cnn"), seeds=2, n_checkpoints=3, n_examples=20)
    runs = {(r.arch, r.seed): r for r in store.list_runs("swap")}
    victim, source = runs[("mlp", 1)], runs[("cnn", 0)]
    shutil.copyfile(store.record_file(source.run_id), store.record_file(victim.run_id))
    before = snapshot(store, "swap")
    for cmd in (["analyze", "swap"], ["export", "swap", "-o", "/nonexistent/never.npz"], ["examples", "swap"]):
        assert_one_line_error(invoke(*cmd, "--tracking-uri", store_uri), "network mlp/s1", victim.run_id,
                              "belongs to another network", f"cnn/s0 of study 'swap'", source.run_id,
                              f"mlflow runs delete --run-id {victim.run_id}")
    assert snapshot(store, "swap") == before and len(ids) == 4


# -- 4. a split that some networks did not record -----------------------------------------------------

def add_test_only_network(store: Store, study: str, like_run: str, arch: str, seed: int) -> str:
    """A network of ``study`` that recorded only the test split (as with --record-splits test)."""
    rec = store.load_record(like_run)
    exp_id = store.experiment_id(study)
    run_id, _ = store.create_network_run(study, store.study_parent(study), exp_id, arch=arch, seed=seed,
                                         dataset="synthetic", epochs=float(rec.epoch[-1]),
                                         params={"arch": arch, "seed": seed, "record_splits": "test"})
    store.write_record(run_id, Record(meta={**rec.meta, "run_id": run_id, "arch": arch, "seed": seed},
                                      epoch=rec.epoch, step=rec.step,
                                      splits={"test": rec.splits["test"]}))
    store.set_tags(run_id, {"orderlab.checkpoints": rec.n_checkpoints})
    store.end_run(run_id, "FINISHED")
    return run_id


def test_a_report_says_which_split_it_left_out_and_drops_an_earlier_reports_files_for_it(store_uri, tmp_path):
    store = Store(store_uri)
    ids = populate_store(store, "part", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=30)
    out = tmp_path / "rep"
    r = invoke("report", "part", "-o", out, "--no-log", "--tracking-uri", store_uri)
    assert r.exit_code == 0, r.output
    assert (out / "tpa_train.png").exists() and (out / "analysis_train.json").exists()
    (out / "mine_train.png").write_bytes(b"a user's own file")
    add_test_only_network(store, "part", ids[0], "cnn", 0)
    r = invoke("report", "part", "-o", out, "--no-log", "--tracking-uri", store_uri)
    assert r.exit_code == 0, r.output
    assert "note: the train split is left out: only 2 of the 3 networks recorded it" in r.stderr
    md = (out / "report.md").read_text()
    assert "the train split is left out" in md and "## train split" not in md
    left = sorted(p.name for p in out.iterdir())
    assert not [n for n in left if n.endswith("_train.png") and n != "mine_train.png"], left
    assert "analysis_train.json" not in left and "tpa_test.png" in left and "mine_train.png" in left


def test_a_split_some_networks_lack_names_them_and_what_to_do(store_uri):
    store = Store(store_uri)
    ids = populate_store(store, "mix", archs=("mlp", "cnn"), seeds=2, n_checkpoints=4, n_examples=40)
    odd = add_test_only_network(store, "mix", ids[0], "cnn", 7)
    uri = ["--tracking-uri", store_uri]
    err = assert_one_line_error(invoke("analyze", "mix", "--split", "train", *uri),
                         "split 'train' was not recorded by 1 of the 5 networks of study 'mix'", "cnn/s7", odd,
                         "recorded only test", "use --split test, which all 5 recorded", "--arch mlp",
                         f"mlflow runs delete --run-id {odd}", "--record-splits train,test")
    assert "(recorded: test)" not in err
    # what it suggests works
    assert invoke("analyze", "mix", "--split", "test", "--json", *uri).exit_code == 0
    r = invoke("analyze", "mix", "--split", "train", "--arch", "mlp", "--json", *uri)
    assert r.exit_code == 0 and '"n_networks": 2' in r.stdout, r.output
    assert invoke("examples", "mix", "--split", "train", "--arch", "mlp", *uri).exit_code == 0
    # commands without --arch do not suggest it; report's way to another split is leaving --split out
    err = assert_one_line_error(invoke("export", "mix", "--split", "train", "-o", "x.npz", *uri), "cnn/s7",
                         "use --split test")
    assert "keep to the architectures" not in err and not Path("x.npz").exists()
    assert_one_line_error(invoke("report", "mix", "--split", "train", "-o", "rep", *uri), "cnn/s7",
                   "leave out --split: the report then covers test")
    assert invoke("report", "mix", "-o", "rep", "--no-log", *uri).exit_code == 0
    # no network recorded the split at all
    ids = populate_store(store, "testonly", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=20, seed=4,
                         splits=("test",))
    err = assert_one_line_error(invoke("analyze", "testonly", "--split", "train", *uri),
                         "split 'train' was not recorded by any of the 2 networks of study 'testonly'",
                         "(recorded: test)", "use --split test, which all 2 recorded")
    assert "keep to the architectures" not in err


@pytest.mark.slow
def test_retraining_a_network_with_both_splits_as_suggested(own_store, tmp_path):
    train("splits", "--seeds", "0-1")
    train("splits", "--seeds", "2", "--record-splits", "test")
    err = assert_one_line_error(invoke("analyze", "splits", "--split", "train"),
                         "split 'train' was not recorded by 1 of the 3 networks", "mlp/s2", "--split test")
    delete, again = commands_in(err)
    assert "--seeds 2" in again and "--record-splits train,test" in again
    follow(delete, tmp_path)
    follow(again, tmp_path)
    p = shell("orderlab analyze splits --split train --json", tmp_path)
    assert p.returncode == 0 and '"n_networks": 3' in p.stdout, p.stderr


def test_the_mlflow_command_named_in_fixes_is_one_that_runs_here(monkeypatch, tmp_path):
    """A virtual environment used without activating it has no `mlflow` on PATH: the fix named the
    bare command, which the shell did not find."""
    import shutil
    import sys
    from pathlib import Path

    from orderlab.studydata import mlflow_command
    assert mlflow_command() == "mlflow" or Path(mlflow_command()).exists()
    beside = Path(sys.executable).parent / "mlflow"
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shutil.which("mlflow") is None
    assert mlflow_command() == (str(beside) if beside.exists() else "mlflow")
    # another mlflow first on PATH (another environment, maybe another version): orderlab's own
    other = tmp_path / "bin"
    other.mkdir()
    (other / "mlflow").write_text("#!/bin/sh\n")
    (other / "mlflow").chmod(0o755)
    monkeypatch.setenv("PATH", str(other))
    assert mlflow_command() == (str(beside) if beside.exists() else "mlflow")
    if beside.exists():
        monkeypatch.setenv("PATH", str(beside.parent))       # the venv activated: plain `mlflow`
        assert mlflow_command() == "mlflow"
