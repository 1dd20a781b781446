"""`orderlab train`, `runs`, `studies`, `export`, `demo` driven as a user would (CliRunner and subprocesses)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import assert_one_line_error
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.store import Store

runner = CliRunner()
FAST = ["--epochs", "1", "--record-every", "0.5", "--quiet", "--train-subset", "300", "--test-subset", "200"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def trained(store_uri):
    r = invoke("train", "--arch", "mlp", "--arch", "cnn", "--seeds", "0-1", "--study", "t", *FAST)
    assert r.exit_code == 0, (r.output, r.exception)
    return Store(store_uri)


def test_train_records_every_network(trained, store_uri):
    from mlflow.tracking import MlflowClient
    runs = trained.list_runs("t")
    assert [(r.arch, r.seed, r.status) for r in runs] == [
        ("cnn", 0, "FINISHED"), ("cnn", 1, "FINISHED"), ("mlp", 0, "FINISHED"), ("mlp", 1, "FINISHED")]
    rec = trained.load_record(runs[0])
    assert rec.epoch[0] == 0 and rec.epoch[-1] == pytest.approx(1.0) and len(rec.epoch) == 3
    assert set(rec.splits) == {"train", "test"}
    assert rec.split("train").n_examples == 300 and rec.split("test").n_examples == 200
    assert rec.meta["arch"] == "cnn" and rec.meta["run_id"] == runs[0].run_id
    client = MlflowClient(store_uri)
    run = client.get_run(runs[0].run_id)
    assert {"lr", "optimizer", "batch_size", "weight_decay", "momentum", "seed", "dataset"} <= set(run.data.params)
    assert run.data.tags["orderlab.study"] == "t" and run.data.tags["orderlab.dataset"] == "digits"
    hist = client.get_metric_history(runs[0].run_id, "test_acc")
    assert len(hist) == 3 and hist[-1].value == pytest.approx(rec.split("test").correct()[-1].mean())
    assert {m.key for m in [*client.get_metric_history(runs[0].run_id, "loss")]} == {"loss"}
    # checkpoint 0 is the untrained network: near chance, and training moves it well above chance
    for r in runs:
        acc = trained.load_record(r).split("test").correct().mean(axis=1)
        assert acc[0] < 0.35 and acc[-1] > 0.5, (r.arch, acc)


def test_studies_runs_and_export(trained, tmp_path):
    r = invoke("studies")
    assert r.exit_code == 0 and "t" in r.output and "digits" in r.output
    r = invoke("runs", "t")
    assert r.exit_code == 0 and r.output.count("FINISHED") == 4
    out = tmp_path / "t.npz"
    r = invoke("export", "t", "-o", out)
    assert r.exit_code == 0, r.output
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) == {"correct", "predicted", "arch", "seed", "run_id", "epoch", "network_epoch",
                                "example_id", "label"}
        assert z["correct"].dtype == bool and z["correct"].shape == (4, 3, 200)
        assert z["predicted"].shape == (4, 3, 200) and np.issubdtype(z["predicted"].dtype, np.integer)
        assert list(z["arch"]) == ["cnn", "cnn", "mlp", "mlp"] and z["seed"].dtype == np.int64
        assert z["epoch"].dtype == np.float64 and z["example_id"].dtype == np.int64
        assert z["network_epoch"].shape == (4, 3) and (z["network_epoch"] == z["epoch"]).all()
        assert np.array_equal(z["correct"], z["predicted"] == z["label"][None, None, :])
    # the Python API returns the same arrays
    from orderlab.studydata import export_study
    api = export_study(trained, "t", "test")
    with np.load(out) as z:
        assert all(np.array_equal(api[k], z[k]) for k in z.files)
    # every command that writes files takes -o, --out and --output alike
    assert invoke("export", "t", "--out", tmp_path / "t2.npz").exit_code == 0 and (tmp_path / "t2.npz").is_file()
    r = invoke("report", "t", "--output", tmp_path / "rep", "--no-log")
    assert r.exit_code == 0 and (tmp_path / "rep" / "report.md").is_file(), r.output


def test_same_seed_twice_gives_identical_records(store_uri):
    for study in ("a", "b"):
        r = invoke("train", "--arch", "cnn", "--seeds", "3", "--study", study, *FAST)
        assert r.exit_code == 0, r.output
    store = Store(store_uri)
    ra, rb = (store.load_record(store.list_runs(s)[0]) for s in ("a", "b"))
    for split in ("train", "test"):
        assert np.array_equal(ra.split(split).correct_bits, rb.split(split).correct_bits)
        assert np.array_equal(ra.split(split).predicted, rb.split(split).predicted)
        assert np.array_equal(ra.split(split).p_true, rb.split(split).p_true)


def test_different_seeds_differ(store_uri):
    r = invoke("train", "--arch", "mlp", "--seeds", "0,1", "--study", "s", *FAST)
    assert r.exit_code == 0
    store = Store(store_uri)
    a, b = (store.load_record(x).split("test").p_true for x in store.list_runs("s"))
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("args, needles", [
    (["--arch", "nope"], ["unknown architecture 'nope'", "mlp", "cnn"]),
    (["--arch", "mlp", "--dataset", "nope"], ["unknown dataset 'nope'", "digits"]),
    (["--arch", "mlp", "--seeds", "5-2"], ["seed"]),
    (["--arch", "mlp", "--seeds", "a,b"], ["bad seed list"]),
    (["--arch", "mlp", "--seeds", "\uff11"], ["bad seed list '\uff11'"]),       # a full-width 1
    (["--arch", "mlp", "--epochs", "0"], ["--epochs must be a positive number"]),
    (["--arch", "mlp", "--epochs", "inf"], ["--epochs must be a positive number"]),
    (["--arch", "mlp", "--epochs", "1e300"], ["--epochs 1e+300 is more than 1,000,000; train for fewer epochs"]),
    (["--arch", "mlp", "--weight-decay=-1"], ["--weight-decay must be zero or a positive number"]),
    (["--arch", "mlp", "--momentum=-0.5"], ["--momentum must be zero or a positive number"]),
    (["--arch", "mlp", "--lr", "inf"], ["--lr must be a positive number"]),
    (["--arch", "mlp", "--data-seed=-1"], ["--data-seed must be between 0 and 4294967295"]),
    (["--arch", "mlp", "--seeds", "99999999999999999999"], ["is too large", "0 to 4294967295"]),
    (["--arch", "mlp", "--seeds", "0-99999999999"], ["is too large"]),
    (["--arch", "mlp", "--seeds", "0-4000000000"], ["more than 100,000 seeds", "several commands"]),
    (["--arch", "mlp", "--study", ""], ["bad study name ''"]),
    (["--arch", "mlp", "--study", " lead"], ["bad study name ' lead': it starts or ends with a space; use 'lead'"]),
    # the fix offered for a blank name was '', itself refused
    (["--arch", "mlp", "--study", "   "], ["bad study name '", "it is empty; name the study with --study, e.g. --study digits-mlp"]),
    # a name too long for its folder crashed after the study was made (and left it, empty)
    (["--arch", "mlp", "--study", "x" * 300], ["bad study name 'xxxx", "(300 bytes as UTF-8)", "at most 200 bytes"]),
    (["--arch", "mlp", "--study", "名" * 90], ["(270 bytes as UTF-8)"]),
    # ".." put its runs' folders beside the store's own files; a newline or an escape broke the tables
    (["--arch", "mlp", "--study", ".."], ["bad study name '..'", "not '.' or '..'"]),
    (["--arch", "mlp", "--study", "a\nb"], ["bad study name 'a\\nb': it holds the control character '\\n'"]),
    (["--arch", "mlp", "--study", "\x1b[31mred"], ["control character '\\x1b'"]),
    (["--arch", "mlp", "--tracking-uri", "foo://bar"], ["scheme (foo:)", "sqlite:///"]),
    (["--arch", "mlp", "--tracking-uri", "sqlite://"], ["in-memory", "keeps nothing"]),
    (["--arch", "mlp", "--tracking-uri", "sqlite:///DB_IS_A_DIR"], ["is a folder"]),
    (["--arch", "mlp", "--tracking-uri", "sqlite:///NOT_A_DB"], ["is not a usable SQLite database"]),
    (["--arch", "mlp", "--tracking-uri", "sqlite:///NOT_A_DB/runs/mlflow.db"], ["NOT_A_DB is a file, not a folder"]),
    (["--resume", ""], ["--resume needs a run id"]),
    (["--resume", "abc", "--arch", "mlp", "--epochs", "3"], ["drop --arch, --epochs"]),
    (["--arch", "mlp", "--batch-size", "0"], ["--batch-size must be positive"]),
    (["--arch", "mlp", "--train-subset", "100000"], ["--train-subset 100000 is more than the 1347 train examples",
                                                     "leave it out"]),
    (["--arch", "mlp", "--train-subset", "5"], ["--train-subset 5 is fewer than the 10 classes", "at least 10"]),
    (["--arch", "mlp", "--test-subset", "9"], ["--test-subset 9 is fewer than the 10 classes"]),
    (["--arch", "mlp", "--epochs", "1", "--record-every", "3"], ["--record-every 3", "larger than the training"]),
    (["--arch", "mlp", "--record-splits", "val"], ["--record-splits"]),
    # it would do nothing on features or text, yet be the study's setting for its next seeds
    (["--arch", "mlp", "--dataset", "gaussians:n=100,test=50", "--augment"],
     ["--augment crops and flips images, and dataset gaussians:n=100,test=50 is features data", "leave --augment out"]),
    (["--arch", "mlp", "--device", "tpu"], ["unknown device"]),
    (["--arch", "mlp", "--tracking-uri", "http://127.0.0.1:9"], ["unreachable", "--tracking-uri"]),
    # a database store: its driver (not installed: pymysql; installed by the dev extra: pg8000), its server
    (["--arch", "mlp", "--tracking-uri", "mysql+pymysql://u@127.0.0.1/db"],
     ["needs the database driver 'pymysql'", "pip install 'PyMySQL'"]),
    (["--arch", "mlp", "--tracking-uri", "postgresql+pg8000://u@127.0.0.1:9/db"],
     ["database server 127.0.0.1:9", "is unreachable", "--tracking-uri"]),
    (["--arch", "mlp", "--dataset", "cifar10", "--data-dir", "EMPTY"], ["--download"]),
    (["--arch", "mlp", "--dataset", "mnist", "--data-dir", "NOT_A_DB"], ["--data-dir", "NOT_A_DB is a file, not a folder"]),
    (["--arch", "mlp", "--tracking-uri", "http://[::1"], ["cannot be parsed", "http://HOST:PORT"]),
    # planning 10^9 checkpoints alone never ended
    (["--arch", "mlp", "--epochs", "1", "--record-every", "1e-9"], ["asks for 1e+09 checkpoints", "less often"]),
    (["--arch", "knn", "--epochs", "1", "--record-every", "1e-6"], ["asks for 1e+06 checkpoints"]),
])
def test_bad_input_is_one_line_exit_2(args, needles, tmp_path):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "DB_IS_A_DIR").mkdir()
    (tmp_path / "NOT_A_DB").write_bytes(np.random.default_rng(0).bytes(4096))
    args = [a.replace("sqlite:///", f"sqlite:///{tmp_path}/") if a.startswith("sqlite:///") else a for a in args]
    assert_one_line_error(invoke("train", *args, "--quiet"), *needles)
    assert (tmp_path / "NOT_A_DB").read_bytes() == np.random.default_rng(0).bytes(4096)   # left as it was


@pytest.mark.parametrize("args, needles", [
    (["train", "--arch", "mlp", "--nope"], ["No such option: --nope", "see `orderlab train --help`"]),
    (["trian"], ["No such command 'trian'", "Did you mean 'train'?", "see `orderlab --help`"]),
    (["train", "--arch", "mlp", "--epochs", "abc"], ["Invalid value for '--epochs'", "orderlab train --help"]),
    (["runs"], ["Missing argument", "see `orderlab runs --help`"]),
    (["train", "--study"], ["Option '--study' requires an argument", "see `orderlab train --help`"]),
])
def test_command_line_usage_errors_are_one_line_exit_2(args, needles):
    """Click's own checks (unknown option or command, a value that does not parse) answer as every
    other bad input does, not with Typer's framed box."""
    err = assert_one_line_error(runner.invoke(app, args), *needles)
    assert "╭" not in err and ".;" not in err


