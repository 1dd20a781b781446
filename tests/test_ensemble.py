"""Vectorised ensembles (`--ensemble K`): each member writes the run and record it would write alone."""
import re

import numpy as np
import pytest
import torch
from conftest import module_store_uri, records_by_seed
from typer.testing import CliRunner

from orderlab.cli import app
from orderlab.store import Store
from orderlab.trainer.api import TrainConfig, train_study
from orderlab.trainer.progress import MessageLog

SMALL = dict(dataset="digits", train_subset=240, test_subset=120, epochs=1, record_every=0.5, device="cpu",
             quiet=True)


store_uri = module_store_uri()


def test_mlp_members_equal_networks_trained_alone(store_uri):
    from mlflow.tracking import MlflowClient
    train_study(TrainConfig(study="alone", archs=["mlp"], seeds=[0, 1, 2], tracking_uri=store_uri, **SMALL))
    train_study(TrainConfig(study="together", archs=["mlp"], seeds=[0, 1, 2], ensemble=3, tracking_uri=store_uri,
                            **SMALL))
    store = Store(store_uri)
    alone, together = records_by_seed(store, "alone"), records_by_seed(store, "together")
    assert sorted(together) == [0, 1, 2]
    client = MlflowClient(store_uri)
    for seed, (run, rec) in together.items():
        assert run.status == "FINISHED" and run.params["ensemble"] == "3" and run.checkpoints == 3
        solo = alone[seed][1]
        assert np.array_equal(rec.step, solo.step) and np.array_equal(rec.epoch, solo.epoch)
        for split in ("train", "test"):
            a, b = rec.split(split), solo.split(split)
            # stacked linear layers do each member's nn.Linear arithmetic: identical, bit for bit
            assert np.array_equal(a.correct_bits, b.correct_bits)
            assert np.array_equal(a.predicted, b.predicted) and np.array_equal(a.p_true, b.p_true)
        hist = client.get_metric_history(run.run_id, "test_acc")
        assert [m.value for m in hist] == pytest.approx(list(rec.split("test").correct().mean(axis=1)))
        solo_loss = [m.value for m in client.get_metric_history(alone[seed][0].run_id, "loss")]
        assert [m.value for m in client.get_metric_history(run.run_id, "loss")] == solo_loss    # to the bit
    # members differ from each other (own initialisation and data order)
    assert not np.array_equal(together[0][1].split("test").p_true, together[1][1].split("test").p_true)


def test_cnn_members_match_alone_up_to_rounding(store_uri):
    cfg = dict(archs=["cnn"], seeds=[3, 4], tracking_uri=store_uri, augment=True, **SMALL)
    train_study(TrainConfig(study="cnn-alone", **cfg))
    train_study(TrainConfig(study="cnn-together", ensemble=2, **cfg))
    store = Store(store_uri)
    alone, together = records_by_seed(store, "cnn-alone"), records_by_seed(store, "cnn-together")
    for seed in (3, 4):
        a, b = together[seed][1].split("test"), alone[seed][1].split("test")
        # grouped convolutions sum in another order (~1e-7): predictions agree almost everywhere
        assert (a.predicted == b.predicted).mean() > 0.97
        assert np.abs(a.p_true.astype(float) - b.p_true.astype(float)).max() < 0.1
        assert np.abs(a.correct().mean(1) - b.correct().mean(1)).max() <= 0.03


def test_batch_norm_members_keep_their_own_statistics(store_uri):
    """resnet18 (batch norm): each member's saved running statistics, loaded into a network alone,
    give back the member's recorded predictions."""
    from orderlab.trainer.data import load_dataset
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.loop import load_state
    from orderlab.trainer.models import get_arch
    train_study(TrainConfig(study="bn", archs=["resnet18"], seeds=[0, 1], ensemble=2, tracking_uri=store_uri,
                            batch_size=32, **{**SMALL, "train_subset": 64, "test_subset": 40, "record_every": 1}))
    store = Store(store_uri)
    runs = store.list_runs("bn")
    assert [r.status for r in runs] == ["FINISHED", "FINISHED"]
    ds = load_dataset("digits", train_subset=64, test_subset=40)
    means = []
    for r in runs:
        state = load_state(store.state_file(r.run_id, STATE_FILENAME, "."))
        means.append(state["model"]["bn1.running_mean"])
        torch.manual_seed(0)
        model = get_arch("resnet18").build(ds.input_shape, ds.n_classes)
        model.load_state_dict(state["model"])
        model.eval()
        with torch.no_grad():
            pred = model(torch.as_tensor(ds.x_test)).argmax(1).numpy()
        assert (pred == store.load_record(r).split("test").predicted[-1]).mean() > 0.95
    assert not torch.equal(means[0], means[1])


