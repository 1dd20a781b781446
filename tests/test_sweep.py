"""`orderlab sweep`: parallel workers writing one SQLite store while a reader polls it; dead workers
retried by resuming their runs; what fails twice is listed with its reason; Ray."""
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import module_store_uri
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.store import Store
from orderlab.trainer.sweep import GPU_DRIVER_FILES

runner = CliRunner()
SMALL = ["--dataset", "digits", "--train-subset", "200", "--test-subset", "100", "--epochs", "2",
         "--record-every", "0.5", "--device", "cpu"]


store_uri = module_store_uri()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def same_record(a, b):
    return all(np.array_equal(getattr(a.split(s), f), getattr(b.split(s), f))
               for s in ("train", "test") for f in ("correct_bits", "predicted", "p_true"))


@pytest.mark.slow
def test_tasks_are_labelled_by_their_networks():
    from orderlab.trainer.sweep import Task
    assert Task(0, "train", arch="mlp", seeds=[3]).label == "mlp/s3"
    assert Task(0, "train", arch="cnn", seeds=[0, 1, 2, 3], attempt=2).label == "cnn/s0..s3 (x4) [try 2]"
    assert Task(0, "resume", arch="mlp", seeds=[7, 2], run_ids=["a", "b"]).label == "resume mlp/s2..s7 (x2)"
    assert Task(0, "resume", run_ids=["a", "b"]).label == "resume 2 runs"


def test_parallel_sweep_loses_nothing_while_a_reader_polls(store_uri, monkeypatch):
    """Three workers (their store calls relayed to the sweep's process), a separate `orderlab train`
    process writing the same SQLite file directly, and a reader polling it like the TUI, at once."""
    from mlflow.tracking import MlflowClient
    from orderlab.app.source import SourceError, StudySource
    from orderlab.trainer.sweep import Sweep
    polls, errors, stop = [], [], threading.Event()
    results, on_done = [], Sweep.on_done
    monkeypatch.setattr(Sweep, "on_done", lambda self, task, result: results.append(result) or on_done(
        self, task, result))

    def reader():  # what the TUI does while a study trains: list studies, load the study, again
        source = StudySource(store_uri)
        while not stop.is_set():
            try:
                source.list_studies()
                if "par" in [s.name for s in Store(store_uri).list_studies()]:
                    polls.append(len(source.load(("par",), "test").runs))
            except SourceError:
                pass          # "store busy, retry": the TUI shows it and polls again
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
            stop.wait(0.2)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    direct = subprocess.Popen([sys.executable, "-m", "orderlab.cli", "train", "--arch", "mlp", "--seeds", "7,8",
                               "--study", "par-direct", *SMALL, "--tracking-uri", store_uri, "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        r = invoke("sweep", "--arch", "mlp", "--seeds", "0-3", "--workers", "3", "--study", "par", *SMALL,
                   "--tracking-uri", store_uri, "--quiet")
        direct_out = direct.communicate(timeout=300)[0]
    finally:
        stop.set()
        t.join(timeout=30)
    assert r.exit_code == 0, (r.output, r.exception)
    assert direct.returncode == 0, direct_out
    assert "4 finished, 0 failed" in r.output
    assert not errors and polls, (errors, polls)
    # the workers never loaded MLflow: the sweep's process wrote for them
    assert len(results) == 4 and not any(x.get("imported_mlflow", True) for x in results), results
    store = Store(store_uri)
    runs = store.list_runs("par")
    assert [(x.seed, x.status, x.checkpoints) for x in runs] == [(s, "FINISHED", 5) for s in range(4)]
    # ... in the workers' names: a run's pid is the process that trained it (what staleness checks)
    pids = {x.tags["orderlab.pid"] for x in runs}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 3, pids
    direct_runs = store.list_runs("par-direct")
    assert [(x.seed, x.status, x.checkpoints) for x in direct_runs] == [(7, "FINISHED", 5), (8, "FINISHED", 5)]
    client = MlflowClient(store_uri)
    for run in runs + direct_runs:
        rec = store.load_record(run)
        assert rec.n_checkpoints == 5 and rec.epoch[0] == 0 and rec.epoch[-1] == pytest.approx(2)
        for key, n in (("test_acc", 5), ("train_acc", 5), ("lr", 5), ("loss", 4)):
            assert len(client.get_metric_history(run.run_id, key)) == n, (run.seed, key)
    # a network of the sweep is the network `orderlab train` makes
    r = invoke("train", "--arch", "mlp", "--seeds", "3", "--study", "par-check", *SMALL, "--tracking-uri",
               store_uri, "--quiet")
    assert r.exit_code == 0
    assert same_record(store.load_record(store.list_runs("par-check")[0]), store.load_record(runs[3]))


class Killer:
    """A sweep display that SIGKILLs the worker training ``seed`` after a checkpoint: on the first
    try only, or on every try."""

    def __init__(self, once: int, always: int):
        self.once, self.always = once, always
        self.pid, self.names, self.killed, self.retries = {}, {}, [], []

    def start(self, *a):
        pass

    def stop(self):
        pass

    def message(self, text):
        pass

    def task_done(self, task, runs, again):
        self.retries += [t.label for t in again]

    def event(self, ev, tasks):
        # As early as each case allows: the training takes milliseconds, and a kill sent at a late
        # checkpoint's event could arrive after the network had finished (seen once in CI)
        if ev[0] == "task":
            self.pid[ev[1]] = ev[2]
        elif ev[0] == "network":
            self.names.setdefault(ev[1], []).append(ev[2])
            if ev[2] == f"mlp/s{self.always}":          # its run exists: killed before it trains
                self._kill(ev[1])
        elif ev[0] == "progress" and ev[3]:
            # the first trained checkpoint: the resume must continue from a recorded one
            if f"mlp/s{self.once}" in self.names.get(ev[1], []) and tasks[ev[1]].attempt == 1 and ev[2] > 0:
                self._kill(ev[1])

    def _kill(self, task_id):
        if task_id not in self.killed:
            self.killed.append(task_id)
            os.kill(self.pid[task_id], signal.SIGKILL)


@pytest.mark.slow
def test_dead_workers_retried_once_then_reported(store_uri, capsys):
    from orderlab.commands.sweep import _summary
    from orderlab.trainer.api import TrainConfig
    from orderlab.trainer.sweep import SweepOptions, run_sweep
    cfg = TrainConfig(study="kill", archs=["mlp"], seeds=[0, 1, 2], dataset="digits", train_subset=200,
                      test_subset=100, epochs=2, record_every=0.5, device="cpu", tracking_uri=store_uri, quiet=True)
    killer = Killer(once=0, always=1)
    result = run_sweep(cfg, SweepOptions(executor="local", workers=2), display=killer)
    by_name = {o.name: o for o in result.outcomes}
    assert by_name["mlp/s0"].status == "FINISHED" and by_name["mlp/s0"].attempts == 2
    assert by_name["mlp/s2"].status == "FINISHED" and by_name["mlp/s2"].attempts == 1
    failed = by_name["mlp/s1"]
    assert failed.status == "STALE" and failed.attempts == 2 and "died (exit code -9)" in failed.error
    assert [o.name for o in result.failed] == ["mlp/s1"]
    # the retries name their networks (what the progress bars and an interrupted sweep's message show)
    assert sorted(killer.retries) == ["resume mlp/s0 [try 2]", "resume mlp/s1 [try 2]"]
    _summary(result)
    out = capsys.readouterr().out
    assert "mlp/s1" in out and "died" in out and "--resume kill" in out
    assert "2 finished (1 on a second try: mlp/s0), 1 failed" in " ".join(out.split()), out
    store = Store(store_uri)
    # the killed-then-resumed network equals one never interrupted
    r = invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "kill-check", *SMALL, "--tracking-uri",
               store_uri, "--quiet")
    assert r.exit_code == 0
    resumed = next(x for x in store.list_runs("kill") if x.seed == 0)
    assert same_record(store.load_record(resumed), store.load_record(store.list_runs("kill-check")[0]))
    # the same sweep again: finished networks are skipped, the stale one resumed in its own run
    r = invoke("sweep", "--arch", "mlp", "--seeds", "0-2", "--study", "kill", *SMALL, "--workers", "1",
               "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 0, r.output
    assert "1 finished, 0 failed, 2 already done" in r.output
    runs = store.list_runs("kill")
    assert [(x.seed, x.status, x.checkpoints) for x in runs] == [(s, "FINISHED", 5) for s in range(3)]
    # nothing left to resume
    r = invoke("sweep", "--resume", "kill", "--tracking-uri", store_uri, "--quiet")
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "sweep kill: nothing to resume; 3 networks FINISHED, none STALE, KILLED, " \
        "FAILED or never started" in said and "0 finished" not in said, r.output


def long_sweep(store_uri, study, *, background: bool, quiet: bool):
    """A sweep of two 300-epoch mlps on 2 workers in a session of its own (SIGINT ignored, as a script's
    background job has it, with ``background``), once both have recorded 2 checkpoints: (process,
    store, runs, the deadline its waits share)."""
    import time
    proc = subprocess.Popen([sys.executable, "-m", "orderlab.cli", "sweep", "--arch", "mlp", "--seeds", "0-1",
                             "--workers", "2", "--epochs", "300", "--record-every", "1", "--device", "cpu",
                             "--study", study, *(["--quiet"] if quiet else []), "--tracking-uri", store_uri],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None)
    store = Store(store_uri)
    deadline = time.monotonic() + 120
    runs = []
    while time.monotonic() < deadline and not (len(runs) == 2 and all(r.checkpoints >= 2 for r in runs)):
        time.sleep(0.3)
        try:
            runs = store.list_runs(study)
        except Exception:  # noqa: BLE001 - the study does not exist yet
            runs = []
    return proc, store, runs, deadline


@pytest.mark.slow
@pytest.mark.parametrize("sig, group", [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, True),
                                        (signal.SIGTERM, False), (signal.SIGTERM, None)],
                         ids=["ctrl-c-in-a-terminal", "kill-INT-main", "timeout-TERM-group", "kill-TERM-main",
                              "kill-TERM-background"])
