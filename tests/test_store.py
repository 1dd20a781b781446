"""The MLflow layout, through MLflow's own client against a real SQLite store."""
import os
import re
import time

import numpy as np
import pytest

from orderlab.errors import OrderlabError
from orderlab.store import Store, StoreError, default_tracking_uri
from orderlab.synthetic import populate_store
from conftest import studies_row


def test_default_store_is_sqlite_under_mlruns(tmp_path):
    assert default_tracking_uri() == f"sqlite:///{tmp_path}/mlruns/mlflow.db"


def test_study_layout_visible_to_mlflow(store, store_uri):
    from mlflow.tracking import MlflowClient
    run_ids = populate_store(store, "lay", archs=("mlp", "cnn"), seeds=2, n_checkpoints=3, n_examples=20)
    client = MlflowClient(store_uri)
    exp = client.get_experiment_by_name("lay")
    assert exp.tags["orderlab.kind"] == "study"
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags["orderlab.kind"] == "study"]
    children = [r for r in runs if r.data.tags["orderlab.kind"] == "network"]
    assert len(parents) == 1 and len(children) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert {r.data.tags["orderlab.arch"] for r in children} == {"mlp", "cnn"}
    # the record is an artifact of the child run
    files = [f.path for f in client.list_artifacts(run_ids[0], "record")]
    assert files == ["record/record.npz"]
    info = store.list_studies()[0]
    assert (info.name, info.n_runs, info.n_finished, info.checkpoints) == ("lay", 4, 4, 3)