def test_fallback_names_why(store_uri):
    rep = MessageLog()
    ids = train_study(TrainConfig(study="fb", archs=["logistic"], seeds=[0, 1], ensemble=2, tracking_uri=store_uri,
                                  **{**SMALL, "epochs": None, "record_every": 5}), rep)
    assert len(ids) == 2 and any("falls back to one network at a time" in m and "sklearn" in m for m in rep.lines)
    assert [r.status for r in Store(store_uri).list_runs("fb")] == ["FINISHED", "FINISHED"]


def test_unvectorisable_module_falls_back():
    """A network whose forward reads a value (data-dependent Python) cannot run under vmap."""
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.ensemble import unsupported_reason
    from orderlab.trainer.loop import DeviceData
    from orderlab.trainer.models import ArchSpec

    class Reads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.lin(x.flatten(1)) * (2.0 if x.sum().item() > 0 else 1.0)

    ds = load_dataset("digits", train_subset=20, test_subset=20)
    spec = ArchSpec("reads", "test", lambda shape, n, **kw: Reads())
    why = unsupported_reason(spec, ds, DeviceData(ds, torch.device("cpu")), spec.hyperparameters())
    assert why is not None and "vmap" in why


def test_augmentation_per_member_is_the_networks_own():
    from orderlab.trainer.ensemble import augment_members
    from orderlab.trainer.loop import augment_batch
    x = torch.randn(3, 5, 3, 16, 16)
    out = augment_members(x, [7, 8, 9], step=11, flip=True)
    for k, seed in enumerate([7, 8, 9]):
        assert torch.equal(out[k], augment_batch(x[k], seed, 11, True))


def test_cli_ensemble_groups_and_remainder(store_uri):
    r = CliRunner().invoke(app, ["train", "--arch", "mlp", "--seeds", "0-2", "--ensemble", "2", "--study", "k", "--tracking-uri", store_uri,
                                 "--epochs", "1", "--record-every", "1", "--train-subset", "100",
                                 "--test-subset", "50", "--quiet"])
    assert r.exit_code == 0, r.output
    runs = Store(store_uri).list_runs("k")
    assert [(x.seed, x.status, x.params.get("ensemble")) for x in runs] == [
        (0, "FINISHED", "2"), (1, "FINISHED", "2"), (2, "FINISHED", None)]


# ------------------------------------------------------------------ the device path, on the CPU

def test_streamed_data_gives_the_records_of_data_on_the_device(store_uri, monkeypatch):
    """Datasets too large for the device stream from host memory through DataLoader workers; the
    batches (order, augmentation) are the same, so the records are too."""
    from orderlab.trainer.loop import STREAM_ENV
    cfg = dict(archs=["cnn"], seeds=[7], augment=True, tracking_uri=store_uri, **SMALL)
    monkeypatch.setenv(STREAM_ENV, "0")
    train_study(TrainConfig(study="on-device", **cfg))
    monkeypatch.setenv(STREAM_ENV, "1")
    rep = MessageLog()
    train_study(TrainConfig(study="streamed", **{**cfg, "seeds": [7, 8]}, ensemble=2), rep)
    # ensembles need the data on the device; the reason is the variable, not the device's size
    assert any(f"{STREAM_ENV}=1 streams the dataset from host memory" in m for m in rep.lines), rep.lines
    assert not any("does not fit" in m for m in rep.lines), rep.lines
    store = Store(store_uri)
    a = store.load_record(store.list_runs("on-device")[0])
    b = records_by_seed(store, "streamed")[7][1]
    for split in ("train", "test"):
        assert np.array_equal(a.split(split).correct_bits, b.split(split).correct_bits)
        assert np.array_equal(a.split(split).p_true, b.split(split).p_true)