def test_ctrl_c_or_sigterm_marks_the_workers_runs_killed(store_uri, sig, group):
    """Ctrl-C in a terminal reaches the sweep and its workers (one process group): the workers mark
    their runs KILLED through the sweep's process, which keeps answering until they are gone. A
    SIGINT to the sweep's process alone (``kill -INT``, a notebook) is passed on to the workers.
    SIGTERM does the same: `timeout` and schedulers send it to the whole group, `kill` to one; also
    (``group`` None) to a sweep a script started in the background, whose shell ignores SIGINT for it."""
    study = f"stop-{sig.name}-{group}"
    proc, store, runs, _ = long_sweep(store_uri, study, background=group is None, quiet=True)
    if group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), (out, err)
    # every worker stopped and ended its runs (none left for the sweep to give up on after a while)
    assert "had not stopped" not in err and "interrupted: mlp/s0, mlp/s1 marked KILLED" in err, err
    assert "Traceback" not in err and f"--resume {study}" in err
    runs = store.list_runs(study)
    assert [r.status for r in runs] == ["KILLED", "KILLED"], [(r.status, r.tags.get("orderlab.error")) for r in runs]
    assert all(store.load_record(r).n_checkpoints == r.checkpoints >= 2 for r in runs)


def _spawned_workers(pid: int) -> list[int]:
    """The sweep's worker processes that multiprocessing has spawned (they may still be importing)."""
    out = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(entry))
    return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers in /proc")
