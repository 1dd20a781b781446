"""Two commands started at once never train or resume the same network (orderlab/claims.py): claims
across real processes, and `train`, `train --resume`, `sweep` and `sweep --resume` around them."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import assert_one_line_error, cut_run
from typer.testing import CliRunner

from orderlab.claims import Claims
from orderlab.cli import app
from orderlab.store import Store

runner = CliRunner()
SMALL = ["--dataset", "digits", "--train-subset", "150", "--test-subset", "60", "--epochs", "1", "--device", "cpu"]


class Holder:
    """Another process holding claims on networks of a study until it is told to go (or killed)."""

    def __init__(self, uri: str, study: str, networks: list[tuple[str, int]]):
        code = textwrap.dedent(f"""
            import sys
            from orderlab.claims import Claims
            class S: uri = {uri!r}
            c = Claims(S(), {study!r})
            print(sorted(c.take({networks!r})), flush=True)
            sys.stdin.read()
        """)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.busy = self.proc.stdout.readline().strip()
        assert self.busy == "[]", self.busy            # it got them all

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.send_signal(signal.SIGKILL)
        else:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


class FakeStore:
    def __init__(self, uri: str):
        self.uri = uri


def test_a_claim_excludes_other_processes_until_it_ends_however_it_ends(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    holder = Holder(uri, "s/1 x", [("mlp", 0), ("tv:resnet18", 1)])
    with Claims(FakeStore(uri), "s/1 x") as mine:
        busy = mine.take([("mlp", 0), ("mlp", 1), ("tv:resnet18", 1)])
        assert set(busy) == {("mlp", 0), ("tv:resnet18", 1)} and mine.held == {("mlp", 1)}
        assert busy[("mlp", 0)] == f"another orderlab process (pid {holder.proc.pid})"
        # Another planner in this process is refused too (POSIX locks of one process never conflict).
        with Claims(FakeStore(uri), "s/1 x") as again:
            assert set(again.take([("mlp", 1)])) == {("mlp", 1)} and not again.held
        assert mine.take([("mlp", 2)]) == {}              # a study's other networks stay free
        with Claims(FakeStore(uri), "other study") as other:
            assert other.take([("mlp", 0)]) == {}         # claims are per study
    holder.stop(kill=True)                                # SIGKILL: the kernel releases its claims
    with Claims(FakeStore(uri), "s/1 x") as mine:
        assert mine.take([("mlp", 0), ("tv:resnet18", 1)]) == {}
    with Claims(FakeStore(uri), "s/1 x") as mine:         # released when the first ended
        assert mine.take([("mlp", 0)]) == {}
    files = sorted((tmp_path / ".orderlab-claims").iterdir())         # one empty file per study, beside the db
    assert [f.name.rsplit("-", 1)[0] for f in files] == ["other_study", "s_1_x"]
    assert [f.stat().st_size for f in files] == [0, 0]


def test_a_tracking_server_gets_no_claims(tmp_path):
    with Claims(FakeStore("http://127.0.0.1:5000"), "s") as c:
        assert c.take([("mlp", 0)]) == {} and c.held == {("mlp", 0)}


def test_train_leaves_networks_another_command_claimed_and_completes_them_later(store_uri):
    holder = Holder(store_uri, "cl", [("mlp", 1)])
    args = ["train", "--study", "cl", "-a", "mlp", "--seeds", "0-2", *SMALL, "--tracking-uri", store_uri]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert f"claimed by another orderlab process (pid {holder.proc.pid})" in r.output and "mlp/s1" in r.output
    store = Store(store_uri)
    assert sorted(x.seed for x in store.list_runs("cl")) == [0, 2]
    holder.stop()
    r = runner.invoke(app, args + ["--quiet"])
    assert r.exit_code == 0, r.output
    runs = store.list_runs("cl")
    assert sorted(x.seed for x in runs) == [0, 1, 2] and {x.status for x in runs} == {"FINISHED"}


def test_a_network_trained_between_planning_and_claiming_is_not_trained_again(store_uri, monkeypatch):
    """The plan is read again once the claims are held: a network another command trained in the
    meantime is skipped, not trained a second time."""
    from orderlab.trainer.api import TrainConfig, train_study
    cfg = dict(archs=["mlp"], dataset="digits", train_subset=150, test_subset=60, epochs=1, device="cpu",
               tracking_uri=store_uri, quiet=True)
    take, done = Claims.take, []

    def take_after_another_command(self, networks):
        if not done:
            done.append(1)
            train_study(TrainConfig(study="between", seeds=[1], **cfg))      # "another command", right now
        return take(self, networks)
    monkeypatch.setattr(Claims, "take", take_after_another_command)
    train_study(TrainConfig(study="between", seeds=[0, 1], **cfg))
    runs = Store(store_uri).list_runs("between")
    assert sorted(x.seed for x in runs) == [0, 1], [(x.seed, x.run_id) for x in runs]


def test_two_identical_commands_started_at_once_train_each_network_once(store_uri):
    cmd = [os.path.join(os.path.dirname(sys.executable), "orderlab"), "train", "--study", "twice", "-a", "mlp",
           "--seeds", "0-3", *SMALL, "--tracking-uri", store_uri, "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = Store(store_uri).list_runs("twice")
    assert sorted(x.seed for x in runs) == [0, 1, 2, 3], ([(x.seed, x.status) for x in runs], outs)
    assert {x.status for x in runs} == {"FINISHED"}


def test_a_command_with_other_settings_than_a_live_one_on_other_seeds_is_refused(store_uri):
    """Two commands started at once on other seeds of one architecture found no runs of the other's
    to check against: both trained, and the study held mlps of 1 and of 2 epochs, analysed as one
    architecture. The command that plans while another (here held in its planning) has declared
    other settings is refused, before it makes anything."""
    code = textwrap.dedent(f"""
        import sys
        from orderlab.claims import Claims
        class S: uri = {store_uri!r}
        c = Claims(S(), "mixed")
        print(c.declare({{"mlp": {{"dataset": "digits", "epochs": 1.0}}}}), flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "{}"
        err = assert_one_line_error(runner.invoke(app, ["train", "--study", "mixed", "-a", "mlp", "--seeds", "3-5",
                                                        *SMALL, "--epochs", "2", "--tracking-uri", store_uri]),
                                    f"another orderlab process (pid {proc.pid}) is training mlp networks into study "
                                    f"'mixed' with other settings (", "epochs=1.0 (asked: 2", "use another --study")
        assert "Traceback" not in err
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    r = runner.invoke(app, ["train", "--study", "mixed", "-a", "mlp", "--seeds", "3", *SMALL, "--epochs", "2",
                            "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 0, r.output                   # that process has ended: its settings bind no one


def test_a_settings_declaration_counts_while_its_process_lives(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    code = textwrap.dedent(f"""
        import sys
        from orderlab.claims import Claims
        class S: uri = {uri!r}
        c = Claims(S(), "st")
        print(c.declare({{"mlp": {{"epochs": 1}}}}), flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "{}"
        with Claims(FakeStore(uri), "st") as mine:
            assert mine.declare({"mlp": {"epochs": 2}}) == {"mlp": (proc.pid, {"epochs": 1})}
            assert mine.declare({"cnn": {"epochs": 2}, "mlp": {"epochs": 1}}) == {}     # the same: no conflict
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            # the first to declare is gone; this one, training with the same settings, still binds others
            other = subprocess.run([sys.executable, "-c", code.replace('{"epochs": 1}', '{"epochs": 3}')],
                                   input="", capture_output=True, text=True, timeout=60)
            assert other.stdout.strip() == f"{{'mlp': ({os.getpid()}, {{'epochs': 1}})}}", other
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with Claims(FakeStore(uri), "st") as mine:         # a killed process's declaration counts for nothing
        assert mine.declare({"mlp": {"epochs": 2}}) == {}
    with Claims(FakeStore(uri), "st") as again:        # and the one above ended with its command
        assert again.declare({"mlp": {"epochs": 3}}) == {}


def test_resume_of_a_network_another_command_holds_is_refused(store_uri):
    cut = cut_run(store_uri, "held", 1, archs=["mlp"], seeds=[0], dataset="digits", train_subset=150,
                  test_subset=60, epochs=1, record_every=0.5, device="cpu", quiet=True)
    holder = Holder(store_uri, "held", [("mlp", 0)])
    r = runner.invoke(app, ["train", "--resume", cut.run_id, "--tracking-uri", store_uri, "--quiet"])
    assert_one_line_error(r, "mlp/s0", f"pid {holder.proc.pid}", "wait for it to end")
    assert Store(store_uri).get_run(cut.run_id).status == "KILLED"        # untouched
    holder.stop()
    r = runner.invoke(app, ["train", "--resume", cut.run_id, "--tracking-uri", store_uri, "--quiet"])
    assert r.exit_code == 0, r.output
    assert Store(store_uri).get_run(cut.run_id).status == "FINISHED"


def test_sweeps_leave_claimed_networks_to_their_command(store_uri):
    from orderlab.trainer.api import TrainConfig
    from orderlab.trainer.sweep import SweepOptions, run_sweep
    holder = Holder(store_uri, "sw", [("mlp", 1)])
    cfg = TrainConfig(study="sw", archs=["mlp"], seeds=[0, 1], dataset="digits", train_subset=150, test_subset=60,
                      epochs=1, device="cpu", tracking_uri=store_uri, quiet=True)
    res = run_sweep(cfg, SweepOptions(executor="local", workers=1))
    assert [o.name for o in res.outcomes] == ["mlp/s0"] and not res.failed
    assert [x.seed for x in Store(store_uri).list_runs("sw")] == [0]
    # sweep --resume: an interrupted network another command holds is left to it too; the network the
    # sweep planned and left to the first holder (now gone), never started, is started.
    from mlflow.tracking import MlflowClient
    [run0] = Store(store_uri).list_runs("sw")
    MlflowClient(store_uri).set_terminated(run0.run_id, "KILLED")
    holder.stop()
    holder = Holder(store_uri, "sw", [("mlp", 0)])
    res = run_sweep(TrainConfig(study="", archs=[], seeds=[], tracking_uri=store_uri, quiet=True),
                    SweepOptions(executor="local", workers=1), resume_study="sw")
    assert [(o.name, o.status) for o in res.outcomes] == [("mlp/s1", "FINISHED")]
    assert Store(store_uri).get_run(run0.run_id).status == "KILLED"
    holder.stop()


def test_a_claims_file_that_cannot_be_opened_is_one_line(tmp_path):
    from orderlab.store import StoreError
    (tmp_path / ".orderlab-claims").write_text("a file where the folder should be")
    with pytest.raises(StoreError, match=r"cannot open the study's claims file .* make the store's folder writable"):
        with Claims(FakeStore(f"sqlite:///{tmp_path}/mlflow.db"), "s") as c:
            c.take([("mlp", 0)])


def test_a_network_whose_holder_ended_while_planning_is_claimed_not_left_to_it(tmp_path):
    from orderlab.claims import claim_plan
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    holder, reads = Holder(uri, "st", [("mlp", 0)]), []

    def read():                 # the holder is interrupted between our claim and our second read
        reads.append(1)
        if len(reads) == 2:
            holder.stop()
        return {("mlp", 0), ("mlp", 1)}
    with Claims(FakeStore(uri), "st") as c:
        plan, others = claim_plan(c, read, set)
        assert others == {} and c.held == {("mlp", 0), ("mlp", 1)}


def test_a_study_that_keeps_changing_while_planning_drops_no_network(tmp_path):
    """Each read names one more network (a killed sweep's runs turning STALE one by one): planning
    ends, and what it could not settle is reported as left to another command, never dropped."""
    from orderlab.claims import claim_plan, left_to_others
    reads = []

    def read():
        reads.append(1)
        return {("mlp", i) for i in range(len(reads))}
    with Claims(FakeStore(f"sqlite:///{tmp_path}/mlflow.db"), "st") as c:
        plan, others = claim_plan(c, read, set)
        assert plan == c.held | others.keys() and others
        messages, names = left_to_others(others, plan)
        assert len(messages) == 1 and "kept changing" in messages[0] and names == [f"mlp/s{len(plan) - 1}"]


def test_a_filesystem_without_record_locks_gets_no_claims(tmp_path, monkeypatch):
    import errno

    import orderlab.claims as claims_mod

    def no_locks(*a):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(claims_mod.fcntl, "lockf", no_locks)
    with Claims(FakeStore(f"sqlite:///{tmp_path}/mlflow.db"), "s") as c:
        assert c.take([("mlp", 0), ("mlp", 1)]) == {} and c.held == {("mlp", 0), ("mlp", 1)}
    assert claims_mod._FILES == {}                          # its descriptor was closed


def test_the_sweep_summary_counts_networks_left_to_another_command(store_uri):
    holder = Holder(store_uri, "sum", [("mlp", 1)])
    r = runner.invoke(app, ["sweep", "--study", "sum", "-a", "mlp", "--seeds", "0-1", *SMALL, "--workers", "1",
                            "--tracking-uri", store_uri])
    holder.stop()
    assert r.exit_code == 0, r.output
    assert "1 finished, 0 failed, 0 already done, 1 left to other commands (mlp/s1)" in " ".join(r.output.split())


def test_a_demo_beside_another_command_says_what_its_summary_covers(store_uri, tmp_path):
    holder = Holder(store_uri, "demo-digits", [("cnn", 1)])
    r = runner.invoke(app, ["demo", "--seeds", "0-1", "--epochs", "1", "--out", str(tmp_path / "rep"),
                            "--tracking-uri", store_uri])
    holder.stop()
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "1 of the demo's 4 networks are still being trained by another command (cnn/s1)" in text, text
    assert "Agreement on the test split: 3 networks" in text
