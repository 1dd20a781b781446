"""Resume: every checkpoint saves the full training state; an interrupted run continues to the
same record an uninterrupted run writes (CPU)."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import cut_run, module_store_uri, stop_after, studies_row, whole_and_cut
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.store import Store
from orderlab.trainer.api import TrainConfig, train_study
from orderlab.trainer.progress import MessageLog

runner = CliRunner()
DATA = ["--train-subset", "300", "--test-subset", "150"]


store_uri = module_store_uri()


def assert_same_record(a, b):
    assert np.array_equal(a.step, b.step) and np.array_equal(a.epoch, b.epoch)
    for split in ("train", "test"):
        x, y = a.split(split), b.split(split)
        assert np.array_equal(x.correct_bits, y.correct_bits)
        assert np.array_equal(x.predicted, y.predicted) and np.array_equal(x.p_true, y.p_true)


# A process whose record publications are all deferred (its PublishClock never says due): it publishes
# checkpoint 0 (no training state yet to carry it), then only when its run ends, which a SIGKILL never
# lets it do. Its other checkpoints live in its training state alone, as in a long run whose record
# has grown expensive to rewrite.
DEFERRING = ("import sys, orderlab.trainer.run as r; r.PublishClock.due = lambda self, step: False; "
             "from orderlab.cli import main; sys.argv[0] = 'orderlab'; main()")


@pytest.mark.slow
@pytest.mark.parametrize("ensemble,deferred", [(1, False), (1, True), (2, True)])
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(store_uri, tmp_path, ensemble, deferred):
    """SIGKILL lands mid-epoch; the resumed runs' records equal those of an uninterrupted training.
    With deferred publication the killed runs' records hold checkpoint 0 only, and the resume puts
    back the checkpoints their training states carried."""
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.loop import load_state
    tag = f"kill{ensemble}{'d' if deferred else ''}"
    seeds = ["5", "6"][:ensemble]
    # checkpoints every quarter epoch: the last saved state is (mostly) mid-epoch when the kill lands
    args = ["train", "--arch", "mlp", "--seeds", ",".join(seeds), "--epochs", "6", "--record-every", "0.25", *DATA,
            "--quiet", "--tracking-uri", store_uri, "--device", "cpu", "--ensemble", str(ensemble)]
    r = runner.invoke(app, args + ["--study", f"{tag}-whole"])
    assert r.exit_code == 0, r.output
    start = [sys.executable, "-c", DEFERRING] if deferred else [sys.executable, "-m", "orderlab.cli"]
    proc = subprocess.Popen([*start, *args, "--study", f"{tag}-cut"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    store = Store(store_uri)

    def saved_checkpoints(run):
        try:
            return int(load_state(store.state_file(run.run_id, STATE_FILENAME, tmp_path))["checkpoints"])
        except Exception:  # noqa: BLE001 - no state saved yet
            return 0
    deadline = time.monotonic() + 180
    runs = []
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            runs = store.list_runs(f"{tag}-cut")
        except Exception:  # noqa: BLE001 - the study is not created yet
            runs = []
        if len(runs) == ensemble and all(saved_checkpoints(x) >= 4 for x in runs):
            break
        time.sleep(0.05)
    assert len(runs) == ensemble, proc.stderr.read() if proc.poll() is not None else "no checkpoint in time"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    stale = store.list_runs(f"{tag}-cut")
    assert {x.status for x in stale} == {"STALE"} and all(recorded_checkpoints(store, x) < 25 for x in stale)
    if deferred:
        assert all(recorded_checkpoints(store, x) == 1 < saved_checkpoints(x) for x in stale)
    listing = runner.invoke(app, ["runs", f"{tag}-cut", "--tracking-uri", store_uri], env={"COLUMNS": "250"})
    row = next(line for line in listing.output.splitlines() if "STALE" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    # the progress tags lag up to 2 s behind a SIGKILL; the listing tells what the record holds
    assert cells[5] in {str(recorded_checkpoints(store, x)) for x in stale}, listing.output
    listing = runner.invoke(app, ["studies", "--tracking-uri", store_uri], env={"COLUMNS": "250"})
    assert studies_row(listing.output, f"{tag}-cut")["ckpts"] == str(max(recorded_checkpoints(store, x) for x in stale)), listing.output   # so does this one
    # what a writer killed mid-write leaves (the kill lands there now and then): gone after the resume
    from orderlab.store import RECORD_ARTIFACT_DIR, STATE_ARTIFACT_DIR
    for x in stale:
        folder = store._artifact_dir(x.run_id)
        (folder / RECORD_ARTIFACT_DIR / ".record-k1ll3d.npz.tmp").write_bytes(b"PK\x03\x04 cut")
        (folder / STATE_ARTIFACT_DIR).mkdir(exist_ok=True)
        (folder / STATE_ARTIFACT_DIR / f"{STATE_FILENAME}.tmp").write_bytes(b"cut")
    if ensemble == 1:
        r = runner.invoke(app, ["train", "--resume", stale[0].run_id, "--tracking-uri", store_uri])
        assert r.exit_code == 0, (r.output, r.exception)
        said = r.output
    else:
        # In this process, as the uninterrupted ensemble was trained: a sweep's worker is another
        # process with its own share of the CPU threads, and its evaluation rounded one probability
        # differently in its last float16 bit (one value in ~4,000, under load, 2 runs in 3).
        from orderlab.trainer.resume import resume_runs
        log = MessageLog()
        resume_runs([x.run_id for x in stale], tracking_uri=store_uri, ensemble=ensemble, reporter=log)
        said = "\n".join(log.lines)
    # continued from the saved states (a restart from the start would give the same record, slower)
    assert re.search(r"from epoch [0-9.]+ \(step [0-9]+\)", said) and "from the start" not in said, said
    done = {x.seed: x for x in store.list_runs(f"{tag}-cut")}
    whole = {x.seed: x for x in store.list_runs(f"{tag}-whole")}
    assert {x.run_id for x in done.values()} == {x.run_id for x in stale}
    for seed, x in done.items():
        assert x.status == "FINISHED" and x.checkpoints == 25
        assert not list(store._artifact_dir(x.run_id).rglob("*.tmp")), list(store._artifact_dir(x.run_id).rglob("*"))
        assert_same_record(store.load_record(x), store.load_record(whole[seed]))
        # metrics the kill caught still buffered were re-logged from the saved state: every checkpoint
        # has its metrics, with the values of the uninterrupted run
        assert metric_by_step(store_uri, x.run_id, "loss") == metric_by_step(store_uri, whole[seed].run_id, "loss")
        assert set(metric_by_step(store_uri, x.run_id, "test_acc")) == set(store.load_record(x).step.tolist())


def recorded_checkpoints(store, run):
    try:
        return store.load_record(run).n_checkpoints
    except Exception:  # noqa: BLE001 - no record published yet
        return 0


def metric_by_step(uri, run_id, key):
    from mlflow.tracking import MlflowClient
    return {m.step: m.value for m in MlflowClient(uri).get_metric_history(run_id, key)}


def test_ensemble_members_resume_alone_and_together(store_uri):
    """An interrupted ensemble's members continue from their own saved states, one at a time or
    again as an ensemble; both give the records of networks trained alone without a break (mlp)."""
    from orderlab.trainer.resume import resume_runs
    common = dict(archs=["mlp"], dataset="digits", train_subset=200, test_subset=100, epochs=1,
                  record_every=0.25, device="cpu", quiet=True, tracking_uri=store_uri)
    train_study(TrainConfig(study="ens-whole", seeds=[0, 1], **common))
    for study in ("ens-alone", "ens-together"):
        with pytest.raises(KeyboardInterrupt):
            train_study(TrainConfig(study=study, seeds=[0, 1], ensemble=2, **common), stop_after(2))
    store = Store(store_uri)
    whole = {r.seed: store.load_record(r) for r in store.list_runs("ens-whole")}
    for study, k in (("ens-alone", 1), ("ens-together", 2)):
        runs = store.list_runs(study)
        assert [r.status for r in runs] == ["KILLED"] * 2 and all(r.checkpoints == 2 for r in runs)
        resume_runs([r.run_id for r in runs], tracking_uri=store_uri, ensemble=k)
        for r in store.list_runs(study):
            assert r.status == "FINISHED" and r.checkpoints == 5
            assert_same_record(store.load_record(r), whole[r.seed])


def test_a_grouped_ensemble_resumes_as_if_never_interrupted(store_uri, monkeypatch):
    """st-vgg (grouped layers on the CPU, dropout): interrupted, then resumed together, its members
    give the records of the same ensemble trained without a break, bit for bit (each saved state
    holds the random streams that dropout draws from)."""
    from orderlab.trainer.ensemble import Ensemble
    from orderlab.trainer.resume import resume_runs
    common = dict(archs=["st-vgg"], dataset="digits", train_subset=64, test_subset=32, epochs=1, batch_size=16,
                  record_every=0.25, device="cpu", quiet=True, tracking_uri=store_uri, seeds=[0, 1], ensemble=2)
    ways = []
    real = Ensemble.forward

    def forward(self, x, shared=False):
        out = real(self, x, shared)
        ways.append(self.implementation)        # known once the first call has planned it
        return out
    monkeypatch.setattr(Ensemble, "forward", forward)
    train_study(TrainConfig(study="grouped-whole", **common))
    with pytest.raises(KeyboardInterrupt):
        train_study(TrainConfig(study="grouped-cut", **common), stop_after(2))
    store = Store(store_uri)
    cut = store.list_runs("grouped-cut")
    assert [r.status for r in cut] == ["KILLED"] * 2
    resume_runs([r.run_id for r in cut], tracking_uri=store_uri, ensemble=2)
    assert "grouped" in ways and "vmap" not in ways
    whole = {r.seed: store.load_record(r) for r in store.list_runs("grouped-whole")}
    for r in store.list_runs("grouped-cut"):
        assert r.status == "FINISHED" and r.checkpoints == 5
        assert_same_record(store.load_record(r), whole[r.seed])


def test_ensemble_resume_falls_back_when_the_architecture_cannot_train_together(store_uri, monkeypatch):
    """Where the probe refuses (on GPUs: batch-norm networks), `--resume --ensemble K` resumes each
    member alone and says why, rather than stopping."""
    import orderlab.trainer.ensemble as ens
    from orderlab.trainer.resume import resume_runs
    common = dict(archs=["mlp"], seeds=[0, 1], dataset="digits", train_subset=200, test_subset=100, epochs=1,
                  record_every=0.25, device="cpu", quiet=True, tracking_uri=store_uri)
    train_study(TrainConfig(study="refused-whole", **common))
    with pytest.raises(KeyboardInterrupt):
        train_study(TrainConfig(study="ens-refused", ensemble=2, **common), stop_after(2))
    monkeypatch.setattr(ens, "unsupported_reason", lambda *a, **k: "a reason from the probe")

    kept = MessageLog()
    store = Store(store_uri)
    resume_runs([r.run_id for r in store.list_runs("ens-refused")], tracking_uri=store_uri, ensemble=2, reporter=kept)
    assert any("falls back to one network at a time: a reason from the probe" in m for m in kept.lines)
    assert sum("resuming mlp/s" in m for m in kept.lines) == 2
    whole = {r.seed: store.load_record(r) for r in store.list_runs("refused-whole")}
    for r in store.list_runs("ens-refused"):
        assert r.status == "FINISHED" and r.checkpoints == 5
        assert_same_record(store.load_record(r), whole[r.seed])


def test_dropout_network_resumes_exactly(store_uri):
    """st-vgg draws dropout masks from the global RNG: its saved RNG state makes the resumed run exact."""
    from orderlab.trainer.resume import resume_runs
    cut = whole_and_cut(store_uri, "vgg", 2, archs=["st-vgg"], seeds=[2], dataset="digits", train_subset=100,
                        test_subset=50, epochs=1, batch_size=25, record_every=0.5, device="cpu", quiet=True)
    store = Store(store_uri)
    resume_runs([cut.run_id], tracking_uri=store_uri)
    assert_same_record(store.load_record(store.list_runs("vgg-cut")[0]),
                       store.load_record(store.list_runs("vgg-whole")[0]))


def test_a_network_trained_anew_logs_how_it_is_trained_now(store_uri):
    """The new run of a network trained anew says how it was trained: alone, on the device the
    resume asked for, not the ensemble and device of the run it replaces."""
    from orderlab.store import STATE_FILENAME, TAG_SUPERSEDED
    from orderlab.trainer.api import TrainConfig, train_study
    cfg = TrainConfig(study="anew-params", archs=["mlp"], seeds=[0, 1], dataset="digits", train_subset=200,
                      test_subset=60, epochs=1, record_every=0.5, device="auto", ensemble=2,
                      tracking_uri=store_uri, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        train_study(cfg, stop_after(2))
    store = Store(store_uri)
    cut = next(r for r in store.list_runs("anew-params") if r.seed == 0)
    assert cut.status == "KILLED" and cut.params["ensemble"] == "2" and cut.params["device"] == "auto"
    store.state_file(cut.run_id, STATE_FILENAME, ".").unlink()
    r = runner.invoke(app, ["train", "--resume", cut.run_id, "--device", "cpu", "--tracking-uri", store_uri])
    assert r.exit_code == 0 and "cannot be resumed" in r.output, r.output
    new = store.get_run(store.get_run(cut.run_id).tags[TAG_SUPERSEDED])
    assert new.status == "FINISHED" and new.seed == 0
    assert new.params["device"] == "cpu" and "ensemble" not in new.params
    assert {k: v for k, v in new.params.items() if k not in ("device", "ensemble")} == \
        {k: v for k, v in cut.params.items() if k not in ("device", "ensemble")}


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_resume_without_usable_state_keeps_the_record_and_trains_anew(store_uri, damage):
    """A run that recorded checkpoints but whose training state is gone or damaged cannot be
    continued: its record stays exactly as it was, and its network is trained from the start in
    a new run, which is the one analysis uses."""
    from orderlab.store import STATE_FILENAME, TAG_SUPERSEDED
    from orderlab.studydata import load_stack
    name = f"ns-{damage}"
    cut = whole_and_cut(store_uri, name, 2, archs=["cnn"], seeds=[1], dataset="digits", train_subset=120,
                        test_subset=60, epochs=1, record_every=0.5, device="cpu", quiet=True)
    store = Store(store_uri)
    state = store.state_file(cut.run_id, STATE_FILENAME, ".")
    if damage == "delete":
        state.unlink()
    else:
        state.write_bytes(b"not a torch file" * 64)
    record = store.record_file(cut.run_id)
    before = record.read_bytes()
    r = runner.invoke(app, ["train", "--resume", cut.run_id, "--tracking-uri", store_uri])
    assert r.exit_code == 0, r.output
    assert "cannot be resumed" in r.output
    assert record.read_bytes() == before                   # nothing recorded is lost
    old, new = sorted(store.list_runs(f"{name}-cut"), key=lambda x: x.start_time)
    assert old.run_id == cut.run_id and old.status == "KILLED" and old.tags[TAG_SUPERSEDED] == new.run_id
    assert new.status == "FINISHED" and (new.arch, new.seed) == ("cnn", 1)
    assert_same_record(store.load_record(new), store.load_record(store.list_runs(f"{name}-whole")[0]))
    stack = load_stack(store, f"{name}-cut", "test", align="common")
    assert list(stack.run_id) == [new.run_id]             # one network, not two copies
    again = runner.invoke(app, ["train", "--resume", cut.run_id, "--tracking-uri", store_uri, "--quiet"])
    assert again.exit_code == 2 and f"replaced by run {new.run_id}" in again.stderr, again.output
    if damage == "garbage":
        return
    # The replacement deleted (as a damaged record's message suggests): training the seed again
    # makes a new run, not a resume of the replaced one.
    from mlflow.tracking import MlflowClient
    MlflowClient(store_uri).delete_run(new.run_id)
    r = runner.invoke(app, ["train", "--study", f"{name}-cut", "--arch", "cnn", "--seeds", "1", "--train-subset", "120",
                            "--test-subset", "60", "--epochs", "1", "--record-every", "0.5", "--device", "cpu",
                            "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 0, r.output
    runs = store.list_runs(f"{name}-cut")
    assert len(runs) == 2 and {x.run_id for x in runs if x.status == "FINISHED"} - {new.run_id, cut.run_id}


def test_a_network_whose_new_run_the_store_refuses_exits_1_and_keeps_the_old(store_uri, monkeypatch):
    """Training a network anew (its state lost) when the store refuses the new run: a one-line
    account and exit 1 (it was a TypeError on the run that was never made)."""
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.run import NetworkRun
    cut = whole_and_cut(store_uri, "anew-refused", 2, archs=["cnn"], seeds=[1], dataset="digits", train_subset=120,
                        test_subset=60, epochs=1, record_every=0.5, device="cpu", quiet=True)
    store = Store(store_uri)
    store.state_file(cut.run_id, STATE_FILENAME, ".").unlink()
    before = store.record_file(cut.run_id).read_bytes()
    real = NetworkRun.__enter__

    def refused(self):
        if self.run_id is None:                     # a new run; resumed ones are let through
            raise RuntimeError("the server said no")
        return real(self)
    monkeypatch.setattr(NetworkRun, "__enter__", refused)
    r = runner.invoke(app, ["train", "--study", "anew-refused-cut", "--arch", "cnn", "--seeds", "1", "--train-subset", "120",
                            "--test-subset", "60", "--epochs", "1", "--record-every", "0.5", "--device", "cpu",
                            "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 1, (r.output, r.exception)
    assert r.stderr.strip().splitlines()[-1] == (
        "1 network could not start a run in the store: cnn/s1 (RuntimeError: the server said no); "
        "fix the cause and run the same command again to resume or start them")
    assert store.record_file(cut.run_id).read_bytes() == before
    assert [x.run_id for x in store.list_runs("anew-refused-cut")] == [cut.run_id]


def test_resume_of_a_run_that_recorded_nothing_restarts_it(store_uri):
    from orderlab.store import STATE_FILENAME
    run = cut_run(store_uri, "s", 1, archs=["cnn"], seeds=[1], dataset="digits", train_subset=120, test_subset=60,
                  epochs=1, record_every=0.5, device="cpu", quiet=True)
    store = Store(store_uri)
    store.state_file(run.run_id, STATE_FILENAME, ".").unlink()
    store.set_tags(run.run_id, {"orderlab.checkpoints": "0"})     # as if killed before its first record
    # by the first 8 characters of its id, as messages and `orderlab runs` in a narrow terminal give it
    r = runner.invoke(app, ["train", "--resume", run.run_id[:8], "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 0, r.output
    [done] = store.list_runs("s")
    assert done.run_id == run.run_id and done.status == "FINISHED" and list(store.load_record(done).step) == [0, 2, 4]
    assert done.error is None                                       # the interruption is forgotten


def test_resume_refuses_finished_unknown_and_live_runs(store_uri):
    train_study(TrainConfig(study="f", archs=["mlp"], seeds=[0], dataset="digits", train_subset=60, test_subset=30,
                            epochs=1, device="cpu", quiet=True, tracking_uri=store_uri))
    store = Store(store_uri)
    [run] = store.list_runs("f")
    parent = store.study_parent("f")
    # (the command to read it names the store named, as every command orderlab suggests does)
    for rid, needle in ((run.run_id, "already FINISHED: its record is complete, nothing to resume; "
                                     f"`orderlab analyze f --tracking-uri {store_uri}` reads it"),
                        ("0123456789abcdef", "no run"),
                        (parent, f"is the parent run of study 'f', not a network's run; `orderlab runs f --tracking-uri {store_uri}` "
                                     "lists")):
        r = runner.invoke(app, ["train", "--resume", rid, "--tracking-uri", store_uri, "--quiet"])
        assert r.exit_code == 2 and needle in r.stderr and "\n" not in r.stderr.strip(), r.output
    # a run's id where a study's name goes (sweep --resume): whose run it is; a finished network has
    # nothing to continue (`train --resume` was offered, and refused it)
    r = runner.invoke(app, ["sweep", "--resume", run.run_id, "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 2 and "\n" not in r.stderr.strip(), r.output
    assert r.stderr.strip() == (f"error: {run.run_id} is the id of a run of study 'f', not a study's name: give the "
                                f"study's name, f"), r.stderr
    # an interrupted one: the command for that network alone, naming the store named; by its
    # beginning too, as messages and `orderlab runs` in a narrow terminal give it
    store.end_run(run.run_id, "KILLED")
    r = runner.invoke(app, ["sweep", "--resume", run.run_id[:8], "--tracking-uri", store_uri, "--quiet"])
    assert r.stderr.strip() == (f"error: {run.run_id[:8]} is the beginning of the id of a run of study 'f', not a "
                                f"study's name: give the study's name, f; `orderlab train --resume {run.run_id[:8]} "
                                f"--tracking-uri {store_uri}` continues that network alone"), r.stderr
    r = runner.invoke(app, ["analyze", parent, "--tracking-uri", store_uri])
    assert r.exit_code == 2 and f"{parent} is the id of a run of study 'f', not a study's name: give the study's " \
        "name, f\n" in r.stderr, r.output
    # a run that this (live) process holds is RUNNING, not STALE: refused
    store.reclaim(run.run_id)
    r = runner.invoke(app, ["train", "--resume", run.run_id, "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 2 and "still RUNNING" in r.stderr, r.output


def test_ctrl_c_while_an_ensemble_publishes_a_checkpoint_leaves_each_member_whole(store_uri, monkeypatch):
    """Ctrl-C while an ensemble writes a member's record and state acts once both are written: no
    member is left with a checkpoint recorded but not its training state, and the ensemble resumes."""
    import signal as sig

    import orderlab.trainer.ensemble as ens_mod
    from orderlab.store import STATE_FILENAME
    real, calls = ens_mod.save_training_state, []

    def interrupted_save(run, **kw):
        calls.append(1)
        if len(calls) == 1:
            sig.raise_signal(sig.SIGINT)        # Ctrl-C lands between member 0's record and its state
        return real(run, **kw)
    monkeypatch.setattr(ens_mod, "save_training_state", interrupted_save)
    cfg = TrainConfig(study="pub", archs=["mlp"], seeds=[0, 1, 2], dataset="digits", train_subset=150, test_subset=60,
                      epochs=1, record_every=0.5, device="cpu", ensemble=3, quiet=True, tracking_uri=store_uri)
    with pytest.raises(KeyboardInterrupt):
        train_study(cfg)
    store = Store(store_uri)
    runs = sorted(store.list_runs("pub"), key=lambda r: r.seed)
    assert len(runs) == 3 and {r.status for r in runs} == {"KILLED"}
    first = runs[0]      # interrupted while publishing: published whole, then stopped
    assert store.load_record(first).n_checkpoints == 1 and store.state_file(first.run_id, STATE_FILENAME, ".")
    for r in runs[1:]:   # not reached: nothing recorded, nothing saved
        assert r.checkpoints == 0 and store.state_file(r.run_id, STATE_FILENAME, ".") is None
    monkeypatch.setattr(ens_mod, "save_training_state", real)
    r = runner.invoke(app, ["sweep", "--resume", "pub", "--ensemble", "3", "--workers", "1", "--tracking-uri",
                            store_uri, "--quiet"])
    assert r.exit_code == 0, r.output
    runs = store.list_runs("pub")
    assert len(runs) == 3 and {x.status for x in runs} == {"FINISHED"} and not any(x.tags.get("orderlab.superseded_by")
                                                                                  for x in runs)


def test_a_run_killed_between_its_first_record_and_state_restarts_in_place(store_uri):
    """SIGKILL (which nothing defers) between checkpoint 0's record and its training state: the run
    holds only the untrained network's checkpoint, so it restarts in place, not anew in a second run."""
    from orderlab.store import STATE_FILENAME
    run = whole_and_cut(store_uri, "k0", 1, archs=["mlp"], seeds=[3], dataset="digits", train_subset=150,
                        test_subset=60, epochs=1, record_every=0.5, device="cpu", quiet=True)
    store = Store(store_uri)
    store.state_file(run.run_id, STATE_FILENAME, ".").unlink()
    r = runner.invoke(app, ["train", "--resume", run.run_id, "--tracking-uri", store_uri])
    assert r.exit_code == 0 and "cannot be resumed" not in r.output, r.output
    [done] = store.list_runs("k0-cut")
    assert done.run_id == run.run_id and done.status == "FINISHED" and not done.tags.get("orderlab.superseded_by")
    whole = store.list_runs("k0-whole")[0]
    assert_same_record(store.load_record(done), store.load_record(whole))
    # checkpoint 0, recorded again, has its metrics once (the killed run had logged them), with the
    # values of the uninterrupted run
    from mlflow.tracking import MlflowClient
    steps = sorted(m.step for m in MlflowClient(store_uri).get_metric_history(done.run_id, "test_acc"))
    assert steps == store.load_record(done).step.tolist()
    assert metric_by_step(store_uri, done.run_id, "test_acc") == metric_by_step(store_uri, whole.run_id, "test_acc")