@pytest.mark.parametrize("after", [0.0, 0.15, 0.4])
def test_ctrl_c_while_the_workers_start_prints_no_traceback(store_uri, after):
    """Ctrl-C as the workers were starting printed a traceback for each (from multiprocessing's
    spawn_main as it imported typer, or a "Fatal Python error" in its site import) before the
    sweep's own line: they start with SIGINT blocked, and take it once they can end their runs."""
    import time
    proc = subprocess.Popen([sys.executable, "-m", "orderlab.cli", "sweep", "--arch", "mlp", "--seeds", "0-3",
                             "--workers", "2", "--epochs", "1", "--train-subset", "200", "--test-subset", "100",
                             "--device", "cpu", "--study", f"early-{after}", "--quiet", "--tracking-uri", store_uri],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not _spawned_workers(proc.pid):
        time.sleep(0.002)
    assert _spawned_workers(proc.pid), "no worker started"
    time.sleep(after)                                   # a worker's start-up imports take about a second
    os.killpg(proc.pid, signal.SIGINT)                  # Ctrl-C in a terminal: the whole group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "Fatal" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted"), err


@pytest.mark.slow
def test_kill_int_of_a_background_sweeps_process_group_does_nothing(store_uri):
    """A script's background sweep ignores SIGINT, as its shell starts it so; its workers stopped on
    `kill -INT` of the process group, and the sweep carried on, retrying their networks as "worker
    process died (exit code 0)". Now nothing stops; SIGTERM then stops it all as documented."""
    import time
    study = "bg-int"
    proc, store, runs, deadline = long_sweep(store_uri, study, background=True, quiet=False)
    os.killpg(proc.pid, signal.SIGINT)
    before = {r.run_id: r.checkpoints for r in runs}
    while time.monotonic() < deadline and not all(r.checkpoints > before[r.run_id] + 1 for r in runs):
        time.sleep(0.3)
        runs = store.list_runs(study)
    assert proc.poll() is None
    assert [(r.run_id in before, r.status) for r in runs] == [(True, "RUNNING")] * 2    # the same runs train on
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "retrying" not in out + err and "died" not in out + err, (out, err)
    assert "interrupted: mlp/s0, mlp/s1 marked KILLED" in err, err
    assert [r.status for r in store.list_runs(study)] == ["KILLED", "KILLED"]


@pytest.mark.slow
def test_resume_starts_the_networks_an_interrupted_sweep_never_reached(store_uri, monkeypatch, tmp_path):
    """Ctrl-C after the first of three networks: the other two have no run. `sweep --resume STUDY`
    starts them with the sweep's own settings (kept in the study as its plan), on the resume's device."""
    from orderlab.store import SWEEP_ARTIFACT_DIR
    from orderlab.trainer.sweep import Sweep
    real = Sweep.on_done

    def stop_after_first(self, task, result):
        real(self, task, result)
        raise KeyboardInterrupt
    monkeypatch.setattr(Sweep, "on_done", stop_after_first)
    args = ["sweep", "--arch", "mlp", "--seeds", "0-2", "--study", "unreached", "--dataset", "digits",
            "--train-subset", "120", "--test-subset", "60", "--epochs", "1", "--record-every", "0.5",
            "--lr", "0.003", "--device", "cpu", "--workers", "1", "--tracking-uri", store_uri, "--quiet"]
    r = invoke(*args)
    # the store named on the command line is named in the command to run (pasted elsewhere it works)
    assert r.exit_code == 130 and (f"continue with `orderlab sweep --resume unreached --tracking-uri {store_uri}`"
                                   in " ".join(r.stderr.split())), r.stderr
    store = Store(store_uri)
    assert [x.seed for x in store.list_runs("unreached")] == [0]
    monkeypatch.setattr(Sweep, "on_done", real)
    # the store not named (the default ./mlruns): the command to run names none either, as train's does
    # (the sweep made its URI absolute for its workers, and the line named it)
    here = tmp_path / "bare"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(Sweep, "on_done", stop_after_first)
    r = invoke(*[a for a in args if a not in ("--tracking-uri", store_uri)])
    assert r.exit_code == 130 and "continue with `orderlab sweep --resume unreached`" in " ".join(r.stderr.split()), \
        r.stderr
    monkeypatch.setattr(Sweep, "on_done", real)
    # a plan from before the planned-architecture tags: the resume sets them
    from orderlab.store import TAG_PLANNED_ARCH
    store.client.delete_experiment_tag(store.experiment_id("unreached"), TAG_PLANNED_ARCH + "mlp")
    planned = []
    real_plan = Store.plan_archs
    monkeypatch.setattr(Store, "plan_archs", lambda self, study, archs: planned.append((study, list(archs)))
                        or real_plan(self, study, archs))
    r = invoke("sweep", "--resume", "unreached", "--workers", "1", "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 0, r.output
    assert ("unreached", ["mlp"]) in planned
    assert TAG_PLANNED_ARCH + "mlp" in store.client.get_experiment_by_name("unreached").tags
    runs = store.list_runs("unreached")
    assert [(x.seed, x.status, x.checkpoints) for x in runs] == [(s, "FINISHED", 3) for s in range(3)]
    first = {k: v for k, v in runs[0].params.items() if k not in ("seed", "device")}
    for x in runs[1:]:              # the sweep's settings (--lr 0.003, subsets, epochs), not the defaults
        assert {k: v for k, v in x.params.items() if k not in ("seed", "device")} == first
        assert x.params["device"] == "auto"         # where the resume runs: its own --device
    assert first["lr"] == "0.003"
    # the same sweep again writes no second plan, and has nothing left to do
    assert invoke(*args).exit_code == 0
    folder = store._artifact_dir(store.study_parent("unreached")) / SWEEP_ARTIFACT_DIR
    plans = list(folder.glob("*.json"))
    assert len(plans) == 1
    # a sweep refused for settings the study's runs contradict leaves no plan to train them with
    other = [{"0-2": "3", "0.003": "0.01"}.get(a, a) for a in args]      # seed 3, another --lr
    r = invoke(*other)
    assert r.exit_code == 2 and "other settings" in r.stderr, r.stderr
    assert len(list(folder.glob("*.json"))) == 1
    # a damaged plan is named; the resume goes on without it
    plans[0].write_text("{not json")
    r = invoke("sweep", "--resume", "unreached", "--workers", "1", "--tracking-uri", store_uri)
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "cannot be read" in said and plans[0].name in said, r.output


def test_resume_starts_the_networks_an_interrupted_train_never_reached(store_uri, monkeypatch):
    """`train --seeds 0-2` stopped during its first network: analysis names the study's resume,
    `sweep --resume STUDY`, which continued mlp/s0 and left seeds 1 and 2 untrained (no plan)."""
    import orderlab.trainer.run as run_mod
    real = run_mod.NetworkRun

    def first_only(ctx, arch, seed, *a, **k):
        if seed > 0:
            raise KeyboardInterrupt
        return real(ctx, arch, seed, *a, **k)
    monkeypatch.setattr(run_mod, "NetworkRun", first_only)
    r = invoke("train", "--arch", "mlp", "--seeds", "0-2", "--study", "cut", "--train-subset", "120",
               "--test-subset", "60", "--epochs", "1", "--record-every", "0.5", "--lr", "0.003",
               "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 130, r.output
    monkeypatch.setattr(run_mod, "NetworkRun", real)
    store = Store(store_uri)
    assert [x.seed for x in store.list_runs("cut")] == [0]
    r = invoke("sweep", "--resume", "cut", "--workers", "1", "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 0, r.output
    runs = store.list_runs("cut")
    assert [(x.seed, x.status, x.checkpoints) for x in runs] == [(s, "FINISHED", 3) for s in range(3)]
    assert all(x.params["lr"] == "0.003" and x.params["train_subset"] == "120" for x in runs)


@pytest.mark.slow
def test_ctrl_c_while_the_sweep_answers_a_workers_store_call_still_ends_every_run(store_uri, monkeypatch):
    """The workers' store calls are made by the sweep's process, which sends each answer back. A
    Ctrl-C landing between the call and its answer lost the answer: the worker waited for it forever,
    sent no progress (so the interrupt was never passed on to it) and its run stayed RUNNING."""
    calls = []
    real = Store.log_metric_points

    def then_ctrl_c(self, *a, **kw):
        out = real(self, *a, **kw)
        calls.append(1)
        if len(calls) == 1:                         # the first flush of metrics, ~2 s in
            signal.raise_signal(signal.SIGINT)      # to the sweep's process alone, after the call
        return out
    monkeypatch.setattr(Store, "log_metric_points", then_ctrl_c)
    r = invoke("sweep", "--arch", "mlp", "--seeds", "0-1", "--workers", "2", "--study", "answer", *SMALL,
               "--epochs", "5000", "--record-every", "1", "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 130 and calls, (r.exit_code, r.output)
    assert "had not stopped" not in r.stderr and "interrupted: mlp/s0, mlp/s1 marked KILLED" in r.stderr, r.stderr
    assert [x.status for x in Store(store_uri).list_runs("answer")] == ["KILLED", "KILLED"]


@pytest.mark.slow
def test_resume_starts_no_planned_network_with_settings_the_study_contradicts(store_uri, monkeypatch):
    """Sweep A (--lr 0.003) is stopped before any run exists; sweep B (--lr 0.01) then trains mlp/s0
    and s1. `sweep --resume` must not train A's mlp/s2 with lr 0.003 beside them: it says so on
    stderr, --quiet or not, and the summary does not claim that nothing was left unstarted."""
    import orderlab.trainer.sweep as sweep_mod
    base = ["sweep", "--arch", "mlp", "--study", "mixed", "--dataset", "digits", "--train-subset", "120",
            "--test-subset", "60", "--epochs", "1", "--record-every", "1", "--device", "cpu", "--workers", "1",
            "--tracking-uri", store_uri, "--quiet"]

    def stop(*a, **k):
        raise KeyboardInterrupt
    # 1. interrupted while planning, before the plan is kept: only the command itself can go on
    monkeypatch.setattr(sweep_mod, "plan", stop)
    r = invoke(*base, "--seeds", "0-2", "--lr", "0.003")
    assert r.exit_code == 130 and "run the same sweep command again" in r.stderr, r.stderr
    monkeypatch.undo()
    # 2. planned and kept, then stopped before any network started
    monkeypatch.setattr(sweep_mod.LocalExecutor, "run", stop)
    r = invoke(*base, "--seeds", "0-2", "--lr", "0.003")
    assert r.exit_code == 130 and "--resume mixed" in r.stderr, r.stderr
    monkeypatch.undo()
    assert Store(store_uri).list_runs("mixed") == []
    assert invoke(*base, "--seeds", "0-1", "--lr", "0.01").exit_code == 0
    r = invoke("sweep", "--resume", "mixed", "--workers", "1", "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 0, r.output
    warning = " ".join(r.stderr.split())
    assert "warning: mlp/s2, planned by plan" in warning and "not started" in warning \
        and "lr=0.01 (asked: 0.003)" in warning, warning
    said = " ".join(r.stdout.split())
    assert "never started" not in said and "networks planned and not started" in said, said
    runs = Store(store_uri).list_runs("mixed")
    assert [(x.seed, x.params["lr"]) for x in runs] == [(0, "0.01"), (1, "0.01")]


def test_a_plan_keeps_a_data_folder_that_a_resume_elsewhere_finds(tmp_path, monkeypatch):
    from orderlab.trainer.api import TrainConfig
    from orderlab.trainer.api import plan_record
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig(study="s", archs=["mlp"], seeds=[0], data_dir="~/data", tracking_uri="x", device="cpu")
    assert plan_record(cfg)["data_dir"] == str(tmp_path / "data")
    assert plan_record(TrainConfig(study="s", archs=["mlp"], seeds=[0], data_dir="rel"))["data_dir"] == \
        str(tmp_path / "rel")
    assert not {"study", "tracking_uri", "device", "ensemble", "quiet"} & set(plan_record(cfg))


def test_a_sweep_interrupted_before_its_study_exists_says_nothing_was_recorded(store_uri, monkeypatch):
    import orderlab.trainer.data as data_mod

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(data_mod, "load_dataset", ctrl_c)
    r = invoke("sweep", "--arch", "mlp", "--seeds", "0-1", "--study", "never", *SMALL, "--workers", "1",
               "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 130
    assert "interrupted before the study was made: nothing was recorded" in r.stderr and "KILLED" not in r.stderr
    assert "never" not in Store(store_uri).study_names()


def test_a_sweep_interrupted_while_its_store_cannot_be_read_yet_says_no_network_started(store_uri, monkeypatch):
    """Ctrl-C while MLflow was still being imported left the store unreadable for the last line, which
    then said running networks were marked KILLED and named a `sweep --resume` of a study that did
    not exist (5 times in 5 early interrupts)."""
    import orderlab.store as store_mod
    import orderlab.trainer.data as data_mod

    def ctrl_c(*a, **k):
        def broken(*a, **k):
            raise ImportError("cannot import name 'SqlExperiment' (partially initialized module)")
        monkeypatch.setattr(store_mod, "Store", broken)
        raise KeyboardInterrupt
    monkeypatch.setattr(data_mod, "load_dataset", ctrl_c)
    r = invoke("sweep", "--arch", "mlp", "--seeds", "0-1", "--study", "never2", *SMALL, "--workers", "1",
               "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 130
    assert r.stderr.strip() == "interrupted before any network started: nothing was trained; run the same command again"


@pytest.mark.slow
def test_a_worker_that_does_not_stop_is_reported_and_its_run_resumes(store_uri, monkeypatch):
    """Ctrl-C while a worker is frozen (stopped, swapping, stuck in I/O): the sweep waits its drain
    time, then says which networks it could not mark KILLED; they show as STALE once the worker is
    gone, and `sweep --resume` continues them with the rest."""
    import orderlab.trainer.sweep as sweep_mod
    monkeypatch.setattr(sweep_mod, "DRAIN_SECONDS", 5.0)
    frozen: list[int] = []

    class FreezeThenCtrlC(sweep_mod.SilentDisplay):
        pids: dict[int, int] = {}
        seen: dict[int, int] = {}                     # task -> checkpoints reported
        frozen_task: list[int] = []
        interrupted: list[bool] = []

        def event(self, ev, tasks):
            if ev[0] == "task":
                self.pids[ev[1]] = ev[2]
            elif ev[0] == "progress" and ev[3] and not self.interrupted:   # once: not in the resume
                self.seen[ev[1]] = self.seen.get(ev[1], 0) + 1
                if not frozen and self.seen[ev[1]] >= 2:
                    # The first network at its second checkpoint stops at once: it cannot finish
                    # however late the other worker starts (a worker's start can take seconds here).
                    self.frozen_task.append(ev[1])
                    frozen.append(self.pids[ev[1]])
                    os.kill(frozen[0], signal.SIGSTOP)
                if frozen and any(t not in self.frozen_task for t in self.seen):   # the other one trains
                    for pid in set(self.pids.values()) - set(frozen):
                        os.kill(pid, signal.SIGINT)           # Ctrl-C in a terminal reaches every worker
                    self.interrupted.append(True)
                    raise KeyboardInterrupt
    monkeypatch.setattr(sweep_mod, "SilentDisplay", FreezeThenCtrlC)
    try:
        r = invoke("sweep", "--arch", "mlp", "--seeds", "0-1", "--workers", "2", "--study", "frozen", *SMALL,
                   "--epochs", "20", "--tracking-uri", store_uri, "--quiet")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGCONT)
    assert r.exit_code == 130 and frozen, (r.exit_code, r.output, r.exception)
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in frozen):
        time.sleep(0.1)
    store = Store(store_uri)
    runs = store.list_runs("frozen")
    assert sorted(x.status for x in runs) == ["KILLED", "STALE"]
    stuck = next(x for x in runs if x.status == "STALE")
    assert (f"the worker training mlp/s{stuck.seed} had not stopped after 5 s" in r.stderr
            and "--resume frozen" in r.stderr), r.stderr
    r = invoke("sweep", "--resume", "frozen", "--workers", "1", "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 0, r.output
    assert [x.status for x in store.list_runs("frozen")] == ["FINISHED", "FINISHED"]


@pytest.mark.skipif(any(map(os.path.exists, GPU_DRIVER_FILES)) or not sys.platform.startswith("linux"),
                    reason="checks a Linux machine without a GPU driver")
def test_cpu_sweep_main_process_imports_no_torch(store_uri):
    """With the default --device auto on a machine without a GPU driver, the sweep's own process
    plans, relays and summarises without torch (~1.5 s of CPU its starting workers would lose)."""
    code = ("import sys\n"
            "from orderlab.trainer.api import TrainConfig\n"
            "from orderlab.trainer.sweep import SweepOptions, run_sweep\n"
            "if __name__ == '__main__':\n"
            "    cfg = TrainConfig(study='no-torch', archs=['mlp'], seeds=[0, 1], dataset='digits', train_subset=100,\n"
            f"                      test_subset=50, epochs=1, tracking_uri={store_uri!r}, quiet=True)\n"
            "    r = run_sweep(cfg, SweepOptions(workers=2))\n"
            "    print(len(r.outcomes), len(r.failed), 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "0", "False"]


@pytest.mark.parametrize("args, needle", [
    (["--arch", "mlp", "--executor", "slurm"], "unknown executor 'slurm'"),
    (["--arch", "mlp", "--workers", "0"], "--workers must be at least 1"),
    (["--resume", "x", "--arch", "mlp"], "drop --arch"),
    ([], "no architecture given"),
    (["--arch", "nope"], "unknown architecture 'nope'"),
    (["--resume", "nothere"], "no study named 'nothere'"),
    (["--arch", "mlp", "--gpus-per-run", "2"], "at most 1"),
    (["--arch", "mlp", "--gpus-per-run", "nan"], "--gpus-per-run must be a share of a GPU, 0 to 1 (got nan)"),
    (["--arch", "mlp", "--gpus-per-run", "-1"], "--gpus-per-run must be a share of a GPU, 0 to 1 (got -1)"),
    # the option given is the one named (it used to name --gpus-per-run for a bad --cpus-per-run)
    (["--arch", "mlp", "--cpus-per-run", "0"], "error: --cpus-per-run must be more than 0 (got 0)"),
    (["--arch", "mlp", "--gpus-per-run", "0.5", "--device", "cpu"], "--device cpu trains on the CPU"),
    (["--arch", "mlp", "--ray-address", "127.0.0.1:1"], "--ray-address is for --executor ray"),
    (["--arch", "mlp", "--epochs", "inf"], "--epochs must be a positive number"),
    (["--resume", "x", "--epochs", "5", "--seeds", "0-3", "--workers", "2"], "drop --seeds, --epochs (only"),
    (["--resume", "x", "--dataset", "mnist"], "drop --dataset"),
    (["--arch", "text-bag", "--dataset", "docstrings", "--augment"], "is text data: leave --augment out"),
])
def test_sweep_input_errors_are_one_line(args, needle, store_uri):
    study = [] if "--resume" in args else ["--study", "refused"]
    r = invoke("sweep", *args, *study, "--tracking-uri", store_uri, "--quiet")
    assert r.exit_code == 2 and needle in r.stderr and "\n" not in r.stderr.strip(), (r.output, r.stderr)
    assert "refused" not in Store(store_uri).study_names()          # refused before the study is made


@pytest.mark.skipif(any(map(os.path.exists, GPU_DRIVER_FILES)) or not sys.platform.startswith("linux"),
                    reason="checks a Linux machine without a GPU driver")
@pytest.mark.parametrize("args, needle", [
    (["--gpus-per-run", "0.5"], "no CUDA GPU is visible here"),
    (["--device", "cuda"], "--device cuda: no CUDA GPU is visible here"),
    # a local Ray instance has no GPU to give either: its tasks waited forever, without a word
    (["--executor", "ray", "--gpus-per-run", "0.5"], "the local Ray instance this sweep starts has none to give"),
    (["--executor", "ray", "--device", "cuda"], "--device cuda: no CUDA GPU is visible here"),
])
def test_sweep_refuses_gpus_on_a_machine_without_one(args, needle, store_uri, monkeypatch, tmp_path):
    if "ray" in args:
        pytest.importorskip("ray")
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        import ray._private.services as services          # no cluster left by `ray start` either
        monkeypatch.setattr(services, "get_ray_address_from_environment", lambda *a: None)
    test_sweep_input_errors_are_one_line(["--arch", "mlp", *args], needle, store_uri)


def test_a_ray_sweep_joining_a_cluster_is_not_refused_gpus_here(monkeypatch):
    """A CPU-only login node joining a GPU cluster (RAY_ADDRESS, or the last `ray start`) starts no Ray
    instance of its own: its GPU requests are the cluster's to meet."""
    pytest.importorskip("ray")
    import ray._private.services as services
    from orderlab.trainer.sweep import SweepOptions, check_options
    monkeypatch.setattr(services, "get_ray_address_from_environment", lambda *a: "10.0.0.5:6379")
    check_options(SweepOptions(executor="ray", gpus_per_run=0.5), "auto")
    check_options(SweepOptions(executor="ray"), "cuda")


def test_unreachable_ray_cluster_is_refused_at_once(store_uri):
    """`ray.init` retries an address where nothing listens for minutes; the sweep asks first."""
    pytest.importorskip("ray")
    import socket
    with socket.socket() as s:        # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    test_sweep_input_errors_are_one_line(["--arch", "mlp", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"],
                                         f"no Ray cluster answers at 127.0.0.1:{port}", store_uri)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")         # its Ray instance would be the cluster `auto` finds below
def test_sweep_on_a_local_ray_instance(store_uri):
    pytest.importorskip("ray")
    # a real process: Ray's own INFO lines and its token-authentication warning went to the terminal
    exe = os.path.join(os.path.dirname(sys.executable), "orderlab")
    out = subprocess.run([exe, "sweep", "--arch", "mlp", "--seeds", "0-1", "--executor", "ray", "--workers", "2",
                          "--study", "ray", *SMALL, "--tracking-uri", store_uri, "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out
    assert out.stdout.startswith("sweep ray: 2 finished") and out.stdout.count("\n") == 1, out
    assert " INFO " not in out.stderr and "Token authentication" not in out.stderr, out.stderr
    runs = Store(store_uri).list_runs("ray")
    assert [(x.seed, x.status, x.checkpoints) for x in runs] == [(0, "FINISHED", 5), (1, "FINISHED", 5)]


def _two_networks_training(store_uri: str, study: str, *executor: str):
    """A sweep of two long mlps in a session of its own, once both have recorded two checkpoints:
    (its process, the store, their runs)."""
    import time
    exe = os.path.join(os.path.dirname(sys.executable), "orderlab")
    proc = subprocess.Popen([exe, "sweep", "--arch", "mlp", "--seeds", "0-1", *executor, "--workers", "2",
                             "--epochs", "300", "--record-every", "1", "--device", "cpu", "--study", study,
                             "--quiet", "--tracking-uri", store_uri],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    store = Store(store_uri)
    deadline, runs = time.monotonic() + 180, []
    while time.monotonic() < deadline and not (len(runs) == 2 and all(r.checkpoints >= 2 for r in runs)):
        time.sleep(0.5)
        try:
            runs = store.list_runs(study)
        except Exception:  # noqa: BLE001 - the study does not exist yet
            runs = []
    assert len(runs) == 2 and all(r.checkpoints >= 2 for r in runs), runs
    return proc, store, runs


def _interrupted(proc, store, study: str) -> list:
    """Its exit code and last line, checked after Ctrl-C: both networks marked KILLED; their runs."""
    out, err = proc.communicate(timeout=120)
    runs = store.list_runs(study)
    assert proc.returncode == 130 and "interrupted: mlp/s0, mlp/s1 marked KILLED" in err, \
        (out, err, [(r.status, r.tags.get("orderlab.error")) for r in runs])
    assert [r.status for r in runs] == ["KILLED", "KILLED"], [(r.status, r.tags.get("orderlab.error")) for r in runs]
    return runs


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ctrl_c_on_a_ray_sweep_ends_its_running_networks_killed(store_uri):
    """Ray cancels the tasks (KeyboardInterrupt in each), which end their runs KILLED; the sweep waits
    for that before it shuts its Ray instance down (which killed them first: runs left STALE, and
    the last line said no network was training)."""
    pytest.importorskip("ray")
    proc, store, _ = _two_networks_training(store_uri, "ray-stop", "--executor", "ray")
    os.kill(proc.pid, signal.SIGINT)
    _interrupted(proc, store, "ray-stop")


def _lose_a_worker_after_ctrl_c(store_uri: str, study: str, *executor: str) -> None:
    """Ctrl-C to a sweep while one worker is stopped (SIGSTOP: deaf to it, it cannot end its run),
    killed once the other has ended its run: the sweep ends the dead worker's run KILLED, with why."""
    import time
    proc, store, runs = _two_networks_training(store_uri, study, *executor)
    worker = int(runs[0].tags["orderlab.pid"])
    assert worker != proc.pid
    os.kill(worker, signal.SIGSTOP)
    try:
        os.kill(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + 5     # well within the sweep's 10 s drain
        while time.monotonic() < deadline and store.list_runs(study)[1].status != "KILLED":
            time.sleep(0.2)                 # mlp/s1 stops; the sweep waits for mlp/s0's worker
    finally:
        os.kill(worker, signal.SIGKILL)
    runs = _interrupted(proc, store, study)
    assert runs[0].error == "interrupted (Ctrl-C or SIGTERM); its worker died before it could end the run"
    assert runs[1].error == "interrupted (Ctrl-C or SIGTERM)"


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_ray_worker_lost_after_ctrl_c_has_its_run_ended_killed_by_the_sweep(store_uri):
    """A Ray task whose worker dies while the sweep drains after Ctrl-C (killed; a raylet lost) ends
    without ending its run, and Ray reports it cancelled: the sweep ends the run KILLED, rather than
    leave it RUNNING to read STALE (the last line then said no network was training)."""
    pytest.importorskip("ray")
    _lose_a_worker_after_ctrl_c(store_uri, "ray-lost", "--executor", "ray")


@pytest.mark.slow
def test_a_local_worker_lost_after_ctrl_c_has_its_run_ended_killed_by_the_sweep(store_uri):
    """As with Ray: a local worker that dies while the sweep drains after Ctrl-C (killed, out of
    memory) has its run ended KILLED by the sweep, instead of left RUNNING to read STALE."""
    _lose_a_worker_after_ctrl_c(store_uri, "local-lost")


def test_a_sweep_refused_after_its_workers_started_says_one_line(store_uri):
    """The check against the study's settings comes after the workers were started (they warm up
    meanwhile): they are told to go, and exit without a word when the command ends."""
    small = ["--dataset", "digits", "--train-subset", "100", "--test-subset", "50", "--device", "cpu", "--quiet",
             "--tracking-uri", store_uri]
    assert invoke("train", "--study", "refused-late", "-a", "mlp", "--seeds", "0", "--epochs", "1", *small).exit_code == 0
    exe = os.path.join(os.path.dirname(sys.executable), "orderlab")
    out = subprocess.run([exe, "sweep", "--study", "refused-late", "-a", "mlp", "--seeds", "0-1", "--epochs", "2",
                          "--workers", "2", *small], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out
    assert out.stderr.startswith("error: study 'refused-late' already has mlp/s0") and out.stderr.count("\n") == 1, \
        out.stderr


class _FakeClock:
    """time.monotonic for the sweep module: each reading advances it 0.25 s, so how long a wait
    loop ran is told by the clock, not by the machine's speed."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        self.now += 0.25
        return self.now

    def time(self):                 # the wall clock: the same reading, not advancing it
        return self.now


def test_after_ctrl_c_the_sweep_ends_only_the_runs_its_dead_workers_left(monkeypatch):
    """Runs a task now over left unended: those whose process is gone (STALE) with a sign of life
    since the sweep began are ended KILLED; one still RUNNING (its worker may be ending it) is
    waited for, then named; another sweep's older STALE run and runs of other tasks are left as
    they were."""
    from types import SimpleNamespace
    import orderlab.trainer.sweep as sw
    clock = _FakeClock()
    monkeypatch.setattr(sw, "time", SimpleNamespace(monotonic=clock.monotonic, time=clock.time,
                                                    sleep=lambda s: None))

    def run(run_id, arch, seed, status, beat):
        return SimpleNamespace(run_id=run_id, arch=arch, seed=seed, status=status, start_time=0.0, checkpoints=3,
                               tags={"orderlab.heartbeat": str(beat)}, name=f"{arch}/s{seed}")

    class Store:
        def __init__(self, runs):
            self.runs, self.ended, self.reads = runs, [], 0

        def list_runs(self, study):
            self.reads += 1
            return self.runs

        def end_run(self, run_id, status, error=None):
            self.ended.append((run_id, status, error))

    since = 500.0
    store = Store([run("a", "mlp", 0, "STALE", 600), run("b", "mlp", 1, "STALE", 400),    # b: an older sweep's
                   run("c", "mlp", 2, "KILLED", 600), run("d", "mlp", 3, "STALE", 600),   # d: another task's
                   run("e", "cnn", 0, "RUNNING", 600)])
    ended = [sw.Task(1, "train", arch="mlp", seeds=[0, 1, 2]), sw.Task(2, "train", arch="cnn", seeds=[0])]
    wait_until = clock.now + 3.0
    unended = sw._end_lost_runs(store, "s", ended, since, wait_until)
    assert store.ended == [("a", "KILLED", "interrupted (Ctrl-C or SIGTERM); its worker died before it could end the run")]
    assert [t.id for t in unended] == [2]               # e: still RUNNING at the deadline
    assert clock.now >= wait_until and store.reads > 2  # waited for it, reading the store again
    # once that worker ends its run, the wait ends with nothing named
    store.runs[-1].status, store.ended = "KILLED", []
    assert sw._end_lost_runs(store, "s", ended, since, clock.now + 100) == [] and len(store.ended) == 1
    # a store that fails (a server gone) or a second Ctrl-C: nothing raised, nothing named
    def broken(study):
        raise KeyboardInterrupt
    store.list_runs = broken
    assert sw._end_lost_runs(store, "s", ended, since, clock.now + 100) == []


class _Alive:
    pid = 2 ** 22 + 12345       # never signalled: its slot sends no progress

    def is_alive(self):
        return True


def test_the_drain_waits_for_busy_workers_only_and_names_those_that_did_not_stop(monkeypatch):
    """After Ctrl-C a sweep waits for the workers that hold a task, not for idle ones (a frozen idle
    worker used to hold it for the whole drain), and reports only busy workers that did not stop."""
    import multiprocessing as mp
    from types import SimpleNamespace
    import orderlab.trainer.sweep as sw
    clock = _FakeClock()
    monkeypatch.setattr(sw, "time", SimpleNamespace(monotonic=clock.monotonic, time=clock.time))
    ex = sw.LocalExecutor(workers=3, threads=1)
    ex.store = object()                       # relaying: the drain answers store calls
    ends = {}
    for slot in range(3):
        ex._conns[slot], ends[slot] = mp.Pipe(duplex=True)
        ex._procs[slot] = _Alive()
    ends[0].send(("stopped", 0))              # busy, and stops; slot 1 is idle and never answers
    start = clock.now
    assert ex._drain(10.0, busy={0})[0] == []
    assert clock.now - start < 3.0            # ended when slot 0 stopped, not at the deadline
    # a busy worker that does not stop is named once the drain gives up; the idle one never is
    ends[0].send(("stopped", 0))
    start = clock.now
    assert ex._drain(2.0, busy={0, 2})[0] == [2]
    assert clock.now - start >= 2.0
    # a worker whose task ends just after Ctrl-C says "done" and waits for the next one: its runs are
    # ended, so it is not named among those that did not stop
    ends[1].send(("done", 1, 7, {"run_ids": [], "error": None}))
    start = clock.now
    assert ex._drain(10.0, busy={1})[0] == []
    # workers writing to a tracking server themselves: still waited for (they end their runs KILLED
    # before saying they stopped, and the sweep's last line reads those statuses back)
    ex.store = None
    start = clock.now
    assert ex._drain(2.0, busy={0})[0] == [0]
    assert clock.now - start >= 2.0
    ends[0].send(("stopped", 0))
    assert ex._drain(10.0, busy={0})[0] == []
    assert clock.now - start < 3.0


def test_the_drain_passes_ctrl_c_on_only_to_workers_that_trained_on_after_it(monkeypatch):
    """Progress sent before the Ctrl-C but read by the drain more than half a second later (a loaded
    machine) sent the worker a second SIGINT into its clean-up, which left its runs RUNNING (STALE)
    and the sweep said no network was being trained. The time a message was sent decides."""
    import multiprocessing as mp
    from types import SimpleNamespace
    import orderlab.trainer.sweep as sw
    clock = _FakeClock()
    monkeypatch.setattr(sw, "time", SimpleNamespace(monotonic=clock.monotonic, time=clock.time))
    signalled = []
    monkeypatch.setattr(sw.os, "kill", lambda pid, sig: signalled.append((pid, sig)))
    ex = sw.LocalExecutor(workers=1, threads=1)
    ex.store = object()
    ex._conns[0], end = mp.Pipe(duplex=True)
    ex._procs[0] = _Alive()
    before = clock.now                            # sent before the drain began: it waited in the pipe
    end.send(("progress", 3, 0.4, {}, before))
    end.send(("progress", 3, 0.41, {}, before + 0.1))
    end.send(("stopped", 0))
    clock.now += 5.0                              # ...and is read seconds later
    assert ex._drain(10.0, busy={0})[0] == [] and signalled == []
    # still training well after the Ctrl-C: it did not get it, and is sent it (once, then 2 s later)
    began = clock.now
    for dt in (1.0, 1.5, 3.5):
        end.send(("progress", 3, 0.5, {}, began + dt))
    end.send(("stopped", 0))
    assert ex._drain(10.0, busy={0})[0] == []
    assert [sig for _, sig in signalled] == [sw.STOP_SIGNAL, sw.STOP_SIGNAL] == [signal.SIGUSR1] * 2, signalled


@pytest.mark.slow
def test_a_worker_dead_before_its_first_task_is_replaced_and_the_task_retried(store_uri, monkeypatch):
    """Killed while starting (the OOM killer, a stray kill): the task sent to it met a broken pipe,
    which ended the whole sweep with exit 1 and no message."""
    from orderlab.trainer.api import TrainConfig
    from orderlab.trainer.sweep import LocalExecutor, SweepOptions, run_sweep
    prestart = LocalExecutor.prestart

    def prestart_then_kill(self, n, warm_cfg):
        prestart(self, n, warm_cfg)
        p = self._procs[0]
        os.kill(p.pid, signal.SIGKILL)
        p.join(timeout=60)
    monkeypatch.setattr(LocalExecutor, "prestart", prestart_then_kill)
    cfg = TrainConfig(study="early", archs=["mlp"], seeds=[0, 1], dataset="digits", train_subset=200,
                      test_subset=100, epochs=1, record_every=0.5, device="cpu", tracking_uri=store_uri, quiet=True)
    result = run_sweep(cfg, SweepOptions(executor="local", workers=2), display=Killer(once=-1, always=-1))
    assert sorted((o.name, o.status) for o in result.outcomes) == [("mlp/s0", "FINISHED"), ("mlp/s1", "FINISHED")]
    assert sorted(o.attempts for o in result.outcomes) == [1, 2]          # the one sent to the dead worker: again
    assert sorted(x.status for x in Store(store_uri).list_runs("early")) == ["FINISHED", "FINISHED"]


@pytest.mark.xdist_group("ray")
def test_ray_address_auto_without_a_cluster_is_refused_before_the_study(store_uri, tmp_path, monkeypatch):
    """`auto` with no cluster: ray.init said so only after the study (empty) had been made."""
    pytest.importorskip("ray")
    import socket
    monkeypatch.setenv("TMPDIR", str(tmp_path))        # where Ray looks for the last `ray start`
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    args = ["--arch", "mlp", "--study", "auto", "--executor", "ray", "--ray-address", "auto"]
    test_sweep_input_errors_are_one_line(args, "--ray-address auto: no Ray cluster is running here", store_uri)
    # a cluster that `ray start` noted but that has stopped since: named, as an address is
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}")
    test_sweep_input_errors_are_one_line(args, f"no Ray cluster answers at 127.0.0.1:{port}", store_uri)
    assert "auto" not in Store(store_uri).study_names()


def test_ray_tasks_show_as_running_once_their_networks_train():
    """Ray takes every task at once and runs as many as its resources allow: a sweep of four tasks
    with --workers 2 read "0/4 done, 4 running", two of them at 0.0% for the whole wait. A task is
    now announced (its bar shown) when one of its runs is RUNNING; a resumed run waiting in the queue
    is still STALE."""
    from types import SimpleNamespace as NS
    from orderlab.trainer.sweep import Task, _poll_progress
    runs = [NS(arch="cnn", seed=0, run_id="a", status="RUNNING", progress=0.4, tags={}, name="cnn/s0"),
            NS(arch="cnn", seed=1, run_id="b", status="STALE", progress=0.2, tags={}, name="cnn/s1")]
    store = NS(list_runs=lambda study: runs)
    tasks = [Task(0, "train", arch="cnn", seeds=[0]), Task(1, "resume", arch="cnn", seeds=[1], run_ids=["b"]),
             Task(2, "train", arch="cnn", seeds=[2])]
    events, announced = [], set()
    _poll_progress(store, "s", tasks, events.append, announced)
    assert events == [("task", 0, None), ("progress", 0, 0.4, {})] and announced == {0}
    runs[1].status = "RUNNING"                  # its task took the run up
    events.clear()
    _poll_progress(store, "s", tasks, events.append, announced)
    # a Ray task's own messages stay in its process: the resume is said here
    assert events == [("progress", 0, 0.4, {}), ("message", 1, "resuming cnn/s1 (run b) from its last saved state"),
                      ("task", 1, None), ("progress", 1, 0.2, {})]
    # a run that could not be continued: its network trains in a new run, which its tag names
    from orderlab.store import TAG_SUPERSEDED
    runs.append(NS(arch="cnn", seed=3, run_id="d", status="RUNNING", progress=0.1, tags={}, name="cnn/s3"))
    runs.insert(0, NS(arch="cnn", seed=3, run_id="c", status="KILLED", progress=0.5, tags={TAG_SUPERSEDED: "d"},
                      name="cnn/s3"))
    events.clear()
    _poll_progress(store, "s", [Task(3, "resume", arch="cnn", seeds=[3], run_ids=["c"])], events.append, announced)
    assert events == [("message", 3, "training cnn/s3 anew in run d (run c could not be resumed)"),
                      ("task", 3, None), ("progress", 3, 0.1, {})]


def test_an_interrupt_after_every_network_finished_says_nothing_is_left(store_uri):
    """An interrupt that took as the sweep's last networks finished (short networks; a SIGTERM to
    the sweep's process alone lets the running ones end) said "interrupted while no network was
    being trained … continue with `orderlab sweep --resume`", which then had nothing to resume."""
    import time
    from types import SimpleNamespace

    from orderlab.commands.sweep import _interrupted_line
    from orderlab.synthetic import populate_store
    began = time.time()
    store = Store(store_uri)
    populate_store(store, "ended", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=50)
    cfg = SimpleNamespace(study="ended", archs=["mlp"], seeds=[0, 1], tracking_uri=store_uri)
    assert _interrupted_line(cfg, None, began, resuming=False) == \
        "interrupted as the sweep ended: all 2 of its networks are recorded FINISHED; nothing is left to resume"
    assert _interrupted_line(cfg, None, began, resuming=True).startswith("interrupted as the sweep ended")
    cfg.seeds = [0, 1, 2]                                   # one still to train: continue
    line = _interrupted_line(cfg, None, began, resuming=False)
    assert line.startswith("interrupted while no network was being trained; 2 networks finished in this sweep "
                           "are kept; "), line
    store.write_sweep_plan("ended", {"archs": ["mlp"], "seeds": [0, 1, 2], "epochs": 1})
    assert "sweep --resume ended" in _interrupted_line(cfg, None, began, resuming=True)