def test_the_studies_list_names_architectures_planned_before_their_first_run(store, store_uri, monkeypatch):
    """`train --arch mlp --arch logistic` stopped before any network started: `orderlab studies`
    (and the TUI's list, which reads the same StudyInfo) names both architectures, not none."""
    from typer.testing import CliRunner

    from orderlab.cli import app
    from orderlab.trainer import api

    def stop(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(api, "train_solo", stop)
    r = CliRunner().invoke(app, ["train", "--arch", "mlp", "--arch", "logistic", "--seeds", "0", "--study", "planned",
                                 "--train-subset", "100", "--test-subset", "50", "--epochs", "1",
                                 "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 130, r.output
    [info] = store.list_studies()
    assert (info.name, info.n_runs, info.archs, info.n_planned) == ("planned", 0, ["logistic", "mlp"], 2)
    out = CliRunner().invoke(app, ["studies", "--tracking-uri", store_uri], env={"COLUMNS": "200"}).output
    assert "logistic, mlp" in out, out
    row = studies_row(out, "planned")
    # networks (the planned ones among them), running, finished, failed, stale, planned
    assert [row[k] for k in ("nets", "live", "done", "failed", "stale", "plan")] == ["2", "0", "0", "0", "0", "2"], out
    # networks of another architecture join the list with their runs; a name MLflow takes for no
    # tag key is left to them
    populate_store(store, "planned2", archs=("cnn",), seeds=1, n_checkpoints=2, n_examples=20)
    store.plan_archs("planned2", ["mlp", "bad:name!", "tv:resnet18"])
    assert {s.name: s.archs for s in store.list_studies()}["planned2"] == ["cnn", "mlp", "tv:resnet18"]


def test_study_refuses_other_data(store):
    store.get_or_create_study("s", "digits", "train=a,test=b")
    assert store.get_or_create_study("s", "digits", "train=a,test=b")[1]  # same data: joins
    # no option differs: the data does (an npz: file edited since): the options are no way out, so not named
    with pytest.raises(StoreError, match=r"^study 's' holds networks on digits as it was then \(data fingerprint "
                                         r"train=a,test=b\); with the same options the data now reads "
                                         r"train=a,test=OTHER: its files changed since. Put the study's data back, or "
                                         r"train the new data into another --study$"):
        store.get_or_create_study("s", "digits", "train=a,test=OTHER")
    store.get_or_create_study("sub", "digits", "train=a,test=b", {"dataset": "digits", "train_subset": None})
    with pytest.raises(StoreError, match=r"^study 'sub' was made with --train-subset all, not 500; use the "
                                         r"study's data options or another --study$"):
        store.get_or_create_study("sub", "digits", "train=c,test=b", {"dataset": "digits", "train_subset": 500})


def test_unknown_study_and_run(store):
    populate_store(store, "known", seeds=1, n_checkpoints=2, n_examples=10)
    with pytest.raises(StoreError, match="no study named 'nope'.*known"):
        store.list_runs("nope")
    with pytest.raises(StoreError, match="no run"):
        store.get_run("0" * 32)


def test_unreachable_server_fails_fast():
    t = time.monotonic()
    with pytest.raises(StoreError, match="unreachable"):
        Store("http://127.0.0.1:9")
    assert time.monotonic() - t < 30  # generous: a hang would be minutes


@pytest.mark.parametrize("code, needles", [(404, ["answered but is no MLflow tracking server (HTTP 404",
                                                   "address and port of `mlflow server`"]),
                                            (401, ["refused access (HTTP 401", "MLFLOW_TRACKING_USERNAME"]),
                                            # a proxy in front of a server that is down: not "no MLflow",
                                            # and no `mlflow server` for a port something holds
                                            (503, ["is not answering (HTTP 503", "start the server behind the "
                                                   "proxy at 127.0.0.1:"])])
def test_a_server_that_answers_but_is_not_mlflow_is_not_called_unreachable(code, needles):
    """A web server on the port (not MLflow, or one that wants a login) was "unreachable (File not
    found); start it", though it was reachable."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(code)

        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(StoreError) as e:
            Store(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert "unreachable" not in str(e.value) and all(n in str(e.value) for n in needles), str(e.value)


def test_a_tracking_uri_with_a_user_and_password_reaches_its_server():
    """urllib takes no credentials from a URL: a server behind http://user:pass@host was reported
    "unreachable" (start it …). They go as basic auth; the password is in no message."""
    import base64
    import http.server
    import threading
    want = "Basic " + base64.b64encode(b"ann:s3cr%t").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health" and self.headers.get("Authorization") == want:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")
            else:
                self.send_error(401)

        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Store(f"http://ann:s3cr%25t@127.0.0.1:{server.server_port}")          # checked, and let in
        with pytest.raises(StoreError) as e:
            Store(f"http://ann:wrong@127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert "refused access (HTTP 401" in str(e.value) and "wrong" not in str(e.value), str(e.value)


def test_a_database_that_refuses_the_connection_is_one_line_without_the_password():
    """A database store whose server answers but will not open the database (here: a socket that
    hangs up, as a server refusing the login does) is refused before MLflow retries for minutes and
    ends in a traceback; the password never reaches the message."""
    import socket
    import threading
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def hang_up():
        for _ in range(5):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()
    threading.Thread(target=hang_up, daemon=True).start()
    try:
        with pytest.raises(StoreError) as e:
            Store(f"postgresql+pg8000://user:s3cret@127.0.0.1:{port}/db")
    finally:
        srv.close()
    msg = str(e.value)
    assert "cannot open the database of tracking URI" in msg and "user:***@" in msg and "s3cret" not in msg
    assert "check the user, password and database name" in msg


def test_database_uris_probed_and_shown_without_their_password():
    """Only a server on a TCP port is probed before connecting: not a Unix socket, nor an ODBC data
    source (whose "host" is its name). Messages never show a password, in the URL or ODBC string."""
    from orderlab.store import _without_password, db_tcp_endpoint
    assert db_tcp_endpoint("postgresql://u:p@db.example:6543/x") == ("db.example", 6543)
    assert db_tcp_endpoint("postgresql+psycopg://u@db.example/x") == ("db.example", 5432)
    assert db_tcp_endpoint("mysql+pymysql://u@10.0.0.1/x") == ("10.0.0.1", 3306)
    for local in ("postgresql://u@/x?host=/var/run/postgresql", "mysql+pymysql://u@localhost/x?unix_socket=/s",
                  "mysql://u@localhost/x", "mssql+pyodbc://u:p@MYDSN", "mssql://u:p@MYDSN",
                  "mssql+pyodbc:///?odbc_connect=DSN%3Dx"):
        assert db_tcp_endpoint(local) is None, local
    assert _without_password("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert _without_password("mssql+pyodbc:///?odbc_connect=SERVER%3Dx%3BPWD%3Ds3cret%3BX%3D1") == \
        "mssql+pyodbc:///?odbc_connect=SERVER%3Dx%3BPWD%3D***%3BX%3D1"
    assert _without_password("sqlite:///a/b.db") == "sqlite:///a/b.db"


def test_file_store_uri_is_explained(tmp_path, monkeypatch):
    """A path or file: URI gets the exact sqlite: URI of the database at that path or in that folder."""
    monkeypatch.chdir(tmp_path)
    for uri, db in [(f"file://{tmp_path}/x", f"{tmp_path}/x/mlflow.db"), ("mlruns", f"{tmp_path}/mlruns/mlflow.db"),
                    ("mlruns/mlflow.db", f"{tmp_path}/mlruns/mlflow.db"), (f"{tmp_path}/a.sqlite", f"{tmp_path}/a.sqlite")]:
        with pytest.raises(OrderlabError) as e:
            Store(uri)
        assert str(e.value).endswith(f"use --tracking-uri sqlite:///{db} (or an http:// server)"), str(e.value)
    # file://mlruns/… puts "mlruns" in the URL's host: still the relative path meant
    with pytest.raises(OrderlabError, match=f"use --tracking-uri sqlite:///{tmp_path}/mlruns/mlflow.db "):
        Store("file://mlruns/mlflow.db")
    # a path the shell and SQLAlchemy would split: percent-quoted, and the URI given works
    with pytest.raises(OrderlabError) as e:
        Store("my store?x")
    fixed = f"sqlite:///{tmp_path}/my%20store%3Fx/mlflow.db"              # nothing left for the shell to split
    assert f"use --tracking-uri {fixed} (or" in str(e.value), str(e.value)
    (tmp_path / "my store?x").mkdir()
    assert Store(fixed).list_studies() == []
    assert (tmp_path / "my store?x" / "mlflow.db").exists()
    # from the environment: the variable is named
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "mlruns")
    with pytest.raises(OrderlabError, match="use MLFLOW_TRACKING_URI sqlite:///"):
        Store(None)


def test_stale_running_run_detected(store):
    [rid] = populate_store(store, "live", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=10, finish=False)
    assert store.get_run(rid).status == "RUNNING"  # our own pid: alive
    store.set_tags(rid, {"orderlab.pid": 2 ** 22 + 12345})  # no such process
    assert store.get_run(rid).status == "STALE"


def test_concurrent_study_creation_keeps_one_parent(store_uri):
    from conftest import race_for_study
    race_for_study(store_uri)


def test_processes_opening_a_new_store_at_once(tmp_path):
    """MLflow builds a new SQLite store's schema by migrations on first use; processes started
    together on a fresh store (two `orderlab train`, a sweep and a TUI) wait for one another
    instead of failing on the half-built schema (without the lock, 3 of 4 failed here)."""
    import subprocess
    import sys
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    code = ("import sys; from orderlab.store import Store; s = Store(sys.argv[1]); "
            "s.get_or_create_study('race', 'digits', 'f'); print(s.study_names())")
    procs = [subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e.strip().splitlines()[-1:] for _, e in outs]
    assert [o.strip() for o, _ in outs] == ["['race']"] * 4
    store = Store(uri)
    assert len(store.list_runs("race")) == 0 and store.study_parent("race")


def test_a_held_store_lock_is_a_one_line_error(tmp_path, monkeypatch):
    import fcntl

    import orderlab.store as store_module
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (tmp_path / "mlruns").mkdir()                 # a store folder (Store() alone makes none: it opens nothing)
    monkeypatch.setattr(store_module, "SCHEMA_LOCK_TIMEOUT", 0.3)
    with open(tmp_path / "mlruns" / "mlflow.db.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)         # as a process stopped while opening the store
        with pytest.raises(StoreError, match="mlflow.db.lock for 0 s"):
            Store(uri).client
    assert Store(uri).study_names() == []        # released: the store opens


def test_a_read_only_database_is_a_one_line_error(tmp_path):
    """SQLite's own error (here from a database opened read-only) becomes the store's one line."""
    import sqlite3
    db = tmp_path / "ro.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()

    def write():
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            con.execute("INSERT INTO t VALUES (1)")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    with pytest.raises(StoreError, match=r"^the store .* is read-only \(its database file cannot be written\); "
                                         r"make the file writable or pass --tracking-uri to a writable store$"):
        Store(uri)._retry(write)


def test_an_unparsable_uri_is_named_without_its_password():
    with pytest.raises(StoreError) as e:
        Store("postgresql://bob:s3cret@[::1/db")
    assert str(e.value) == ("tracking URI 'postgresql://bob:***@[::1/db' cannot be parsed (Invalid IPv6 URL); use "
                            "sqlite:///PATH/mlflow.db or http://HOST:PORT")


def test_relative_sqlite_uri_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store("sqlite:///here/mlflow.db")
    assert store.uri == f"sqlite:///{tmp_path}/here/mlflow.db"
    populate_store(store, "rel", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=5)
    assert (tmp_path / "here" / "artifacts" / "rel").is_dir()


def test_a_moved_or_copied_store_reads_and_writes_its_own_files(tmp_path):
    """MLflow keeps absolute artifact paths: a store copied or moved (rsynced off a GPU machine)
    read the original's files, or none once the original was gone ("record ... is missing; delete
    its run"), and its report went into the original."""
    import shutil

    from typer.testing import CliRunner

    from orderlab.cli import app
    from orderlab.record import RecordError
    first = tmp_path / "gpu-box" / "mlruns"
    ids = populate_store(Store(f"sqlite:///{first}/mlflow.db"), "moved", archs=("mlp", "cnn"), seeds=3,
                         n_checkpoints=4, n_examples=60)
    copy = tmp_path / "laptop" / "mlruns"
    shutil.copytree(first, copy)
    uri = f"sqlite:///{copy}/mlflow.db"
    mine = Store(uri)
    assert mine.record_file(ids[0]).is_relative_to(copy)
    good = mine.record_file(ids[0]).read_bytes()
    mine.record_file(ids[0]).write_bytes(b"\x00" * 10)             # the copy's file, not the original's
    with pytest.raises(RecordError, match="corrupt"):
        mine.load_record(ids[0])
    assert Store(f"sqlite:///{first}/mlflow.db").load_record(ids[0]).n_checkpoints == 4
    shutil.rmtree(first.parent)                                      # moved: the original is gone
    runner = CliRunner()
    r = runner.invoke(app, ["analyze", "moved", "--include-interrupted", "--tracking-uri", uri])
    assert r.exit_code == 2 and "corrupt" in r.stderr, r.output     # the copy's own damage, named
    mine.record_file(ids[0]).write_bytes(good)                       # mended
    r = runner.invoke(app, ["runs", "moved", "--tracking-uri", uri])
    assert r.exit_code == 0 and r.stdout.count("FINISHED") == 6, r.output
    r = runner.invoke(app, ["report", "moved", "-o", str(tmp_path / "rep"), "--tracking-uri", uri])
    assert r.exit_code == 0, r.output
    [report] = mine.report_runs("moved")
    assert (copy / "artifacts" / "moved" / report / "artifacts" / "report" / "report.md").is_file()
    assert not first.parent.exists()                                 # nothing written where it was
    # the MLflow UI follows the recorded paths: orderlab ui says where they point (the test's fake
    # `mlflow` prints nothing and exits 0, as a server stopped at once would)
    assert mine.made_elsewhere() == first and Store(f"sqlite:///{copy}/mlflow.db").made_elsewhere() == first
    fake = tmp_path / "mlflow"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    import socket

    from orderlab.commands import store as store_commands
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    saved = store_commands.mlflow_cli
    store_commands.mlflow_cli = lambda: [str(fake)]
    try:
        r = runner.invoke(app, ["ui", "--port", port, "--tracking-uri", uri])
    finally:
        store_commands.mlflow_cli = saved
    assert f"note: this store was made in {first} and moved or copied here" in r.stderr, r.output
    fresh = tmp_path / "fresh" / "mlruns"
    populate_store(Store(f"sqlite:///{fresh}/mlflow.db"), "here", archs=("mlp",), seeds=1, n_checkpoints=2,
                   n_examples=20)
    assert Store(f"sqlite:///{fresh}/mlflow.db").made_elsewhere() is None


def test_a_killed_run_is_listed_with_what_its_record_holds(store, store_uri):
    """A process killed outright leaves tags and metrics up to 2 s behind its record (a short run,
    none at all): `orderlab runs` and `orderlab studies` show the record's checkpoints, last epoch
    and accuracies instead."""
    from typer.testing import CliRunner

    from orderlab.cli import app
    from orderlab.store import TAG_CHECKPOINTS, TAG_EPOCH
    [rid] = populate_store(store, "cut", archs=("mlp",), seeds=1, n_checkpoints=5, n_examples=40, finish=False)
    # what the store last heard: the untrained checkpoint's tags and accuracies (as metrics, they
    # would be the latest, at the highest step, of a run killed before its next flush)
    store.log_metrics(rid, {"train_acc": 0.0, "test_acc": 0.0}, 10 ** 6, tags={TAG_CHECKPOINTS: 1, TAG_EPOCH: "0"})
    store.end_run(rid, "KILLED")
    rec = store.load_record(rid)
    acc = {s: rec.splits[s].correct()[-1].mean() for s in ("train", "test")}
    out = CliRunner().invoke(app, ["runs", "cut", "--tracking-uri", store_uri], env={"COLUMNS": "250"}).output
    cells = [c.strip() for c in next(x for x in out.splitlines() if "KILLED" in x).split("│")[1:-1]]
    assert cells[4].startswith(f"{rec.epoch[-1]:.3g}/") and cells[5] == "5", out
    assert (cells[6], cells[7]) == (f"{acc['train']:.3f}", f"{acc['test']:.3f}"), out
    assert store.list_studies()[0].checkpoints == 5


def test_corrupt_record_artifact_is_an_error(store):
    from orderlab.record import RecordError
    [rid] = populate_store(store, "c", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=10)
    store.record_file(rid).write_bytes(b"\x00" * 10)
    with pytest.raises(RecordError, match="corrupt"):
        store.load_record(rid)
    np.testing.assert_equal(len(store.list_runs("c")), 1)  # nothing else lost


def test_finished_run_keeps_one_state_file(store_uri):
    from orderlab.store import STATE_FILENAME, _local_path
    from orderlab.trainer.api import TrainConfig, train_study
    train_study(TrainConfig(study="one-state", archs=["mlp"], seeds=[0], dataset="digits", train_subset=100,
                            test_subset=50, epochs=1, record_every=0.5, device="cpu", quiet=True,
                            tracking_uri=store_uri))
    [run] = Store(store_uri).list_runs("one-state")
    state_dir = _local_path(run.artifact_uri) / "state"
    assert [p.name for p in state_dir.iterdir()] == [STATE_FILENAME]


class Odd(Exception):
    """Pickles, but does not unpickle (its __init__ wants two arguments, its args hold one)."""

    def __init__(self, a, b):
        super().__init__(f"{a}{b}")


def test_relayed_store_answers_like_the_store(store, monkeypatch):
    """A sweep worker's RelayedStore over a real pipe, served by the executor's answering code: the
    same results as the store, its errors raised again in the asker, unpicklable ones as StoreError."""
    import multiprocessing as mp
    import threading
    from orderlab.store import RELAYED, RelayedStore
    from orderlab.trainer import sweep
    populate_store(store, "relay", archs=("mlp",), seeds=2, n_checkpoints=2, n_examples=10)
    asker, answerer = mp.Pipe()
    executor = sweep.LocalExecutor(1, 1, store=store)

    def serve():
        while (msg := answerer.recv()) is not None:
            executor._answer(answerer, msg)
    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        sweep._relay_to(asker, store.uri)
        relayed = sweep._store(store.uri)
        assert isinstance(relayed, RelayedStore) and relayed._client is None
        assert relayed.study_names() == store.study_names()
        assert relayed.list_runs("relay") == store.list_runs("relay")
        run = relayed.list_runs("relay")[0]
        relayed.log_metrics(run.run_id, {"extra": 0.5}, step=3)
        assert relayed.metric_steps(run.run_id, "extra") == store.metric_steps(run.run_id, "extra") == {3}
        assert np.array_equal(relayed.load_record(run).split("test").correct_bits,
                              store.load_record(run).split("test").correct_bits)
        with pytest.raises(StoreError, match="no run 'nope'"):
            relayed.get_run("nope")
        relayed.log_params(run.run_id, {"extra": 1})
        with pytest.raises(StoreError, match="MlflowException"):  # MLflow's own type stays over there
            relayed.log_params(run.run_id, {"extra": 2})
        monkeypatch.setattr(Store, "study_names", lambda self: (_ for _ in ()).throw(Odd("lock", "ed")))
        with pytest.raises(StoreError, match="Odd: locked"):
            relayed.study_names()
        assert relayed._client is None and "experiment_id" in RELAYED      # nothing fell back to a client
        assert sweep._store(f"{store.uri}-other.db").__class__ is Store
    finally:
        sweep._RELAY.clear()
        asker.send(None)
        server.join(timeout=10)


def test_checking_a_store_again_keeps_this_process_s_sqlite_locks(store_uri):
    """Every Store checks its SQLite file, also in a process that already has connections to it.
    A check that opened and closed the file itself would drop this process's POSIX locks on it;
    the next process to close its connection would then think itself the last, delete the
    shared-memory index, and this process's later writes would be invisible to others."""
    import subprocess
    import sys
    store = Store(store_uri)
    populate_store(store, "held", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=20)
    run = store.list_runs("held")[0]
    Store(store_uri)                                  # checked again while this process holds the file
    other = ("import sys\nfrom orderlab.store import Store\n"
             "s = Store(sys.argv[1])\n"
             "r = s.list_runs('held')[0]\n"
             "print(r.tags.get(sys.argv[2], '-'))\n")
    before = subprocess.run([sys.executable, "-c", other, store_uri, "orderlab.note"], capture_output=True,
                            text=True, timeout=120)
    assert before.returncode == 0 and before.stdout.split() == ["-"], before.stderr
    store.set_tags(run.run_id, {"orderlab.note": "written-after"})
    after = subprocess.run([sys.executable, "-c", other, store_uri, "orderlab.note"], capture_output=True,
                           text=True, timeout=120)
    assert after.returncode == 0 and after.stdout.split() == ["written-after"], (after.stdout, after.stderr)


def test_one_run_per_network_takes_the_run_that_is_the_network():
    from orderlab.store import TAG_SUPERSEDED, RunInfo, one_run_per_network

    def run(rid, status, ckpts, start, seed=0, **tags):
        return RunInfo(rid, "s", "mlp", seed, status, start, None, ckpts, 0.0, 1.0, None, None, None, tags=tags)
    old = run("old", "KILLED", 28, 1.0, **{TAG_SUPERSEDED: "new"})
    new = run("new", "RUNNING", 3, 2.0)
    assert one_run_per_network([old, new]) == [new]                  # its replacement, though shorter
    done, later = run("done", "FINISHED", 5, 1.0), run("later", "KILLED", 9, 2.0)
    assert one_run_per_network([done, later]) == [done]
    a, b, other = run("a", "KILLED", 4, 1.0), run("b", "KILLED", 4, 2.0), run("c", "FAILED", 1, 0.5, seed=1)
    assert one_run_per_network([a, other, b]) == [other, b]          # ties: the newest; order kept


def test_param_equals_is_one_rule_for_same_settings():
    """Train's reuse, reproduce's reuse and the retrain command share it: numbers as numbers, the
    rest as text, and a switch never equals a number."""
    from orderlab.store import param_equals
    for logged, value in (("2", 2.0), ("2.0", "2"), ("0.1", 0.1), ("True", True), ("sgd", "sgd"), (None, None),
                          ("None", None), ("nan", float("nan"))):
        assert param_equals(logged, value), (logged, value)
    for logged, value in (("1", True), ("True", 1), (None, "x"), ("None", 0), ("sgd", "adam"),
                          ("0.1", 0.1000001)):
        assert not param_equals(logged, value), (logged, value)


def test_a_store_damaged_past_its_header_is_named_in_one_line(tmp_path):
    """Pages damaged past the header pass the opening check: the SQL error (five lines, with the
    statement) was the message, and training reached the end of a network before meeting it."""
    import os
    import sqlite3
    import subprocess
    import sys

    from typer.testing import CliRunner

    from conftest import assert_one_line_error
    from orderlab.cli import app
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    # made by another process, which leaves everything in the file (no write-ahead log, no cache here)
    subprocess.run([sys.executable, "-c", "from orderlab.store import Store; from orderlab.synthetic import "
                    f"populate_store; populate_store(Store({uri!r}), 'dmg', archs=('mlp',), seeds=1, "
                    "n_checkpoints=2, n_examples=10)"], check=True, env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"))
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM latest_metrics").fetchone()[0] > 0
    page = con.execute("PRAGMA page_size").fetchone()[0]
    roots = [r for (r,) in con.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'latest_metrics'")]
    con.close()
    with open(db, "r+b") as f:
        for root in roots:
            f.seek((root - 1) * page)
            f.write(b"\xab" * page)
    for args in (["runs", "dmg"], ["train", "--arch", "mlp", "--seeds", "1", "--study", "dmg", "--epochs", "1",
                                   "--train-subset", "100", "--test-subset", "50", "--quiet"]):
        r = CliRunner().invoke(app, [*args, "--tracking-uri", uri])
        assert_one_line_error(r, f"the store's database {db} is damaged", "restore a backup")


def test_a_full_disk_is_named_in_one_line(tmp_path, monkeypatch):
    """SQLite's "database or disk is full" came as a traceback (the store being created) or as raw
    driver text per network, exit 1, with no word of disk space."""
    from typer.testing import CliRunner

    from conftest import assert_one_line_error
    from orderlab.cli import app
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    populate_store(Store(uri), "full", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=10)
    import sqlalchemy.orm

    def full(*a, **k):
        import sqlite3
        raise sqlalchemy.exc.OperationalError("INSERT INTO metrics", {}, sqlite3.OperationalError(
            "database or disk is full"))
    monkeypatch.setattr(sqlalchemy.orm.Session, "commit", full)
    r = CliRunner().invoke(app, ["train", "--arch", "mlp", "--seeds", "1", "--study", "full", "--epochs", "1",
                                 "--train-subset", "100", "--test-subset", "50", "--quiet", "--tracking-uri", uri])
    assert_one_line_error(r, f"the store's disk is full (writing to {tmp_path})", "free space there",
                          "what was recorded is kept")
    monkeypatch.undo()
    assert [x.seed for x in Store(uri).list_runs("full") if x.status == "FINISHED"] == [0]


def test_a_store_cut_off_while_being_made_is_removed_not_left_half_made(tmp_path, monkeypatch):
    """A full disk during the schema's creation left a half-made database on which every later
    command failed with a traceback ("table _alembic_tmp_jobs already exists"). A store that
    existed before is never removed."""
    import sqlite3

    import mlflow.tracking
    import sqlalchemy.exc

    def full(self, *a, **k):
        raise sqlalchemy.exc.OperationalError("CREATE TABLE", {}, sqlite3.OperationalError("database or disk is full"))
    old = tmp_path / "old.db"
    populate_store(Store(f"sqlite:///{old}"), "kept", archs=("mlp",), seeds=1, n_checkpoints=2, n_examples=10)
    monkeypatch.setattr(mlflow.tracking.MlflowClient, "search_experiments", full)
    new = tmp_path / "new" / "mlflow.db"
    for db in (new, old):
        with pytest.raises(StoreError, match="the store's disk is full"):
            Store(f"sqlite:///{db}").study_names()
    assert not new.exists() and not list(new.parent.glob("mlflow.db-*"))
    # an empty file that was there before (`touch`), and a sidecar file of a store moved aside: kept
    empty = tmp_path / "empty" / "mlflow.db"
    empty.parent.mkdir()
    empty.touch()
    with pytest.raises(StoreError, match="the store's disk is full"):
        Store(f"sqlite:///{empty}").study_names()
    assert empty.exists()
    from orderlab.store import _remove_new_sqlite, _sqlite_files_present
    made = tmp_path / "made" / "mlflow.db"
    made.parent.mkdir()
    (made.parent / "mlflow.db-journal").write_bytes(b"there before")
    before = _sqlite_files_present(made)
    made.write_bytes(b"x")
    (made.parent / "mlflow.db-wal").write_bytes(b"x")
    _remove_new_sqlite(made, before)
    assert sorted(p.name for p in made.parent.iterdir()) == ["mlflow.db-journal"]
    monkeypatch.undo()
    assert Store(f"sqlite:///{old}").study_names() == ["kept"]
    # a device is not a store: refused before SQLite opens it (and never removed)
    with pytest.raises(StoreError, match="is not a regular file"):
        Store("sqlite:////dev/null").study_names()
    assert os.path.exists("/dev/null")


def test_a_killed_process_not_yet_reaped_is_no_live_trainer():
    """A trainer killed while its parent never waits for it (tmux, a container without an init) stays
    a zombie: it answers signals, so its run read "running" for as long as the zombie lasted."""
    import socket
    from orderlab.store import TAG_HOST, TAG_PID, _is_alive
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        for _ in range(200):        # until it has exited (a zombie: not reaped yet)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert _is_alive({TAG_HOST: socket.gethostname(), TAG_PID: str(pid)}) is False
        assert _is_alive({TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid())}) is True
    finally:
        os.waitpid(pid, 0)


def test_an_ended_runs_record_is_read_again_once_the_run_lived_again(store, tmp_path):
    """What a run ended early's record holds is read once per state; a run resumed in place and killed
    again before its first tag flush has its old status and checkpoint tag, but a new record: the
    heartbeat its resume wrote tells the two apart (the TUI kept showing the old record's count)."""
    from orderlab.record import RecordWriter
    [rid] = populate_store(store, "again", archs=("mlp",), seeds=1, n_checkpoints=4, n_examples=30, finish=False)
    store.set_tags(rid, {"orderlab.checkpoints": "2"})
    store.end_run(rid, "KILLED")
    [run] = store.list_runs("again")
    assert store.recorded_progress(run)[:2] == (4, 0.75)
    rec = store.load_record(run)
    # (built in memory: a writer publishes to its path, and one at /dev/null replaced the device)
    w = RecordWriter.resume(tmp_path / "unused.npz", rec, 10)
    for e in (1.0, 1.25):
        w.add(e, int(e * 40), {s: (np.ones(30, bool), rec.split(s).label, np.ones(30)) for s in rec.splits},
              flush=False)
    store.write_record(rid, w.build())
    [same] = store.list_runs("again")
    assert store.recorded_progress(same)[:2] == (4, 0.75)            # nothing says it lived again: cached
    store.reclaim(rid)                                             # the resume: a new heartbeat
    store.end_run(rid, "KILLED")
    [resumed] = store.list_runs("again")
    assert (resumed.status, resumed.checkpoints) == ("KILLED", 2)
    assert store.recorded_progress(resumed)[:2] == (6, 1.25)
    # one cache across reconnections, where the caller keeps it (the TUI reconnects after an error)
    kept: dict = {}
    Store(store.uri, ended_progress=kept).recorded_progress(resumed)
    assert len(kept) == 1 and Store(store.uri, ended_progress=kept)._ended_progress is kept


def test_runs_in_a_narrow_terminal_shorten_ids_that_any_unique_beginning_names(store_uri):
    """At 80 columns the whole ids (32 characters) left "FINISH…" and "0.9…" in the other columns;
    in a terminal ids now give way, to beginnings that the store takes for the whole id, and errors
    wrap in the room left. In a pipe the ids stay whole, for scripts."""
    from typer.testing import CliRunner

    from orderlab.cli import app
    store = Store(store_uri)
    ids = populate_store(store, "many", archs=("mlp", "cnn"), seeds=9, n_checkpoints=2, n_examples=20)
    failed = populate_store(store, "many", archs=("gradient-boosting",), seeds=2, n_checkpoints=2, n_examples=20,
                            finish=False)
    for rid in failed:
        store.end_run(rid, "FAILED", error="RuntimeError: CUDA out of memory while trying to allocate 2.00 GiB "
                                           "on device 0 (reduce --batch-size)")
    runner = CliRunner()
    # rich takes the output for a terminal (a plain one: no escape codes), of COLUMNS × LINES
    terminal = {"TTY_COMPATIBLE": "1", "TERM": "dumb", "LINES": "40"}
    # a pipe (FORCE_COLOR asks for colours, not for a terminal), a wide terminal
    for env in ({"COLUMNS": "80"}, {"COLUMNS": "80", "FORCE_COLOR": "1"}, {"COLUMNS": "250"} | terminal):
        r = runner.invoke(app, ["runs", "many", "--tracking-uri", store_uri], env=env)
        assert all(i in r.stdout for i in ids + failed) and "shortened" not in r.stderr, r.output
        assert "error" in r.stdout and "RuntimeError: CUDA out of memory while trying to allocate 2…" in r.stdout
    r = runner.invoke(app, ["runs", "many", "--tracking-uri", store_uri], env={"COLUMNS": "80"} | terminal)
    lines = r.stdout.splitlines()
    rows = [line.split("│")[1:-1] for line in lines if "FINISHED" in line or "FAILED" in line]
    assert len(rows) == 20 and max(map(len, lines)) <= 80, r.stdout
    shown = [c[0].strip() for c in rows]
    assert len(set(shown)) == 20 and all(len(s) >= 8 and any(i.startswith(s) for i in ids + failed) for s in shown)
    assert all(re.fullmatch(r"[01]\.\d{3}", c[k].strip()) for c in rows for k in (6, 7)), r.stdout  # whole
    assert all(c[4].strip() == "0.25/0.25" and c[3].strip() in ("FINISHED", "FAILED") for c in rows), r.stdout
    long = {c[1].strip() for c in rows} - {"mlp", "cnn"}                     # the long name gives way
    assert len(long) == 1 and long.pop().startswith("gradient-") and "…" in r.stdout, r.stdout
    # no room for an error column: each failed network's error, whole, under the table
    below = " ".join(lines[lines.index(next(x for x in lines if x.startswith("└"))) + 1:])
    for rid, seed in zip(failed, (0, 1)):
        short = next(s for s in shown if rid.startswith(s))
        assert f"{short} gradient-boosting/s{seed}: RuntimeError: CUDA out of memory" in below, r.stdout
    assert " ".join(below.split()).count("on device 0 (reduce --batch-size)") == 2, r.stdout
    assert r.stderr.startswith("note: run ids shortened to fit the terminal; `orderlab train --resume` takes"), r.stderr
    assert store.get_run(shown[0]).run_id in ids + failed and store.get_run(ids[3][:5]).run_id == ids[3]
    # 20 network ids, 16 hex digits: some begin alike; that beginning names no one run. The study's
    # parent run is no network: it shares a beginning without making it ambiguous
    first = [i[0] for i in ids + failed]
    shared = next(c for c in first if first.count(c) > 1)
    alike = [i for i in ids + failed if i.startswith(shared)]
    with pytest.raises(StoreError) as refused:
        store.get_run(shared)
    message = str(refused.value)
    assert message.startswith(f"run id '{shared}' begins the ids of {len(alike)} network runs (") and \
        message.endswith("); give more of it"), message
    named = message.split(" (", 1)[1].rsplit(")", 1)[0].split(", ")
    shown = [n for n in named if n != "…"]
    assert len(shown) == min(4, len(alike)) and (named[-1] == "…") == (len(alike) > 4), message
    assert all(len(n) >= 8 and sum(i.startswith(n) for i in alike) == 1 for n in shown), message
    with pytest.raises(StoreError, match="no run"):         # the study's parent is no network's run
        store.get_run(store.study_parent("many")[:31])
    with pytest.raises(StoreError, match="no run 'zz12'"):
        store.get_run("zz12")


def test_studies_at_80_columns_keep_the_counts_whole_and_cut_the_names(store_uri):
    """The studies list is the TUI's first screen in the CLI: at 80 columns the bordered table had cut
    every header to "stu…", "fai…"; long names now end in "…" and the counts stay whole."""
    from typer.testing import CliRunner

    from orderlab.cli import app
    name = "fashion-mnist-resnet18-against-densenet-and-st-vgg"
    populate_store(Store(store_uri), name, archs=("resnet18", "densenet", "st-vgg"), seeds=2, n_checkpoints=3,
                   n_examples=20)
    out = CliRunner().invoke(app, ["studies", "--tracking-uri", store_uri], env={"COLUMNS": "80"}).stdout
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80 and lines[0].split() == \
        ["study", "dataset", "archs", "nets", "live", "done", "failed", "stale", "ckpts", "updated"], out
    row = studies_row(out, lines[2].split()[0])
    assert row["study"].endswith("…") and len(row["study"]) > 10, out
    assert [row[k] for k in ("nets", "live", "done", "failed", "stale", "ckpts")] == ["6", "0", "6", "0", "0", "3"]
    wide = CliRunner().invoke(app, ["studies", "--tracking-uri", store_uri], env={"COLUMNS": "200"}).stdout
    assert studies_row(wide, name)["archs"] == "densenet, resnet18, st-vgg", wide



def test_studies_at_80_columns_with_networks_planned_keep_the_plan_and_update_columns_whole(store_uri, monkeypatch):
    """The "plan" column (networks a train set out to train, no run yet) took the last two cells of
    "updated" at 80 columns ("updat…", "<1m a…"): the study's name gives way further instead."""
    from typer.testing import CliRunner

    from orderlab.cli import app
    from orderlab.trainer import api

    def stop(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(api, "train_solo", stop)
    name = "fashion-mnist-resnet18-against-densenet-and-st-vgg"
    r = CliRunner().invoke(app, ["train", "--arch", "mlp", "--arch", "gradient-boosting", "--seeds", "0-11", "--study",
                                 name, "--train-subset", "100", "--test-subset", "50", "--epochs", "1",
                                 "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 130, r.output
    out = CliRunner().invoke(app, ["studies", "--tracking-uri", store_uri], env={"COLUMNS": "80"}).stdout
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80 and lines[0].split() == \
        ["study", "dataset", "archs", "nets", "live", "done", "failed", "stale", "plan", "ckpts", "updated"], out
    row = studies_row(out, lines[2].split()[0])
    assert row["study"].startswith("fashion") and row["study"].endswith("…"), out
    assert (row["nets"], row["plan"], row["updated"]) == ("24", "24", "<1m ago"), out