def test_benchmarks_refuse_to_time_failed_or_fallen_back_runs(store_uri, monkeypatch):
    """benchmarks/_verify.check_study: a run that FAILED (it ends early, so it looks fast) or an
    ensemble that fell back to one network at a time is reported, not timed."""
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _verify import check_study
    kept = MessageLog()
    train_study(TrainConfig(study="bench-ok", archs=["mlp"], seeds=[0, 1], ensemble=2, tracking_uri=store_uri, **SMALL),
                kept)
    assert check_study(store_uri, "bench-ok", 2, 2, kept) is None
    assert check_study(store_uri, "bench-ok", 3, 2, kept).startswith("2 of 3 networks finished")
    kept = MessageLog()
    train_study(TrainConfig(study="bench-fb", archs=["logistic"], seeds=[0, 1], ensemble=2, tracking_uri=store_uri,
                            **{**SMALL, "epochs": None, "record_every": 5}), kept)
    assert "one at a time" in check_study(store_uri, "bench-fb", 2, 2, kept)
    assert "sklearn" in check_study(store_uri, "bench-fb", 2, 2, kept)
    store = Store(store_uri)
    run = store.list_runs("bench-ok")[0]
    store.end_run(run.run_id, "FAILED", error="RuntimeError: boom")
    assert "FAILED: RuntimeError: boom" in check_study(store_uri, "bench-ok", 2, 2, MessageLog())


def test_an_ensembles_progress_row_ends_on_its_members_mean_accuracy():
    """The members end one after another on the ensemble's one row: it showed the last one's test
    accuracy, unlabelled, as if it were the group's."""
    from orderlab.trainer.progress import RichReporter
    rep = RichReporter()
    rep.progress.disable = True          # no drawing: the row's fields are what is checked
    rep.study_started("s", 5, "digits", "cpu")
    rep.network_started("mlp/s0..s3 (x4)", "a" * 32)
    for seed, acc in enumerate((0.9, 0.8, 0.7, 1.0)):
        rep.network_finished(f"mlp/s{seed}", "FINISHED", {"test_acc": acc})
    assert rep.progress.tasks[-1].fields["info"] == "[green]FINISHED[/]  test 0.850 (mean)"
    rep.network_started("mlp/s4", "b" * 32)         # a network alone: its own accuracy
    rep.network_finished("mlp/s4", "FINISHED", {"test_acc": 0.5})
    assert rep.progress.tasks[-1].fields["info"] == "[green]FINISHED[/]  test 0.500"
    rep.__exit__(None, None, None)


def test_progress_rows_at_80_columns_keep_bar_and_times_whole_and_cut_the_information():
    """At 80 columns the bar had shrunk to 3 cells and the times read "0:…" while the lr and loss
    took the room; now the information gives way, accuracies first in it."""
    import io

    from rich.console import Console

    from orderlab.trainer.progress import RichReporter, progress_bars
    rep = RichReporter()
    rep.progress = progress_bars(Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None))
    rep.progress.disable = True          # no live display: one frame is drawn below
    rep.study_started("s", 8, "fashion-mnist", "cpu")
    rep.network_started("resnet18/s0..s3 (x4)", "a" * 32)
    rep.network_progress(0.4, {"test_acc": 0.8125, "train_acc": 0.8533, "loss": 0.41234, "lr": 0.00256})
    lines = [line.rstrip() for line in _render(rep.progress).splitlines() if line.strip()]
    row = next(line for line in lines if line.startswith("resnet18/s0..s3 (x4)"))
    bar = row[len("resnet18/s0..s3 (x4) "):row.index(" 40.0%")]         # drawn in 16 cells, 6 of them done
    assert max(map(len, lines)) <= 80 and len(bar) >= 16 and bar.count("━") == 6, lines
    assert re.search(r" 40\.0% \d:\d\d:\d\d [-\d:]{7} test 0\.812 …$", row), row


@pytest.mark.parametrize("width, shown", [(80, "test 0.812 …"), (90, "test 0.812  train 0.853 …"),
                                          (100, "test 0.812  train 0.853 …"),
                                          (120, "test 0.812  train 0.853  loss 0.412  lr 0.00256")])