def test_a_mistyped_option_gets_only_suggestions_that_look_like_it():
    """Click compares names with their dashes, so every option looked close to any typo."""
    err = assert_one_line_error(runner.invoke(app, ["reproduce", "--bogus"]), "No such option: --bogus")
    assert err.strip() == "error: No such option: --bogus; see `orderlab reproduce --help`"
    err = assert_one_line_error(runner.invoke(app, ["train", "--arc", "mlp"]), "No such option: --arc")
    assert "(Possible options: --arch)" in err


def test_usage_errors_and_help_from_the_installed_command():
    exe = os.path.join(os.path.dirname(sys.executable), "orderlab")     # the console script pip installed
    run = lambda *a: subprocess.run([exe, *a], capture_output=True, text=True)
    bad = run("train", "--nope")
    assert bad.returncode == 2 and bad.stdout == "", bad
    assert bad.stderr.strip() == "error: No such option: --nope; see `orderlab train --help`", bad.stderr
    ok = run("train", "--help")
    assert ok.returncode == 0 and "--ensemble" in ok.stdout and ok.stderr == "", ok
    bare = run()                # `orderlab` alone shows its help, as before
    assert bare.returncode == 2 and "Usage: orderlab [OPTIONS] COMMAND" in bare.stdout and "Traceback" not in bare.stderr


