"""Metrics and progress tags are buffered (flushed every FLUSH_EVERY_S and at the end of a run);
the record is published at a checkpoint when that costs at most PUBLISH_SHARE of the time since the
last publication, and when the run ends; what it has not published travels in the training state."""
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import orderlab.trainer.run as run_module
from orderlab.store import Store
from orderlab.trainer.api import TrainConfig, train_study
from orderlab.trainer.progress import Reporter
from conftest import cut_run

SMALL = dict(archs=["mlp"], seeds=[0], dataset="digits", train_subset=200, test_subset=100, epochs=1,
             record_every=0.25, device="cpu", quiet=True)


class Watch(Reporter):
    """At the third checkpoint, what the store already holds."""

    def __init__(self, uri):
        self.uri, self.run_id, self.seen, self.at_third = uri, None, 0, None

    def network_started(self, name, run_id):
        self.run_id = run_id

    def network_progress(self, fraction, metrics):
        if metrics:
            self.seen += 1
            if self.seen == 3:
                store = Store(self.uri)
                self.at_third = {
                    "metrics": len(MlflowClient(self.uri).get_metric_history(self.run_id, "test_acc")),
                    "tag": store.get_run(self.run_id).checkpoints,
                    "record": store.load_record(self.run_id).n_checkpoints}


@pytest.mark.parametrize("every,live", [(1000.0, False), (0.0, True)])
def test_metrics_reach_the_store_when_flushed_and_all_at_the_end(tmp_path, monkeypatch, every, live):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setattr(run_module, "FLUSH_EVERY_S", every)
    monkeypatch.setattr(run_module, "PUBLISH_SHARE", float("inf"))     # publish every checkpoint
    watch = Watch(uri)
    train_study(TrainConfig(study="buf", tracking_uri=uri, **SMALL), watch)
    assert watch.at_third["record"] == 3                       # the record: at every checkpoint
    if live:
        assert watch.at_third["metrics"] == 3 and watch.at_third["tag"] == 3
    else:                                                      # still buffered
        assert watch.at_third["metrics"] == 0 and watch.at_third["tag"] == 0
    [run] = Store(uri).list_runs("buf")
    hist = MlflowClient(uri).get_metric_history(run.run_id, "test_acc")
    assert run.status == "FINISHED" and run.checkpoints == 5
    assert sorted(m.step for m in hist) == Store(uri).load_record(run).step.tolist()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_while_a_checkpoint_is_published_ends_after_it(tmp_path, monkeypatch, signame):
    """A SIGINT that lands while the third checkpoint's record is being published (after the file is
    in place) takes effect once the checkpoint is complete: the KILLED run's tag names the record's
    checkpoints (they differed by one when Ctrl-C fell in that window). A second thread is alive, as in
    a real process (MLflow's, the data loader's): the kernel may hand a process-wide SIGINT to any
    thread, so masking it in the main thread alone did not defer it (seen in CI). The signal is sent
    to that other thread here, as the kernel sometimes does."""
    import signal
    import threading
    import time
    from orderlab.cli import _terminate
    sig = getattr(signal, signame)
    if sig == signal.SIGTERM:                                 # as the CLI's main installs it
        signal.signal(signal.SIGTERM, _terminate)
    idle = threading.Event()
    other = threading.Thread(target=idle.wait, daemon=True)
    other.start()
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    publish, calls = Store.write_record, []

    def publish_then_ctrl_c(self, *a, **k):
        publish(self, *a, **k)
        calls.append(1)
        if len(calls) == 3:
            signal.pthread_kill(other.ident, sig)             # the kernel's pick, made deterministic
            time.sleep(0.3)                                   # its handler has run before we go on
    monkeypatch.setattr(Store, "write_record", publish_then_ctrl_c)
    monkeypatch.setattr(run_module, "PUBLISH_SHARE", float("inf"))     # publish every checkpoint
    try:
        with pytest.raises(KeyboardInterrupt):
            train_study(TrainConfig(study="cut", tracking_uri=uri, **SMALL))
    finally:
        idle.set()
        if sig == signal.SIGTERM:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    [run] = Store(uri).list_runs("cut")
    assert run.status == "KILLED" and len(calls) == 3
    assert run.checkpoints == Store(uri).load_record(run).n_checkpoints == 3