def test_a_progress_rows_information_gives_way_item_by_item(width, shown):
    """Cut character by character, a row ended in a stub such as "train 0.…" or "loss 0.…", which
    read as a value: the information now drops whole items, and "…" says more follows."""
    import io

    from rich.console import Console

    from orderlab.trainer.progress import RichReporter, progress_bars
    rep = RichReporter()
    rep.progress = progress_bars(Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None))
    rep.progress.disable = True
    rep.study_started("s", 8, "fashion-mnist", "cpu")
    rep.network_started("resnet18/s0..s3 (x4)", "a" * 32)
    rep.network_progress(0.4, {"test_acc": 0.8125, "train_acc": 0.8533, "loss": 0.41234, "lr": 0.00256})
    row = next(line.rstrip() for line in _render(rep.progress).splitlines() if line.startswith("resnet18"))
    assert row.endswith(" " + shown) and len(row) <= width, row


def _render(progress) -> str:
    """What a progress display draws, once, as text."""
    progress.console.print(progress.get_renderable())
    return progress.console.file.getvalue()


def test_a_failed_networks_bar_stays_where_it_stopped_and_is_not_counted_done():
    """A network that died at epoch 4 of 40 read "100.0% … FAILED", and the overall bar "2/2 done"."""
    from orderlab.trainer.progress import RichReporter
    rep = RichReporter()
    rep.progress.disable = True
    rep.study_started("s", 2, "digits", "cpu")
    rep.network_started("cnn/s0", "a" * 32)
    rep.network_finished("cnn/s0", "FINISHED", {"test_acc": 0.9})
    rep.network_started("cnn/s1", "b" * 32)
    rep.network_progress(0.1, {})
    rep.network_finished("cnn/s1", "FAILED", {}, error="RuntimeError: boom")
    bar, overall = rep.progress.tasks[-1], rep.progress.tasks[0]
    assert bar.completed == 100 and bar.fields["info"] == "[red]FAILED[/]"
    assert overall.completed == 2 and overall.fields["info"] == "1/2 done, [red]1 failed[/]"
    rep.__exit__(None, None, None)


def test_progress_bars_hide_the_terminals_ctrl_c_echo_while_drawn():
    """Ctrl-C in a terminal echoed "^C" under the bars, moving the cursor a line down: their last
    redraw printed the sweep's top row twice. The echo is off while the bars are drawn and put back
    after, where the process is its terminal's foreground; in the background, where changing the
    terminal would stop the job (SIGTTOU), it is left alone."""
    import fcntl
    import os
    import pty
    import subprocess
    import sys
    import termios
    code = ("import io, termios\n"
            "from rich.console import Console\n"
            "from orderlab.trainer.progress import progress_bars\n"
            "def flag(): return bool(termios.tcgetattr(0)[3] & termios.ECHOCTL)\n"
            "bars = progress_bars(Console(file=io.StringIO(), force_terminal=True))\n"
            "before = flag(); bars.start(); during = flag(); bars.stop(); after = flag()\n"
            "print('FLAGS', before, during, after)\n")

    def run(foreground: bool) -> bytes:
        master, slave = pty.openpty()
        try:
            # a session of its own; with the terminal as its controlling one, its foreground
            ctty = (lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0)) if foreground else None
            r = subprocess.run([sys.executable, "-c", code], stdin=slave, capture_output=True, timeout=30,
                               start_new_session=True, preexec_fn=ctty)
        finally:
            os.close(master)
            os.close(slave)
        return r.stdout + r.stderr
    out = run(True)
    assert b"FLAGS True False True" in out, out
    out = run(False)
    assert b"FLAGS True True True" in out, out
    # sent to the background while drawn (as Ctrl-Z and bg do): putting the echo back stopped a
    # shell's job with SIGTTOU, at the bars' end or at exit, and it never ended until brought back
    # (here, the process leading its session, the change failed instead: the echo stayed off)
    code = code.replace("before = flag(); bars.start(); during = flag(); bars.stop(); after = flag()\n",
                        "import os, subprocess\n"
                        "before = flag(); bars.start(); during = flag()\n"
                        "job = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(20)'], "
                        "process_group=0)\n"
                        "os.tcsetpgrp(0, job.pid)\n"
                        "bars.stop(); after = flag(); job.kill()\n")
    code = "import sys\n" + code
    try:
        out = run(True)
    except subprocess.TimeoutExpired:
        pytest.fail("a job in the background was stopped putting the terminal back")
    assert b"FLAGS True False True" in out, out