def test_bad_npz_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert_one_line_error(invoke("train", "--arch", "mlp", "--dataset", "npz:junk.npz", "--quiet"), "junk.npz")
    np.savez(tmp_path / "short.npz", x_train=np.zeros((5, 4)), y_train=np.zeros(3))
    assert_one_line_error(invoke("train", "--arch", "mlp", "--dataset", "npz:short.npz", "--quiet"), "short.npz")
    assert_one_line_error(invoke("train", "--arch", "mlp", "--dataset", "npz:absent.npz", "--quiet"), "absent.npz")


def test_npz_labels_keep_their_values_as_class_names_for_flat_features_too(store_uri, tmp_path):
    """Labels 0, 10, 20, 30 are renumbered 0-3 for training; `examples --class 20` still finds label
    20 by its name (flat features have no thumbnails, but their class names are stored all the same)."""
    import json
    rng = np.random.default_rng(0)
    y_tr, y_te = np.repeat([0, 10, 20, 30], 20), np.repeat([0, 10, 20, 30], 5)
    np.savez(tmp_path / "feat.npz", x_train=rng.normal(size=(80, 6)) + y_tr[:, None] / 10, y_train=y_tr,
             x_test=rng.normal(size=(20, 6)) + y_te[:, None] / 10, y_test=y_te)
    r = invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "feat", "--dataset", f"npz:{tmp_path / 'feat.npz'}",
               "--epochs", "1", "--quiet")
    assert r.exit_code == 0, r.output
    r = invoke("examples", "feat", "--class", "20", "--json", "--easiest", "50")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 5 and all(row["label"] == 2 and row["class"] == "20" for row in rows)
    assert Store(store_uri).load_examples("feat")["splits"] == {}     # names, no pictures
    r = invoke("report", "feat", "-o", tmp_path / "rep", "--no-log")
    assert r.exit_code == 0, r.output
    assert "test: examples are feature vectors; no picture to show" in (tmp_path / "rep" / "report.md").read_text()


def test_errors_keep_what_was_recorded(trained, tmp_path):
    before = [r.run_id for r in trained.list_runs("t")]
    assert_one_line_error(invoke("runs", "nope"), "no study named 'nope'")
    assert_one_line_error(invoke("export", "nope", "-o", tmp_path / "x.npz"), "no study named 'nope'")
    # a corrupt record artifact: a clear error, and the other runs stay readable
    victim = trained.list_runs("t")[0]
    trained.record_file(victim.run_id).write_bytes(b"garbage")
    assert_one_line_error(invoke("export", "t", "-o", tmp_path / "x.npz"), "corrupt")
    assert [r.run_id for r in trained.list_runs("t")] == before
    assert trained.load_record(trained.list_runs("t")[1]).n_checkpoints == 3
    # new networks on other data cannot join the study
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "7", "--study", "t",
                                 *[a if a != "300" else "100" for a in FAST]),
                          "study 't' was made with --train-subset 300, not 100; use the study's data options")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_marks_run_killed_and_keeps_checkpoints(store_uri, sig):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "orderlab.cli", "train", "--arch", "mlp", "--seeds", "0",
                             "--epochs", "200", "--record-every", "1", "--study", "k", "--quiet",
                             "--tracking-uri", store_uri], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    store = Store(store_uri)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            runs = store.list_runs("k")
        except Exception:  # noqa: BLE001 - the study does not exist yet
            runs = []
        if runs and runs[0].checkpoints >= 3:
            break
        time.sleep(0.3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), (out, err)    # as a shell tells them
    assert "Traceback" not in err and "KILLED" in err
    [run] = store.list_runs("k")
    assert run.status == "KILLED"
    rec = store.load_record(run)
    assert rec.n_checkpoints >= 3 and rec.n_checkpoints == run.checkpoints


@pytest.mark.slow
def test_demo_trains_and_records(store_uri, tmp_path):
    r = invoke("demo", "--seeds", "0-1", "--epochs", "1", "--quiet", "--out", tmp_path / "rep")
    assert r.exit_code == 0, (r.output, r.exception)
    runs = Store(store_uri).list_runs("demo-digits")
    assert len(runs) == 4 and {r.arch for r in runs} == {"mlp", "cnn"}
    assert all(r.checkpoints == 5 for r in runs)  # 0, 1/4, 1/2, 3/4, 1
    # again with other settings: demo has no --study, so the fix names what demo has
    err = assert_one_line_error(invoke("demo", "--seeds", "0-1", "--epochs", "2", "--quiet", "--out", tmp_path / "rep"),
                                "epochs=1.0 (asked: 2.0)", "rerun `orderlab demo` with the settings it had",
                                "--tracking-uri")
    assert "--study" not in err