def test_buffered_metrics_keep_the_time_they_were_measured(tmp_path, monkeypatch):
    """Written in one batch at the end, the points still carry their own times on MLflow's time axis."""
    import time
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setattr(run_module, "FLUSH_EVERY_S", 1000.0)

    class Slow(Reporter):
        def network_progress(self, fraction, metrics):
            if metrics:
                time.sleep(0.02)          # checkpoints at least 20 ms apart
    train_study(TrainConfig(study="when", tracking_uri=uri, **SMALL), Slow())
    [run] = Store(uri).list_runs("when")
    history = sorted(MlflowClient(uri).get_metric_history(run.run_id, "test_acc"), key=lambda m: m.step)
    stamps = [m.timestamp for m in history]
    assert len(stamps) == 5 and all(b > a for a, b in zip(stamps, stamps[1:])), stamps


def test_a_second_ctrl_c_waits_until_the_run_has_ended(tmp_path, monkeypatch):
    """Ctrl-C pressed again while an interrupted run is being ended (or the SIGTERM a sweep's worker
    gets when its main process exits) acts once the run is marked KILLED, not in the middle."""
    import signal
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    end_run = Store.end_run

    def end_run_after_another_ctrl_c(self, run_id, status, error=None):
        signal.raise_signal(signal.SIGINT)
        return end_run(self, run_id, status, error)
    monkeypatch.setattr(Store, "end_run", end_run_after_another_ctrl_c)
    cut_run(uri, "twice", 2, **SMALL)             # KILLED, with its 2 checkpoints counted


@pytest.mark.parametrize("ensemble", [1, 2])
@pytest.mark.parametrize("every,kept", [(1000.0, 5), (0.0, 0)])
def test_the_training_state_holds_only_the_metrics_not_yet_in_the_store(tmp_path, monkeypatch, every, kept,
                                                                        ensemble):
    """What a resume must re-log travels in the state, and nothing more: the whole metric history
    saved at every checkpoint made each state grow with the run (quadratic in checkpoints)."""
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.loop import load_state
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setattr(run_module, "FLUSH_EVERY_S", every)
    train_study(TrainConfig(study="st", tracking_uri=uri, **{**SMALL, "seeds": list(range(ensemble))},
                            ensemble=ensemble))
    store = Store(uri)
    for run in store.list_runs("st"):
        state = load_state(store.state_file(run.run_id, STATE_FILENAME, tmp_path))
        steps = store.load_record(run).step.tolist()
        assert len(steps) == 5 and [s for s, _ in state["metrics"]] == steps[5 - kept:]
        if kept:
            assert set(state["metrics"][-1][1]) >= {"test_acc", "train_acc", "epoch"}


def test_a_state_saved_with_the_whole_metric_history_still_resumes_without_duplicates(tmp_path):
    """States written before the change above hold every checkpoint's metrics: a resume logs only
    the steps the store lacks, so each step keeps one value per metric."""
    from mlflow.tracking import MlflowClient
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.loop import load_state, write_state_file
    from orderlab.trainer.resume import resume_runs
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    cut = cut_run(uri, "old", 3, **SMALL)
    store = Store(uri)
    path = store.state_file(cut.run_id, STATE_FILENAME, tmp_path)
    state = load_state(path)
    client = MlflowClient(uri)
    logged = {m.step: m.value for m in client.get_metric_history(cut.run_id, "test_acc")}
    assert len(logged) == 3
    state["metrics"] = [(s, {"test_acc": v, "epoch": 0.0}) for s, v in sorted(logged.items())]
    write_state_file(state, path)
    resume_runs([cut.run_id], tracking_uri=uri, device="cpu")
    done = store.get_run(cut.run_id)
    steps = [m.step for m in client.get_metric_history(cut.run_id, "test_acc")]
    assert done.status == "FINISHED" and sorted(steps) == store.load_record(done).step.tolist()