@pytest.mark.parametrize("damaged", ["state", "record"])
def test_a_lagging_checkpoints_tag_never_lets_a_resume_overwrite_a_record(store_uri, damaged):
    """Killed within 2 s of its start, a run's checkpoints tag may still say 0 while its record
    holds several checkpoints. Without a usable state it is kept and its network trained anew: the
    record decides, not the tag; a record that exists but cannot be read is kept too."""
    from orderlab.store import STATE_FILENAME, TAG_SUPERSEDED
    run = cut_run(store_uri, f"lag-{damaged}", 3, archs=["mlp"], seeds=[2], dataset="digits", train_subset=150,
                  test_subset=60, epochs=1, record_every=0.25, device="cpu", quiet=True)
    store = Store(store_uri)
    store.set_tags(run.run_id, {"orderlab.checkpoints": "0"})        # as if the tag was never flushed
    state, record = store.state_file(run.run_id, STATE_FILENAME, "."), store.record_file(run.run_id)
    if damaged == "state":
        state.write_bytes(b"damaged" * 100)
    else:
        state.unlink()
        record.write_bytes(b"damaged" * 100)
    before = record.read_bytes()
    r = runner.invoke(app, ["train", "--resume", run.run_id, "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 0, r.output
    assert record.read_bytes() == before and store.get_run(run.run_id).tags.get(TAG_SUPERSEDED)
    if damaged == "state":
        assert store.load_record(run).n_checkpoints == 3


def test_a_state_whose_carried_checkpoints_do_not_fit_its_record_is_not_resumed(store_uri, monkeypatch, tmp_path):
    """Checkpoints a training state carries for a record that had not published them must fit that
    record (its splits and examples); a state that says otherwise is not trusted: the record is kept
    and the network trained anew, as for any unusable state."""
    import orderlab.trainer.run as run_module
    from orderlab.store import STATE_FILENAME, TAG_SUPERSEDED
    from orderlab.trainer.loop import load_state, write_state_file
    monkeypatch.setattr(run_module.PublishClock, "due", lambda self, step: False)     # defer all
    run = cut_run(store_uri, "carry", 3, archs=["mlp"], seeds=[4], dataset="digits", train_subset=150,
                  test_subset=60, epochs=1, record_every=0.25, device="cpu", quiet=True)
    store = Store(store_uri)
    path = store.state_file(run.run_id, STATE_FILENAME, tmp_path)
    state = load_state(path)
    published, carried = state["unpublished"]
    assert published == 1 and len(carried) == 2 == state["checkpoints"] - published
    epoch, step, splits = carried[-1]
    carried[-1] = (epoch, step, {s: (bits[:-1], pred, ptrue) for s, (bits, pred, ptrue) in splits.items()})
    write_state_file(state, path)
    before = store.record_file(run.run_id).read_bytes()
    r = runner.invoke(app, ["train", "--resume", run.run_id, "--tracking-uri", store_uri])
    assert r.exit_code == 0, r.output
    assert "does not fit its record" in " ".join(r.output.split()), r.output
    assert store.record_file(run.run_id).read_bytes() == before
    assert store.get_run(run.run_id).tags.get(TAG_SUPERSEDED)


def test_a_run_whose_unpublished_checkpoints_went_with_its_state_is_kept(store_uri, monkeypatch, tmp_path):
    """Killed outright with only checkpoint 0 published, a run whose later checkpoints lived in its
    training state, now lost, still shows them in its metrics: it trained, so it is kept as it is
    and its network trained anew (restarted in place, it kept the old process's metrics for steps
    its new record would recompute)."""
    from orderlab.record import Record
    from orderlab.store import STATE_FILENAME, TAG_SUPERSEDED
    run = cut_run(store_uri, "lost-carry", 3, archs=["mlp"], seeds=[6], dataset="digits", train_subset=150,
                  test_subset=60, epochs=1, record_every=0.25, device="cpu", quiet=True)
    store = Store(store_uri)
    rec = store.load_record(run)
    first = Record(rec.meta, rec.epoch[:1], rec.step[:1],
                   {k: type(s)(s.split, s.example_id, s.label, s.fingerprint, s.correct_bits[:1], s.predicted[:1],
                               s.p_true[:1]) for k, s in rec.splits.items()})
    store.write_record(run.run_id, first)                   # what a SIGKILL leaves published
    store.state_file(run.run_id, STATE_FILENAME, tmp_path).unlink()
    assert metric_by_step(store_uri, run.run_id, "test_acc").keys() == set(rec.step.tolist())
    r = runner.invoke(app, ["train", "--resume", run.run_id, "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 0, r.output
    assert store.get_run(run.run_id).tags.get(TAG_SUPERSEDED)
    assert store.load_record(run).n_checkpoints == 1


def test_a_restart_in_place_says_why_the_state_was_not_used(store_uri):
    """Killed after its untrained checkpoint, with a damaged state: the network restarts in its run
    (nothing trained is lost), and the output said only "from the start", not that the state was
    unreadable."""
    from orderlab.store import STATE_FILENAME
    run = cut_run(store_uri, "restart-why", 1, archs=["mlp"], seeds=[1], dataset="digits", train_subset=150,
                  test_subset=60, epochs=1, record_every=0.5, device="cpu", quiet=True)
    store = Store(store_uri)
    store.state_file(run.run_id, STATE_FILENAME, ".").write_bytes(b"damaged" * 100)
    r = runner.invoke(app, ["train", "--resume", run.run_id, "--tracking-uri", store_uri])
    said = " ".join(r.stderr.split())
    assert r.exit_code == 0, r.output
    assert "restarts from the start: its training state is unreadable" in said, said
    assert [(x.run_id, x.status, x.checkpoints) for x in store.list_runs("restart-why")] == [(run.run_id, "FINISHED", 3)]


def test_resumes_closing_line_wraps_at_spaces_in_a_terminal(store_uri):
    """`train --resume`'s closing line was echoed whole: an 80-column terminal broke it mid-word."""
    run = cut_run(store_uri, "a-study-with-a-rather-long-name", 1, archs=["cnn"], seeds=[1], dataset="digits",
                  train_subset=120, test_subset=60, epochs=1, record_every=0.5, device="cpu", quiet=True)
    terminal = {"TTY_COMPATIBLE": "1", "TERM": "dumb", "LINES": "40", "COLUMNS": "80"}
    r = runner.invoke(app, ["train", "--resume", run.run_id, "--tracking-uri", store_uri], env=terminal)
    line = f"run {run.run_id} (cnn/s1 in study 'a-study-with-a-rather-long-name'): FINISHED, 3 checkpoints"
    lines = r.stdout.splitlines()
    assert r.exit_code == 0 and " ".join(r.stdout.split()).endswith(line) and line not in lines, r.output
    assert max(map(len, lines)) <= 80, lines