def test_export_refuses_or_aligns_different_checkpoints(store_uri, tmp_path):
    # (one architecture's networks in a study are trained alike; two architectures need not be)
    common = ["--study", "mixed", "--epochs", "1", "--quiet", "--train-subset", "300", "--test-subset", "200"]
    assert invoke("train", *common, "--arch", "mlp", "--seeds", "0", "--record-every", "0.5").exit_code == 0
    assert invoke("train", *common, "--arch", "cnn", "--seeds", "1", "--record-every", "1").exit_code == 0
    assert_one_line_error(invoke("export", "mixed", "-o", tmp_path / "m.npz"), "different checkpoints", "common")
    r = invoke("export", "mixed", "-o", tmp_path / "m.npz", "--align", "common")
    assert r.exit_code == 0, r.output
    assert "warning: aligned on 2 common checkpoints" in r.stderr
    assert "the file holds only the common ones" in r.stderr and "accessibility" not in r.stderr, r.stderr
    with np.load(tmp_path / "m.npz") as z:
        assert list(z["epoch"]) == [0.0, 1.0] and z["correct"].shape == (2, 2, 200)


def test_the_same_command_again_completes_the_study(store_uri):
    """A second `train` into a study skips what is FINISHED, trains what is missing, resumes what was
    interrupted, and never makes a second run of one (architecture, seed)."""
    args = ["train", "--arch", "mlp", "--study", "again", *FAST]
    assert invoke(*args, "--seeds", "0-1").exit_code == 0
    store = Store(store_uri)
    first = {r.seed: r.run_id for r in store.list_runs("again")}
    store.end_run(first[1], "KILLED", error="interrupted (Ctrl-C or SIGTERM)")      # as if stopped at the end
    r = runner.invoke(app, [a for a in args if a != "--quiet"] + ["--seeds", "0-2"])   # not quiet: the messages
    assert r.exit_code == 0, r.output
    assert "1 network already FINISHED" in r.output and "mlp/s0" in r.output and "resuming 1" in r.output
    runs = store.list_runs("again")
    assert sorted(x.seed for x in runs) == [0, 1, 2] and all(x.status == "FINISHED" for x in runs)
    assert {x.seed: x.run_id for x in runs if x.seed < 2} == first                # the same runs, resumed
    assert all(x.error is None for x in runs)


def test_a_network_already_there_with_other_settings_is_refused(store_uri):
    assert invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "cfg", *FAST).exit_code == 0
    fast = [a if a != "1" else "2" for a in FAST]                                  # --epochs 2
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", "cfg", *fast),
                          "already has mlp/s0", "epochs=1", "asked: 2", "another --study")
    assert [r.seed for r in Store(store_uri).list_runs("cfg")] == [0]             # nothing added
    # a new seed of an architecture the study has is trained as its networks were
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "5", "--study", "cfg", *fast),
                          "has mlp networks trained with other settings", "mlp/s0", "epochs=1", "asked: 2",
                          "differ only by seed", "orderlab runs cfg")
    assert_one_line_error(invoke("sweep", "--arch", "mlp", "--seeds", "5", "--study", "cfg", *FAST,
                                 "--record-every", "0.25"), "record_every=0.5", "asked: 0.25")
    assert [r.seed for r in Store(store_uri).list_runs("cfg")] == [0]
    # other data is named first, beside the training settings that differ
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "cfg", *fast,
                                 "--dataset", "gaussians"), "trained with dataset=digits (asked: gaussians), epochs=1")
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "5", "--study", "cfg", *fast,
                                 "--data-seed", "3"), "(mlp/s0, run", ": data_seed=0 (asked: 3), epochs=1")
    # other data alone is the study's data check's to judge (by the data itself)
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "5", "--study", "cfg", *FAST,
                                 "--data-seed", "3"), "study 'cfg' was made with --data-seed 0, not 3")
    assert [r.seed for r in Store(store_uri).list_runs("cfg")] == [0]
    # another architecture has its own settings
    assert invoke("train", "--arch", "cnn", "--seeds", "0", "--study", "cfg", *fast).exit_code == 0


def test_train_exits_1_when_a_network_fails(store_uri, monkeypatch):
    import orderlab.trainer.api as api
    real = api.train_one

    def flaky(run, spec, arch, seed, *a, **k):
        if seed == 1:
            raise RuntimeError("out of luck")
        return real(run, spec, arch, seed, *a, **k)
    monkeypatch.setattr(api, "train_one", flaky)
    r = invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", "fl", *FAST)
    assert r.exit_code == 1, r.output
    assert "1 network did not finish: mlp/s1 FAILED" in r.stderr and "out of luck" in r.stderr
    assert {x.seed: x.status for x in Store(store_uri).list_runs("fl")} == {0: "FINISHED", 1: "FAILED"}


def test_train_exits_1_when_a_network_could_not_start_its_run(store_uri, monkeypatch):
    """A network whose run the store refused never joins the runs the command made; it used to be
    missed, and the command said "recorded 0 networks" and exited 0."""
    from orderlab.trainer.run import NetworkRun
    real = NetworkRun.__enter__

    def refused(self):
        if self.seed in (1, 3):
            raise RuntimeError("the server said no")
        return real(self)
    monkeypatch.setattr(NetworkRun, "__enter__", refused)
    r = invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", "ns", *FAST)   # --quiet: said only here
    assert r.exit_code == 1, r.output
    assert r.stderr.strip() == ("1 network could not start a run in the store: mlp/s1 (RuntimeError: "
                                "the server said no); fix the cause and run the same command "
                                "again to resume or start them")
    assert {x.seed: x.status for x in Store(store_uri).list_runs("ns")} == {0: "FINISHED"}
    # an ensemble: its members' runs are made together; the first refused fails the group
    r = invoke("train", "--arch", "mlp", "--seeds", "2-4", "--ensemble", "3", "--study", "ns", *FAST)
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().endswith("could not start a run in the store: mlp/s3, mlp/s4 (RuntimeError: "
                                     "the server said no); fix the cause and run the same command "
                                     "again to resume or start them"), r.stderr