@pytest.mark.parametrize("ensemble", [1, 2])
def test_an_expensive_record_is_published_less_often_and_whole_at_the_end(tmp_path, monkeypatch, ensemble):
    """A record whose publication takes longer than PUBLISH_SHARE of the time since the last one
    waits (the file is rewritten whole: a long run republishing it at every checkpoint spends time,
    and uploads, quadratic in its checkpoints) until the training states, which carry what is not
    published, have carried as many bytes as the last publication wrote. The tags name what was
    published; the run's end publishes every checkpoint."""
    import time
    from orderlab.record import record_nbytes
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.loop import load_state
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setattr(run_module, "FLUSH_EVERY_S", 0.0)
    publish, published = Store.write_record, []

    def slow_publish(self, run_id, record, *a, **k):
        time.sleep(0.2)                # 0.2 s: at a share of 5%, the time rule waits 4 s after each
        published.append(record.n_checkpoints - 1)
        return publish(self, run_id, record, *a, **k)
    monkeypatch.setattr(Store, "write_record", slow_publish)
    clocks = []

    class Clock(run_module.PublishClock):
        def __init__(self):
            super().__init__()
            clocks.append(self)
    monkeypatch.setattr(run_module, "PublishClock", Clock)
    watch = Watch(uri)
    cfg = TrainConfig(study="slow", tracking_uri=uri, **{**SMALL, "seeds": list(range(ensemble)), "epochs": 2},
                      ensemble=ensemble)
    train_study(cfg, watch)
    assert watch.at_third == {"metrics": 3, "tag": 1, "record": 1}
    assert len(clocks) == 1                                   # an ensemble's members share one
    store = Store(uri)
    runs = store.list_runs("slow")
    rec = store.load_record(runs[0])
    # The checkpoints the byte rule publishes: 0 (no state yet to carry it), then each one at which
    # the states saved since the last publication (each carrying the checkpoints after it) add up to
    # that publication's bytes; then the run's end.
    row = sum(a[0].nbytes for s in rec.splits.values() for a in (s.correct_bits, s.predicted, s.p_true))
    base = record_nbytes(rec) - rec.n_checkpoints * row
    expected, pub_bytes, carried, held = [], 0, 0, 0
    for k in range(rec.n_checkpoints):
        if k == 0 or carried >= pub_bytes:
            expected.append(k)
            held, pub_bytes, carried = k + 1, ensemble * (base + (k + 1) * row), 0
        carried += ensemble * (k + 1 - held) * row
    assert 1 < len(expected) < rec.n_checkpoints - 1
    assert published == [k for k in expected + [rec.n_checkpoints - 1] for _ in range(ensemble)]
    for run in runs:
        rec = store.load_record(run)
        assert run.status == "FINISHED" and run.checkpoints == rec.n_checkpoints == 9
        # the last state, saved at the last checkpoint, carried the checkpoints not yet published
        held, carried = load_state(store.state_file(run.run_id, STATE_FILENAME, tmp_path))["unpublished"]
        assert held == expected[-1] + 1 and [step for _, step, _ in carried] == rec.step[held:].tolist()
        assert all(np.array_equal(bits, rec.split(s).correct_bits[held + i])
                   for i, (_, _, splits) in enumerate(carried) for s, (bits, _, _) in splits.items())


def test_an_ensembles_members_share_one_publication_budget(monkeypatch):
    """The members of an ensemble checkpoint together and share a PublishClock: it decides once per
    checkpoint for all of them, from what the whole last round of publications cost. Timing only its
    own, each member would count the others' publications as time passed (16 members could spend 16
    times the share). Bytes carried by the members' states since add up the same way."""
    now = [100.0]
    monkeypatch.setattr(run_module.time, "monotonic", lambda: now[0])
    clock = run_module.PublishClock()
    assert clock.due(0)                                    # nothing measured yet: publish
    for _ in range(4):                                     # four members, 0.1 s and 1000 bytes each
        assert clock.due(0)
        now[0] += 0.1
        clock.spent(0.1, 1000)
    now[0] += 7.9                                          # 0.4 s > 5% of 7.9 s
    assert not clock.due(1) and not clock.due(1)           # the same answer for every member
    now[0] += 0.2                                          # 0.4 s <= 5% of 8.1 s
    assert clock.due(2) and clock.due(2)
    now[0] += 0.1
    clock.spent(0.1, 1000)                                 # a cheaper round: due again sooner
    now[0] += 2.0
    assert clock.due(3)
    clock.spent(1.0, 1000)                                 # an expensive round ...
    for member in range(4):
        clock.carry(200)                                   # ... whose states carry 800 bytes
    assert not clock.due(4)
    clock.carry(200)                                       # 1000 bytes carried: as many as it wrote
    assert clock.due(5)