@pytest.fixture
def immutable(tmp_path):
    """Make a file immutable (``chattr +i``: read-only even for root, as CI runs); undone after."""
    made = []

    def make(path):
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available here (needs root and a filesystem that has it)")
        made.append(path)
    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_store_is_one_line_and_loses_nothing(tmp_path, monkeypatch, immutable):
    """Writing into a store whose database file cannot be written: one line, exit 2, for a new study
    and for a new network of an existing one; MLflow's logged SQL errors stay out of the terminal."""
    monkeypatch.chdir(tmp_path)
    assert invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "ro", *FAST).exit_code == 0
    db = tmp_path / "mlruns" / "mlflow.db"
    immutable(db)
    for study, seed in (("ro", "1"), ("fresh", "0")):      # a new process: none of this one's connections
        r = subprocess.run([sys.executable, "-m", "orderlab.cli", "train", "--arch", "mlp", "--seeds", seed,
                            "--study", study, *FAST], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.strip().splitlines()[-1] == (
            f"error: the store sqlite:///{db} is read-only (its database file cannot be written); make the file "
            f"writable or pass --tracking-uri to a writable store")
        assert "Traceback" not in r.stderr and "SQLAlchemy" not in r.stderr and "INSERT" not in r.stderr
    assert [(x.seed, x.status) for x in Store(f"sqlite:///{db}").list_runs("ro")] == [(0, "FINISHED")]
    # an archived store still gives reports: the files, and the option that leaves out logging
    r = subprocess.run([sys.executable, "-m", "orderlab.cli", "report", "ro", "-o", "rep"], capture_output=True,
                       text=True, cwd=tmp_path)
    # (the refused train of seed 1 kept no plan in the study's artifacts, which stay writable: the
    # report names no network as planned with no run)
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: wrote the report to rep; the store sqlite:///{db} is read-only, so it is not logged as the study's "
        f"report run; pass --no-log to write the files only"), r.stderr
    assert (tmp_path / "rep" / "report.md").is_file()
    r = subprocess.run([sys.executable, "-m", "orderlab.cli", "report", "ro", "-o", "rep2", "--no-log"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "rep2" / "report.md").is_file(), r.stderr


def test_reading_commands_create_no_store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/nowhere/mlflow.db"
    # a store named that is not there (a typo, often) is said to be missing, as `runs` says it
    assert_one_line_error(invoke("studies", "--tracking-uri", uri), "no orderlab store at", "train a study first")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)              # the default store, not made yet: a new project
    r = invoke("studies")
    assert r.exit_code == 0 and "no studies in" in r.output and not (tmp_path / "mlruns").exists()
    assert "start one with `orderlab train --arch mlp --seeds 0-3`" in " ".join(r.output.split()), r.output
    empty = f"sqlite:///{tmp_path}/empty/mlflow.db"      # named, and there but empty: the command names it
    Store(empty).list_studies()                          # made, with no study
    r = invoke("studies", "--tracking-uri", empty)
    said = f"start one with `orderlab train --arch mlp --seeds 0-3 --tracking-uri {empty}`"
    assert "".join(said.split()) in "".join(r.output.split()), r.output     # (lines break anywhere)
    assert_one_line_error(invoke("runs", "s", "--tracking-uri", uri), "no orderlab store at", "train a study first")
    assert_one_line_error(invoke("analyze", "s", "--tracking-uri", uri), "no orderlab store at")
    assert not (tmp_path / "nowhere").exists()


def test_a_training_refused_for_its_data_creates_no_store(tmp_path, monkeypatch):
    """A train or sweep refused because its data is missing left a new, empty store (950 KB, and
    the folders of a named one) where there was none."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    missing = ("--arch", "mlp", "--seeds", "0", "--epochs", "1", "--dataset", "cifar10", "--data-dir",
               str(tmp_path / "no-data"), "--quiet")
    for cmd in ("train", "sweep"):
        assert_one_line_error(invoke(cmd, *missing), "cifar10", "not found under", "point --data-dir at the folder")
        assert_one_line_error(invoke(cmd, *missing, "--tracking-uri", f"sqlite:///{tmp_path}/a/b/mlflow.db"),
                              "not found under")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # a store path under a file is still refused at once, before the data is read
    (tmp_path / "f").write_text("")
    assert_one_line_error(invoke("train", *missing, "--tracking-uri", f"sqlite:///{tmp_path}/f/b/mlflow.db"),
                          "cannot create the store folder", "is a file, not a folder")


def test_a_study_trained_with_augment_on_features_before_it_was_refused_takes_new_seeds(store_uri):
    """Such a study's networks hold augment=True; asked without it, new seeds are refused as trained
    otherwise, so --augment is accepted there (and nowhere else on features or text)."""
    base = ("--arch", "mlp", "--dataset", "gaussians:n=100,test=50", "--epochs", "1", "--study", "old", "--quiet")
    assert invoke("train", *base, "--seeds", "0").exit_code == 0
    import sqlite3
    con = sqlite3.connect(store_uri[len("sqlite:///"):])
    with con:
        con.execute("update params set value='True' where key='augment'")     # as orderlab stored it before
    con.close()
    assert_one_line_error(invoke("train", *base, "--seeds", "1"), "augment=True (asked: False)")
    r = invoke("train", *base, "--seeds", "1", "--augment")
    assert r.exit_code == 0, r.output
    assert_one_line_error(invoke("train", *base[:-3], "--study", "new", "--seeds", "1", "--augment", "--quiet"),
                          "leave --augment out")


def test_a_repeated_arch_or_reordered_splits_name_the_same_networks(store_uri):
    assert invoke("train", "--arch", "mlp", "--arch", "mlp", "--seeds", "0", "--study", "rep", *FAST).exit_code == 0
    assert [r.seed for r in Store(store_uri).list_runs("rep")] == [0]
    r = invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "rep", "--record-splits", "test,train", *FAST)
    assert r.exit_code == 0, r.output                                   # the same splits: skipped, not refused
    assert len(Store(store_uri).list_runs("rep")) == 1


def test_a_sqlite_uri_with_options_or_escapes_names_its_file(tmp_path):
    (tmp_path / "a b").mkdir()
    uri = f"sqlite:///{tmp_path}/a%20b/mlflow.db?timeout=30"
    assert invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "q", "--tracking-uri", uri, *FAST).exit_code == 0
    r = invoke("runs", "q", "--tracking-uri", uri)                      # a reading command finds the store
    assert r.exit_code == 0 and "FINISHED" in r.output, r.output
    assert (tmp_path / "a b" / "mlflow.db").exists()


@pytest.mark.parametrize("args", [["train", "--arch", "mlp", "--seeds", "0", "--device", "cuda:7"],
                                  ["reproduce", "--only", "within", "--device", "cuda:7"],
                                  ["reproduce", "--only", "within", "--tracking-uri", "http://127.0.0.1:9"]])
def test_a_refused_command_leaves_no_files(tmp_path, monkeypatch, args):
    """No store, no empty mlruns/ or report folder in the user's working folder."""
    import torch
    if "cuda:7" in args and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a GPU 7")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert_one_line_error(runner.invoke(app, args))
    assert list(tmp_path.iterdir()) == []


def test_subset_bounds_are_checked_when_a_study_is_made_not_when_it_is_continued(store_uri):
    """Studies trained before the check (a subset larger than its split meant the whole split) can
    still be completed and resumed with their own options."""
    fast = [a if a != "300" else "1347" for a in FAST]                         # digits has 1347 train examples
    assert invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "whole", *fast).exit_code == 0
    more = [a if a != "300" else "5000" for a in FAST]
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "1", "--study", "new-one", *more),
                          "--train-subset 5000 is more than")
    r = invoke("train", "--arch", "mlp", "--seeds", "1", "--study", "whole", *more)
    assert r.exit_code == 0, r.output
    assert [x.status for x in Store(store_uri).list_runs("whole")] == ["FINISHED", "FINISHED"]


def _interrupt_when_ending(monkeypatch, status: str):
    """Ctrl-C pressed while a run is being ended ``status``: it waits until the run has ended."""
    end_run = Store.end_run

    def end_then_ctrl_c(self, run_id, st, error=None):
        if st == status:
            signal.raise_signal(signal.SIGINT)
        return end_run(self, run_id, st, error)
    monkeypatch.setattr(Store, "end_run", end_then_ctrl_c)


def test_an_interrupt_as_a_run_finishes_is_reported_as_finished(store_uri, monkeypatch):
    """The run ends FINISHED (the interrupt waits until it has ended): the message says so, not KILLED."""
    _interrupt_when_ending(monkeypatch, "FINISHED")
    r = invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", "closing", *FAST)
    assert r.exit_code == 130, r.output
    assert "interrupted between networks, after mlp/s0 FINISHED (kept as recorded)" in r.stderr
    assert "KILLED" not in r.stderr
    assert [(x.name, x.status) for x in Store(store_uri).list_runs("closing")] == [("mlp/s0", "FINISHED")]


def test_an_interrupt_mid_training_names_the_killed_run_and_the_finished_ones(store_uri, monkeypatch):
    from orderlab.trainer.progress import Reporter
    seen = []

    def ctrl_c_in_the_second_network(self, fraction, metrics):
        if metrics:
            seen.append(fraction)
            if len(seen) == 5:          # s0 reports 3 checkpoints; the second of s1's
                raise KeyboardInterrupt
    monkeypatch.setattr(Reporter, "network_progress", ctrl_c_in_the_second_network)
    r = invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", "mid", *FAST)
    assert r.exit_code == 130, r.output
    assert ("interrupted: mlp/s1 marked KILLED, recorded checkpoints kept; 1 network finished before it is "
            "kept") in r.stderr
    assert [(x.name, x.status) for x in Store(store_uri).list_runs("mid")] == [("mlp/s0", "FINISHED"),
                                                                              ("mlp/s1", "KILLED")]


def test_an_interrupt_before_any_network_started_says_nothing_was_recorded(store_uri, monkeypatch):
    import orderlab.trainer.run as run_mod

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(run_mod, "prepare_study", ctrl_c)
    r = invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "early", *FAST)
    assert r.exit_code == 130
    assert "interrupted before any network started: no network was recorded" in r.stderr and "KILLED" not in r.stderr


def test_an_interrupt_as_a_resumed_run_finishes_leaves_nothing_to_resume(store_uri, monkeypatch):
    from conftest import cut_run
    cut = cut_run(store_uri, "res", 2, archs=["mlp"], seeds=[0], epochs=1, record_every=0.25,
                  train_subset=300, test_subset=200)
    _interrupt_when_ending(monkeypatch, "FINISHED")
    r = invoke("train", "--resume", cut.run_id, "--quiet")
    assert r.exit_code == 130, r.output
    assert "interrupted as mlp/s0 finished: it is recorded FINISHED; nothing is left to resume" in r.stderr
    assert Store(store_uri).get_run(cut.run_id).status == "FINISHED"


def test_an_interrupt_after_a_failed_network_names_it(store_uri, monkeypatch):
    """mlp/s0 fails, then Ctrl-C lands before mlp/s1's run exists: the message names the failure
    rather than saying no network was recorded."""
    import orderlab.trainer.api as api
    import orderlab.trainer.run as run_mod

    def fail(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(api, "train_one", fail)
    made = []
    real_init = run_mod.NetworkRun.__init__

    def init_then_ctrl_c(self, *a, **k):
        made.append(1)
        if len(made) == 2:
            raise KeyboardInterrupt
        real_init(self, *a, **k)
    monkeypatch.setattr(run_mod.NetworkRun, "__init__", init_then_ctrl_c)
    r = invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", "failed", *FAST)
    assert r.exit_code == 130, r.output
    assert "interrupted between networks, after mlp/s0 FAILED (kept as recorded)" in r.stderr, r.stderr
    assert [(x.name, x.status) for x in Store(store_uri).list_runs("failed")] == [("mlp/s0", "FAILED")]


def test_the_interrupted_line_names_networks_left_stale():
    """A network whose end the store could not take (STALE) went unsaid: the line read "interrupted
    before any network started: no network was recorded"."""
    from types import SimpleNamespace

    from orderlab.commands.train import interrupted_line
    ended = {"mlp/s0": "STALE", "mlp/s1": "KILLED"}
    tally = SimpleNamespace(with_status=lambda status: [n for n, s in ended.items() if s == status])
    assert interrupted_line(tally).startswith("interrupted: mlp/s1 marked KILLED, recorded checkpoints kept; "
                                              "mlp/s0 STALE (see `orderlab runs`); ")
    del ended["mlp/s1"]
    assert interrupted_line(tally).startswith("interrupted between networks, after mlp/s0 STALE (kept as recorded)")


def test_the_refusal_names_only_the_settings_that_differ(store_uri):
    """Settings left unset are logged as "None": they equal an unset setting (they were named as
    differing, `train_subset=None (asked: None)`, beside the one that did)."""
    quick = ["--epochs", "1", "--record-every", "1", "--quiet"]         # the whole of digits: no subsets
    assert invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "nones", *quick).exit_code == 0
    r = invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "nones", "--epochs", "2", *quick[2:])
    err = assert_one_line_error(r, "already has mlp/s0", "epochs=1.0 (asked: 2.0)")
    assert "None" not in err and "subset" not in err, err