def test_the_publishing_benchmark_runs_both_sides_to_the_same_record(monkeypatch, capsys):
    """benchmarks/record_publishing.py, small: both sides end with every checkpoint recorded alike
    (it exits with a message otherwise), and its last line gives the two ratios."""
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import record_publishing
    before = (Store.write_record, run_module.PUBLISH_SHARE)
    assert record_publishing.main(["--checkpoints", "6", "--train-ms", "1", "--train-examples", "500",
                                   "--test-examples", "100", "--state-mb", "0.1", "--reps", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("record publishing (6 checkpoints): run time every/orderlab ")
    assert "x, records and states every/orderlab " in out[-1]
    assert (Store.write_record, run_module.PUBLISH_SHARE) == before      # it puts back what it timed


def _open_run(tmp_path, monkeypatch):
    """A NetworkRun of digits (60 + 30 examples) in a fresh store, publication deferred."""
    from orderlab.trainer.data import load_dataset
    monkeypatch.setattr(run_module.PublishClock, "due", lambda self, step: False)
    store = Store(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    ds = load_dataset("digits", train_subset=60, test_subset=30)
    ctx = run_module.prepare_study(store, "direct", ds, ("train", "test"))
    return store, ds, run_module.NetworkRun(ctx, "mlp", 0, {}, 1.0)


def _results(ds, c):
    rng = np.random.default_rng(c)
    return {s: (rng.random(n) < 0.5, rng.integers(0, 10, n), rng.random(n).astype(np.float32))
            for s, n in (("train", len(ds.y_train)), ("test", len(ds.y_test)))}


def test_a_checkpoint_refused_halfway_leaves_the_record_whole(tmp_path, monkeypatch):
    """A checkpoint whose second split has the wrong size is refused before anything is appended:
    the run's end, which publishes what is unpublished, then writes a readable record of the good
    checkpoints (a first split appended alone made the end publish a record no one could read)."""
    store, ds, run = _open_run(tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="split test"):
        with run:
            run.carry_unpublished()                         # as a saved training state would
            for c in range(3):
                run.checkpoint(c / 4, c, _results(ds, c), {"test_acc": 0.5})
            bad = _results(ds, 3)
            bad["test"] = tuple(a[:-1] for a in bad["test"])
            run.checkpoint(0.75, 3, bad, {"test_acc": 0.5})
    rec = store.load_record(run.run_id)
    assert store.get_run(run.run_id).status == "FAILED" and rec.n_checkpoints == 3


def test_a_failed_last_publication_still_writes_the_metrics(tmp_path, monkeypatch):
    """The run's end publishes the record, then flushes the metrics: a failure of the first does
    not keep the second from the store (the run ends FAILED, saying why)."""
    from mlflow.tracking import MlflowClient
    store, ds, run = _open_run(tmp_path, monkeypatch)
    monkeypatch.setattr(run_module, "FLUSH_EVERY_S", 1000.0)
    publish = Store.write_record

    def full_disk(self, run_id, record, *a, **k):
        if record.n_checkpoints > 1:
            raise OSError(28, "No space left on device")
        return publish(self, run_id, record, *a, **k)
    monkeypatch.setattr(Store, "write_record", full_disk)
    with pytest.raises(OSError):
        with run:
            run.carry_unpublished()
            for c in range(3):
                run.checkpoint(c / 4, c, _results(ds, c), {"test_acc": c / 10})
    info = store.get_run(run.run_id)
    assert info.status == "FAILED" and "No space left" in info.tags["orderlab.error"]
    assert sorted(m.step for m in MlflowClient(store.uri).get_metric_history(run.run_id, "test_acc")) == [0, 1, 2]


def test_when_the_store_fails_to_end_the_run_too_the_first_failure_is_still_said(tmp_path, monkeypatch):
    """A last publication that fails, then a store that cannot mark the run FAILED either (a tracking
    server gone): the error raised names the store's failure and, as its cause, the publication's."""
    store, ds, run = _open_run(tmp_path, monkeypatch)
    publish = Store.write_record

    def full_disk(self, run_id, record, *a, **k):
        if record.n_checkpoints > 1:
            raise OSError(28, "No space left on device")
        return publish(self, run_id, record, *a, **k)

    def gone(self, *a, **k):
        raise ConnectionError("tracking server stopped answering")
    monkeypatch.setattr(Store, "write_record", full_disk)
    with pytest.raises(ConnectionError) as raised:
        with run:
            monkeypatch.setattr(Store, "end_run", gone)
            run.carry_unpublished()
            for c in range(3):
                run.checkpoint(c / 4, c, _results(ds, c))
    assert isinstance(raised.value.__cause__, OSError) and raised.value.__cause__.errno == 28


def test_checkpoints_with_nothing_new_to_log_still_send_a_heartbeat(tmp_path, monkeypatch):
    """A run restarted in place records again checkpoints whose metrics the store has; with its
    record not due, such a checkpoint queues no metric and no tag, but a flush after it still tells
    the store the run is alive (on another host, 5 minutes without a heartbeat reads as STALE)."""
    store, ds, run = _open_run(tmp_path, monkeypatch)
    monkeypatch.setattr(run_module, "FLUSH_EVERY_S", 0.0)
    with run:
        run.carry_unpublished()
        run._logged = {0, 1, 2}                       # what a resume reads from the store
        beats = []
        for c in range(3):
            run.checkpoint(c / 4, c, _results(ds, c))
            beats.append(store.get_run(run.run_id).tags.get("orderlab.heartbeat"))
    assert None not in beats and len(set(beats)) == 3, beats


def test_learners_publish_every_checkpoint(tmp_path, monkeypatch):
    """Learners save no training state, so nothing would carry an unpublished checkpoint through a
    kill: their records are published at every checkpoint, whatever the clock says."""
    monkeypatch.setattr(run_module.PublishClock, "due", lambda self, step: False)
    publish, sizes = Store.write_record, []

    def counted(self, run_id, record, *a, **k):
        sizes.append(record.n_checkpoints)
        return publish(self, run_id, record, *a, **k)
    monkeypatch.setattr(Store, "write_record", counted)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    train_study(TrainConfig(study="learn", tracking_uri=uri, **{**SMALL, "archs": ["logistic"]}))
    [run] = Store(uri).list_runs("learn")
    n = Store(uri).load_record(run).n_checkpoints
    assert n > 2 and sizes == list(range(1, n + 1))


def test_each_run_names_the_device_it_trained_on(tmp_path):
    """--device auto is what the params keep; the tag says where the network really trained (alone,
    in an ensemble, or a scikit-learn learner, which always fits on the CPU)."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    train_study(TrainConfig(study="dev", tracking_uri=uri, **{**SMALL, "seeds": [0, 1, 2], "device": "auto"},
                            ensemble=2))
    train_study(TrainConfig(study="dev", tracking_uri=uri, **{**SMALL, "archs": ["knn"], "device": "auto"}))
    runs = Store(uri).list_runs("dev")
    assert len(runs) == 4
    client = MlflowClient(uri)
    for r in runs:
        run = client.get_run(r.run_id)
        assert run.data.tags["orderlab.device"] == "cpu" and run.data.params["device"] == "auto", r.name


def test_a_run_whose_end_the_store_could_not_take_is_shown_stale(tmp_path, monkeypatch):
    """A tracking server that stopped answering mid-training: the run stays RUNNING in the store,
    then STALE, while its progress row and the overall bar said FAILED. A run this process never
    made RUNNING (its resume failed before) is not said to be STALE."""
    from orderlab.store import StoreError
    from orderlab.trainer.progress import RichReporter

    def gone(self, *args, **kwargs):
        raise StoreError("tracking server http://127.0.0.1:9 stopped answering; restart it and retry")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    rep = RichReporter()
    rep.progress.disable = True             # no drawing: the rows' fields are what is checked
    with monkeypatch.context() as m:
        m.setattr(Store, "end_run", gone)
        with pytest.raises(StoreError, match="stopped answering"):
            train_study(TrainConfig(study="gone", tracking_uri=uri, **SMALL), rep)
    assert rep.progress.tasks[-1].fields["info"] == "[magenta]STALE[/]"
    assert rep.progress.tasks[0].fields["info"] == "0/1 done, [magenta]1 stale[/]"
    [run] = Store(uri).list_runs("gone")
    assert run.status in ("RUNNING", "STALE")               # as the row says it will show
    rep.__exit__(None, None, None)
    Store(uri).end_run(run.run_id, "KILLED")
    from orderlab.trainer.resume import resume_runs
    rep = RichReporter()
    rep.progress.disable = True
    with monkeypatch.context() as m:
        m.setattr(Store, "reclaim", gone)                   # it stays KILLED: its resume failed
        with pytest.raises(StoreError, match="stopped answering"):
            resume_runs([run.run_id], tracking_uri=uri, device="cpu", reporter=rep)
    infos = [str(t.fields.get("info")) for t in rep.progress.tasks]
    assert infos[0] == "0/1 done, [red]1 failed[/]" and not any("STALE" in i or "stale" in i for i in infos), infos
    assert Store(uri).get_run(run.run_id).status == "KILLED"
    rep.__exit__(None, None, None)


def test_a_run_whose_start_fails_after_it_is_running_is_ended(tmp_path, monkeypatch):
    """A resume that failed after its run was made RUNNING again (reading its metrics, say) left it
    RUNNING, then STALE, though the store could take its end: it ends FAILED, with why."""
    from orderlab.trainer.resume import resume_runs
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    train_study(TrainConfig(study="start", tracking_uri=uri, **SMALL), Reporter())
    [run] = Store(uri).list_runs("start")
    Store(uri).end_run(run.run_id, "KILLED")

    def boom(self, *args, **kwargs):
        raise RuntimeError("boom")
    with monkeypatch.context() as m:
        m.setattr(Store, "metric_steps", boom)
        resume_runs([run.run_id], tracking_uri=uri, device="cpu", reporter=Reporter(), force=True)
    after = Store(uri).get_run(run.run_id)
    assert after.status == "FAILED" and "RuntimeError: boom" in (after.error or ""), (after.status, after.error)