def test_a_stream_setting_other_than_0_or_1_is_refused(store_uri, monkeypatch):
    """ORDERLAB_STREAM_DATA=banana was read as unset, without a word."""
    monkeypatch.setenv("ORDERLAB_STREAM_DATA", "yes")
    for cmd in ("train", "sweep"):
        assert_one_line_error(invoke(cmd, "--arch", "mlp", "--seeds", "0", "--study", "stream", *FAST),
                              "ORDERLAB_STREAM_DATA='yes' is not 0 or 1", "unset it")
    assert "stream" not in Store(store_uri).study_names()
    for args in (["train", "--resume", "0" * 32], ["sweep", "--resume", "stream"]):    # before the run is looked up
        assert_one_line_error(invoke(*args, "--tracking-uri", store_uri), "ORDERLAB_STREAM_DATA='yes' is not 0 or 1")


def test_resuming_where_there_is_no_store_makes_none(tmp_path, monkeypatch):
    """`train --resume` in a folder without a store (a hint pasted in the wrong terminal) was refused,
    but left an empty ./mlruns/mlflow.db behind, which the TUI and `orderlab studies` then showed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    elsewhere = f"sqlite:///{tmp_path}/other/mlflow.db"
    for args in (["train", "--resume", "0" * 32], ["sweep", "--resume", "gone"],
                 ["train", "--resume", "0" * 32, "--tracking-uri", elsewhere]):
        assert_one_line_error(invoke(*args), "no orderlab store at", "--tracking-uri at an existing store")
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_an_interrupt_after_training_says_so(store_uri, monkeypatch):
    """Ctrl-C once every network is recorded (while `train` reads the runs back): a line, not a
    silent exit 130 (Typer turns a KeyboardInterrupt its command lets through into one)."""
    def ctrl_c(self, run_id):
        raise KeyboardInterrupt
    monkeypatch.setattr(Store, "get_run", ctrl_c)
    r = invoke("train", "--arch", "mlp", "--seeds", "0", "--study", "after", *FAST)
    assert r.exit_code == 130, r.output
    assert r.stderr.strip().splitlines()[-1] == "interrupted", r.stderr
    monkeypatch.undo()
    assert [(x.name, x.status) for x in Store(store_uri).list_runs("after")] == [("mlp/s0", "FINISHED")]


def test_help_writes_no_type_beside_a_flag():
    """Typer wrote "--quiet -q <bool>", which reads as if the flag took a value (`-q true` is refused)."""
    for cmd in (["train"], ["sweep"], ["analyze"], ["reproduce"]):
        r = invoke(*cmd, "--help")
        assert r.exit_code == 0 and "<bool>" not in r.output, r.output
    r = invoke("train", "--help")
    assert "<float>" in r.output and "<str>" in r.output      # options that take a value keep their type


def test_a_study_made_before_the_name_rules_still_takes_networks(store_uri, monkeypatch):
    """The rules for a new study's name (at most 200 bytes, no control characters) came after
    studies were made with such names: `train` refused to add a seed to them."""
    from orderlab.trainer import api
    name = "é" * 110                                               # 220 bytes, a folder name still
    with monkeypatch.context() as m:
        m.setattr(api, "check_new_study_name", lambda n: None)      # as made before the rules
        r = invoke("train", "--arch", "mlp", "--seeds", "0", "--study", name, *FAST)
        assert r.exit_code == 0, r.output
    r = invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", name, *FAST)
    assert r.exit_code == 0, r.output
    assert sorted(x.seed for x in Store(store_uri).list_runs(name)) == [0, 1]
    assert_one_line_error(invoke("train", "--arch", "mlp", "--seeds", "0", "--study", name + "e", *FAST),
                          "(221 bytes as UTF-8)", "at most 200 bytes")


def test_help_at_80_columns_gives_descriptions_room_and_repeatable_options_one_type():
    """At 80 columns Typer's panels (four name columns and a type column) squeezed `train --help`'s
    descriptions into 30 columns, a word or two a line; a repeatable option read "<list[str]>",
    as if it took a list. Narrow, a command's help is Click's; wide, Typer's panels stay."""
    for cmd in ("train", "sweep", "analyze", "export", "reproduce", "tui"):
        narrow = runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "80"})
        assert narrow.exit_code == 0 and "╭" not in narrow.output and "<list[" not in narrow.output, narrow.output
        assert max(map(len, narrow.output.splitlines())) <= 80, narrow.output
    narrow = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "80"}).output
    assert "  -s, --seeds <str>         Seeds: a range 0-99, a list 0,3,7, one 5 or a mix" in narrow, narrow
    assert "  -a, --arch <str>          Architecture (repeatable)" in narrow, narrow
    wide = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "120"}).output
    assert "╭─ Options" in wide and "<list[" not in wide, wide
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}).output        # the commands keep their panels
    assert "╭─ Train" in top and "╭─ Analyse" in top, top


def test_piped_progress_rows_fit_80_columns(store_uri):
    """`train 2>&1 | tee log` in an 80-column terminal wrapped every row mid-word ("FINISHED  t" /
    "est 0.900"): in a pipe the bars were sized for 160 columns."""
    args = [a for a in FAST if a != "--quiet"]
    r = invoke("train", "--arch", "mlp", "--seeds", "0-1", "--study", "piped", *args)
    assert r.exit_code == 0, r.output
    rows = [line for line in r.stderr.splitlines() if "━" in line]
    assert len(rows) == 3 and all("FINISHED  test 0." in row for row in rows[1:]), r.stderr
    assert max(map(len, rows)) <= 80, rows


def test_momentum_is_refused_where_no_network_uses_it(store_uri):
    """`--arch mlp --momentum 0.5` trained with AdamW (mlp's default), which has no momentum, and
    stored momentum=0.5 among the run's parameters as if it had been used."""
    from types import SimpleNamespace

    from orderlab.trainer.api import TrainConfig, _differences, resolve_hparams
    from orderlab.trainer.models import get_arch
    for extra in ([], ["--arch", "cnn"]):
        assert_one_line_error(invoke("train", "--arch", "mlp", *extra, "--momentum", "0.5", "--seeds", "0", *FAST),
                              "--momentum sets SGD's momentum", "(its default optimizer" if not extra else
                              "(their default optimizer", "add --optimizer sgd, or drop --momentum")
    assert_one_line_error(invoke("train", "--arch", "mlp", "--optimizer", "adam", "--momentum", "0.5", "--seeds", "0",
                                 *FAST), "mlp trains with AdamW, which has none: --optimizer sgd in place of adam, "
                                         "or drop --momentum")
    assert not Store(store_uri).list_studies()
    r = invoke("train", "--arch", "mlp", "--optimizer", "sgd", "--momentum", "0.5", "--seeds", "0", "--study", "m", *FAST)
    assert r.exit_code == 0, r.output
    assert Store(store_uri).list_runs("m")[0].params["momentum"] == "0.5"
    # beside an SGD network it is that network's; the AdamW one keeps its default, as a learner
    # keeps its network-only options (so its next seeds, asked without it, are not refused)
    cfg = TrainConfig(study="m", archs=["mlp", "st-vgg"], seeds=[0], momentum=0.5)
    assert resolve_hparams(get_arch("mlp"), cfg, False)["momentum"] == get_arch("mlp").hyperparameters()["momentum"]
    assert resolve_hparams(get_arch("st-vgg"), cfg, False)["momentum"] == 0.5
    stored = SimpleNamespace(arch="mlp", params={"optimizer": "adam", "momentum": "0.5"})    # as stored before
    assert _differences(stored, {"optimizer": "adam", "momentum": 0.9}, None) == []
    stored.params["optimizer"] = "sgd"
    assert _differences(stored, {"optimizer": "sgd", "momentum": 0.9}, None) == ["momentum=0.5 (asked: 0.9)"]


def test_help_changes_stay_with_orderlab_commands():
    """The plain narrow help and the flag types were patched onto Typer's own classes, so another
    Typer app in the same process (a user's script beside `orderlab.cli`) got them too."""
    import typer
    other = typer.Typer()

    @other.command()
    def hello(name: list[str] = typer.Option([]), loud: bool = typer.Option(False, "--loud")):
        """Say hello."""

    own = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "80"}).output
    assert "╭" not in own, own
    theirs = runner.invoke(other, ["--help"], env={"COLUMNS": "80"}).output
    assert "╭─ Options" in theirs and "--loud" in theirs, theirs        # Typer's panels, narrow too
    wide = runner.invoke(other, ["--help"], env={"COLUMNS": "120"}).output
    row = next(line for line in wide.splitlines() if "--loud" in line)
    assert "<bool>" in row and "<list[str]>" in wide, wide               # Typer's own type column
    for width in ("80", "120"):                 # orderlab's own list of commands: its --help is a flag
        top = runner.invoke(app, ["--help"], env={"COLUMNS": width}).output
        assert "--help" in top and "<bool>" not in top, top


def test_a_store_made_by_train_is_said_to_be_new(tmp_path):
    """A mistyped --tracking-uri made a store in a new folder without a word; the closing line now
    says the store is new (and not on the next run into it)."""
    uri = f"sqlite:///{tmp_path}/typo/dir/mlflow.db"
    args = ("train", "--arch", "logistic", "--seeds", "0", "--epochs", "1", "--train-subset", "100",
            "--test-subset", "50", "--tracking-uri", uri)
    r = invoke(*args)
    assert r.exit_code == 0 and f"in study 'digits-logistic' (new store {uri})" in r.output, r.output
    r = invoke(*args[:4], "1", *args[5:])
    assert r.exit_code == 0 and f"(store {uri})" in r.output and "new store" not in r.output, r.output


def test_archs_and_datasets_list_whole_names_at_80_columns():
    """At 80 columns the tables cut the names a user types ("gaussians:dim=20,classes=5,sep=2,n=30…")
    and squeezed descriptions to 17 columns; narrower than the table, each entry is a name line with
    its description under it. In a pipe each description is whole on its line."""
    from orderlab.trainer.data import dataset_specs
    terminal = {"TTY_COMPATIBLE": "1", "TERM": "dumb", "LINES": "40", "COLUMNS": "80"}
    names = [s.name + (f":{s.arg_help or 'PATH'}" if s.takes_arg else "") for s in dataset_specs()]
    out = runner.invoke(app, ["datasets"], env=terminal).stdout
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in out and all(n in lines for n in names), out
    text = " ".join(out.split())
    assert all(" ".join(s.description.split()) in text for s in dataset_specs()), out
    out = runner.invoke(app, ["archs"], env=terminal).stdout
    assert "mlp  torch  image/features  optimizer=adam, lr=0.003, batch_size=32, epochs=10" in out.splitlines(), out
    assert max(map(len, out.splitlines())) <= 80 and "…" not in out, out
    piped = runner.invoke(app, ["datasets"]).stdout.splitlines()
    assert all(f"    {s.description}" in piped for s in dataset_specs()), piped
    wide = runner.invoke(app, ["archs"], env={"COLUMNS": "250"}).stdout.splitlines()
    assert wide[0].split() == ["architecture", "kind", "inputs", "defaults", "description"], wide
    # in a pipe no line is padded to the table's width with spaces (a log's lines were, by ~200)
    assert not [line for line in wide + piped if line.endswith(" ")], wide


def test_closing_lines_wrap_at_spaces_in_a_terminal_and_keep_the_store_whole(tmp_path):
    """Train's closing line was echoed whole, so an 80-column terminal broke it mid-word ("stu|dy");
    now it wraps at spaces, the store's address never broken by a newline
    a copy would keep, and in a pipe they stay one line for scripts."""
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 2) / "store"
    uri = f"sqlite:///{deep}/mlflow.db"
    terminal = {"TTY_COMPATIBLE": "1", "TERM": "dumb", "LINES": "40", "COLUMNS": "80"}
    args = ["train", "--arch", "logistic", "--seeds", "0", "--epochs", "1", "--train-subset", "100",
            "--test-subset", "50", "--study", "closing", "--tracking-uri", uri]
    out = runner.invoke(app, args, env=terminal).stdout.splitlines()
    i = next(i for i, line in enumerate(out) if line.startswith("recorded 1 network in study 'closing'"))
    assert len(out[i]) <= 80 and out[i + 1] == f"{uri})", out
    piped = runner.invoke(app, args[:4] + ["1"] + args[5:]).stdout.splitlines()
    assert f"recorded 1 network in study 'closing' (store {uri})" in piped, piped
