"""`orderlab tui` when networks' records cannot be read (corrupt or missing `record/record.npz`):
the study screen names each such network and why over every view, the runs table marks it, and
the other networks are still analysed. Real SQLite stores, as in test_tui.py."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from test_tui_helpers import (empty_db, make_app, new_store, pilot_test, screen_text, shows,  # noqa: F401
                              study_ready, wait_for)

pytestmark = pytest.mark.xdist_group("tui")

CORRUPT = "record is corrupt or not an orderlab record"
MISSING = "record file does not exist"


def record_path(store, run) -> Path:
    return Path(store.record_file(run.run_id, run.artifact_uri))


def corrupt(store, run, seed: int = 0) -> Path:
    """Overwrite the run's record with random bytes."""
    path = record_path(store, run)
    path.write_bytes(np.random.default_rng(seed).bytes(path.stat().st_size))
    return path


def by_name(store, study) -> dict:
    return {r.name: r for r in store.list_runs(study)}


def broken_study(empty_db, root, study="broken", finish=True):
    """mlp and cnn x 3 networks; mlp/s1's record filled with random bytes, cnn/s2's deleted."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, root)
    store = Store(uri)
    populate_store(store, study, archs=("mlp", "cnn"), seeds=3, n_checkpoints=5, n_examples=160, finish=finish)
    runs = by_name(store, study)
    good = [r for n, r in runs.items() if n not in ("mlp/s1", "cnn/s2")]
    original = record_path(store, runs["mlp/s1"]).read_bytes()
    corrupt(store, runs["mlp/s1"])
    record_path(store, runs["cnn/s2"]).unlink()
    return uri, store, runs, good, original


def status_cell(app, run) -> str:
    from textual.widgets import DataTable
    return str(app.screen.query_one("#runs-table", DataTable).get_cell(run.run_id, "status"))


@pilot_test
async def test_unreadable_records_are_named_marked_and_left_out(empty_db, tmp_path):
    from textual.widgets import DataTable
    from orderlab.analysis import metrics as M
    from orderlab.studydata import load_stack
    uri, store, runs, good, original = broken_study(empty_db, tmp_path)
    # What the four readable networks give, computed by the analysis itself.
    expected = load_stack(store, "broken", "test", align="common", runs=good)
    app = make_app(uri, study="broken", refresh=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="the study")
        s = app.screen
        # The other networks are analysed, and only they.
        assert sorted(s.data.stack.run_id) == sorted(r.run_id for r in good)
        curves = s.data.analysis.curves
        assert curves["mlp"]["n"] == 2 and curves["cnn"]["n"] == 2
        for arch in ("mlp", "cnn"):
            np.testing.assert_allclose(curves[arch]["tpa"], M.group_curves(expected, bootstrap=0)[arch]["tpa"])
        # Each unreadable network is named, with why, over every view.
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            assert shows(app, f"mlp/s1 left out of the analysis: {CORRUPT}"), key
            assert shows(app, f"cnn/s2 left out of the analysis: {MISSING}"), key
        assert sorted((p.name, p.reason.split(" (")[0]) for p in s.data.unreadable) == \
            [("cnn/s2", MISSING), ("mlp/s1", CORRUPT)]
        assert s.problem is None                            # no poll failed over it
        # The agreement table counts two mlp networks: the numbers are those of the four.
        await pilot.press("2")
        await pilot.pause()
        last = expected.n_checkpoints - 1
        row = next(line for line in screen_text(app).splitlines() if line.strip().startswith("mlp "))
        assert f"{M.tpa(expected, last, networks=expected.arch_index('mlp')):.3f}" in row, row
        # The runs table marks them, and only them; the line under it gives the reason and the file.
        await pilot.press("1")
        await pilot.pause()
        assert status_cell(app, runs["mlp/s1"]) == status_cell(app, runs["cnn/s2"]) == "finished ⚠"
        assert all("⚠" not in status_cell(app, r) for r in good)
        table = s.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(runs["mlp/s1"].run_id))
        await pilot.pause()
        path = str(record_path(store, runs["mlp/s1"]))
        assert shows(app, f"mlp/s1 finished epoch 1 of 1, 5 checkpoints left out of the analysis: record is corrupt "
                          f"({path[:30]}")
        # with the fix `orderlab analyze` gives: the run is finished, so delete it and train it again
        detail = {p.name: p.detail for p in s.data.unreadable}["mlp/s1"]
        assert f"mlflow runs delete --run-id {runs['mlp/s1'].run_id}" in detail and "--arch mlp --seeds 1" in detail
        # "/ unreadable" lists them.
        await pilot.press("slash", *"unreadable", "enter")
        await wait_for(pilot, lambda: table.row_count == 2, what="the filter")
        # Live: the record is restored; the network rejoins the analysis and the warning goes.
        record_path(store, runs["mlp/s1"]).write_bytes(original)
        await wait_for(pilot, lambda: study_ready(app) and s.data.stack.n_networks == 5, what="mlp/s1 back")
        assert [p.name for p in s.data.unreadable] == ["cnn/s2"]
        await wait_for(pilot, lambda: not shows(app, "mlp/s1 left out"), what="the warning to go")
        await wait_for(pilot, lambda: table.row_count == 1, what="the filter to follow")
        s.query_one("#runs-filter").value = ""
        await wait_for(pilot, lambda: table.row_count == 6, what="every run")
        assert "⚠" not in status_cell(app, runs["mlp/s1"])
        assert shows(app, f"cnn/s2 left out of the analysis: {MISSING}")


@pilot_test
async def test_unreadable_records_at_80x24_and_every_record_unreadable(empty_db, tmp_path):
    uri, store, runs, good, _ = broken_study(empty_db, tmp_path)
    app = make_app(uri, study="broken")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="the study")
        # "⚠ unreadable" widened the status column past 80: the test accuracies were cut to "0.96"
        rows = [line.split() for line in screen_text(app).splitlines()]
        assert ["arch", "▲", "seed", "status", "progress", "ckpts", "train", "acc", "test", "acc"] in rows, rows
        assert [f"{r.test_acc:.3f}" for r in app.screen.data.runs if r.name == "mlp/s1"] == \
            [next(row[-1] for row in rows if row[:3] == ["mlp", "1", "finished"])], rows
        for key in "123456":
            await pilot.press(key)      # the view renders in the next frames: wait for it, not one pause
            await wait_for(pilot, lambda: shows(app, "mlp/s1 left out of the analysis")
                           and shows(app, "cnn/s2 left out"), what=f"the warning on view {key}")
    # Every record unreadable: the warning names them (one line for many) and the views say why
    # there is nothing to analyse; nothing crashes.
    for r in good:
        corrupt(store, r, seed=1)
    app = make_app(uri, study="broken")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.data is not None and len(app.screen.data.unreadable) == 6,
                       what="six unreadable records")
        assert app.screen.data.stack is None
        assert shows(app, "6 networks left out of the analysis, their records cannot be read")
        assert all(shows(app, n) for n in runs)
        await pilot.press("2")
        await wait_for(pilot, lambda: shows(app, "no record can be read"), what="why there is nothing to analyse")
        # every view says it at its top (Heatmap and Order said it on their last line, under the
        # empty charts)
        for key in "2345":
            await pilot.press(key)
            # (the warning over the views is line 2; the view's own line comes after the tabs)
            await wait_for(pilot, lambda: [i for i, ln in enumerate(screen_text(app).splitlines())
                                           if "no record can be read" in ln][-1] < 12,
                           what=f"why, at the top of view {key}")


@pilot_test
async def test_record_rewritten_while_training_is_not_flagged(empty_db, tmp_path):
    """Records rewritten at every checkpoint while the app polls are never reported unreadable;
    a running network's record that really is damaged is, within two polls, and the others go on."""
    from test_tui import add_checkpoint
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    store = Store(uri)
    populate_store(store, "live", archs=("mlp", "cnn"), seeds=2, n_checkpoints=3, n_examples=400, finish=False)
    runs = by_name(store, "live")
    app = make_app(uri, study="live", refresh=0.02)
    seen: list[list[str]] = []
    load = app.source.load

    def spy(*a, **kw):
        data = load(*a, **kw)
        seen.append([p.name for p in getattr(data, "unreadable", [])])
        return data
    app.source.load = spy
    stop = threading.Event()

    def trainer(names):
        rng = np.random.default_rng(0)
        while not stop.is_set():
            for r in store.list_runs("live"):
                if r.name in names:
                    add_checkpoint(store, r, rng)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="the study")
        t = threading.Thread(target=trainer, args=(["mlp/s0", "mlp/s1", "cnn/s0", "cnn/s1"],), daemon=True)
        t.start()
        try:
            await wait_for(pilot, lambda: app.screen.data.stack.n_checkpoints >= 10, timeout=60,
                           what="ten checkpoints")
        finally:
            stop.set()
            t.join()
        polls = len(seen)
        assert polls >= 5 and not any(seen), seen
        # Now cnn/s1's record is damaged while it is still running, and it records on (its tag moves).
        stop.clear()
        corrupt(store, runs["cnn/s1"])
        n = store.list_runs("live")[0].checkpoints
        store.log_metrics(runs["cnn/s1"].run_id, {}, 10_000, tags={"orderlab.checkpoints": n + 5})
        await wait_for(pilot, lambda: shows(app, f"cnn/s1 left out of the analysis: {CORRUPT}"),
                       what="the damaged record reported")
        s = app.screen
        t = threading.Thread(target=trainer, args=(["mlp/s0", "mlp/s1", "cnn/s0"],), daemon=True)
        t.start()
        try:
            reached = s.data.stack.n_checkpoints
            await wait_for(pilot, lambda: study_ready(app) and s.data.stack.n_checkpoints > reached + 2,
                           timeout=60, what="the others going on")
        finally:
            stop.set()
            t.join()
        assert "cnn/s1" not in {f"{a}/s{sd}" for a, sd in zip(s.data.stack.arch, s.data.stack.seed)}
        assert shows(app, f"cnn/s1 left out of the analysis: {CORRUPT}")
        assert all(names in ([], ["cnn/s1"]) for names in seen), seen


# ------------------------------------------------------------------ the source, without the screen

def running_mlps(empty_db, tmp_path, seeds: int):
    """(store, runs by name, a StudySource) of study "s": ``seeds`` running mlps, 4 checkpoints each."""
    from orderlab.app.source import StudySource
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    store = Store(uri)
    populate_store(store, "s", archs=("mlp",), seeds=seeds, n_checkpoints=4, n_examples=100, finish=False)
    return store, by_name(store, "s"), StudySource(uri)


def test_source_running_record_needs_two_failed_reads_finished_one(empty_db, tmp_path):
    store, runs, src = running_mlps(empty_db, tmp_path, 3)
    assert src.load(("s",)).stack.n_networks == 3
    # mlp/s0 is running: its tag moves on and its record reads as garbage. One failed read may be a
    # file caught mid-upload on a remote store: its last good record stands in.
    corrupt(store, runs["mlp/s0"])
    store.log_metrics(runs["mlp/s0"].run_id, {}, 100, tags={"orderlab.checkpoints": 5})
    data = src.load(("s",))
    assert data.stack.n_networks == 3 and getattr(data, "unreadable", []) == []
    data = src.load(("s",))                              # the next poll: still unreadable
    assert data.stack.n_networks == 2
    assert [(p.name, p.reason.split(" (")[0]) for p in data.unreadable] == [("mlp/s0", CORRUPT)]
    assert data.unreadable[0].path == str(record_path(store, runs["mlp/s0"]))
    # A finished network's record is final: one failed read tells.
    store.end_run(runs["mlp/s1"].run_id, "FINISHED")
    record_path(store, runs["mlp/s1"]).unlink()
    store.log_metrics(runs["mlp/s1"].run_id, {}, 100, tags={"orderlab.checkpoints": 5})
    data = src.load(("s",))
    assert {p.name: p.reason for p in data.unreadable}["mlp/s1"] == MISSING
    assert str(record_path(store, runs["mlp/s1"])) in {p.name: p.detail for p in data.unreadable}["mlp/s1"]
    assert list(data.stack.run_id) == [runs["mlp/s2"].run_id]
    # An unchanged unreadable file is not read again at every poll.
    reads = src.reads
    src.load(("s",))
    assert src.reads == reads


def test_source_chooses_networks_without_the_unreadable(empty_db, tmp_path):
    """'most checkpoints' picks the networks among the readable ones: of a live study, two mlp
    networks with 10 checkpoints beat four networks with 4; with one mlp record damaged, the other
    mlp and the two cnn networks (3 x 4 checkpoints) are analysed, not the lone mlp."""
    from orderlab.app.source import StudySource
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    store = Store(uri)
    populate_store(store, "mix", archs=("mlp",), seeds=2, n_checkpoints=10, n_examples=100, seed=0, finish=False)
    populate_store(store, "mix", archs=("cnn",), seeds=2, n_checkpoints=4, n_examples=100, seed=0, finish=False)
    runs = by_name(store, "mix")
    data = StudySource(uri).load(("mix",))
    assert sorted(data.stack.arch) == ["mlp", "mlp"] and data.stack.n_checkpoints == 10
    corrupt(store, runs["mlp/s0"])
    source = StudySource(uri)
    source.load(("mix",))                   # a running network's record failing once may be a rewrite
    data = source.load(("mix",))            # twice: unreadable
    assert sorted(data.stack.arch) == ["cnn", "cnn", "mlp"] and data.stack.n_checkpoints == 4
    assert [p.name for p in data.unreadable] == ["mlp/s0"]
    assert data.waiting == []


def test_unreadable_text_names_each_or_summarises():
    from orderlab.app.screens.study import unreadable_text
    from orderlab.app.source import RecordProblem, _reason
    from orderlab.record import RecordError
    assert unreadable_text([]) is None
    two = [RecordProblem("a", "mlp/s1", "record file does not exist"), RecordProblem("b", "cnn/s0", "record x")]
    assert unreadable_text(two).plain.splitlines() == ["⚠ mlp/s1 left out of the analysis: record file does not exist",
                                                       "⚠ cnn/s0 left out of the analysis: record x"]
    many = [RecordProblem(str(i), f"mlp/s{i}", "r") for i in range(5)]
    text = unreadable_text(many).plain
    assert len(text.splitlines()) == 1 and text.startswith("⚠ 5 networks left out") and "mlp/s4" in text
    e = RecordError("record /x/record.npz is corrupt or not an orderlab record (not a complete .npz (zip) "
                    "file; truncated); delete it and re-run the network")
    assert _reason(e, Path("/x/record.npz")) == f"{CORRUPT} (not a complete .npz (zip) file; truncated)"
    assert _reason(RecordError("record file /x/r.npz does not exist"), "/x/r.npz") == MISSING
    assert _reason(RecordError("record file /x/r.npz does not exist; put it back"), "/x/r.npz") == MISSING
    from orderlab.store import StoreError
    assert _reason(StoreError("run 12 has no readable record yet (MlflowException)"), None) == \
        "record cannot be fetched: run 12 has no readable record yet (MlflowException)"


def test_source_leaves_out_a_record_copied_from_another_run(empty_db, tmp_path):
    """As analyze does: a record naming another network is named, not shown as this run's."""
    import shutil
    from orderlab.app.source import StudySource
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    store = Store(uri)
    populate_store(store, "cp", archs=("mlp",), seeds=3, n_checkpoints=4, n_examples=100)
    runs = by_name(store, "cp")
    shutil.copyfile(record_path(store, runs["mlp/s0"]), record_path(store, runs["mlp/s2"]))
    data = StudySource(uri).load(("cp",))
    assert sorted(data.stack.run_id) == sorted([runs["mlp/s0"].run_id, runs["mlp/s1"].run_id])
    [problem] = data.unreadable
    assert problem.name == "mlp/s2" and "belongs to another network" in problem.detail


def test_the_fixes_for_a_record_name_the_store_when_the_user_named_it(tmp_path, monkeypatch):
    """This folder's own store named with --tracking-uri: a finished network's damaged record is
    fixed by training it again with `train … --tracking-uri URI`, and a study without networks by `train --study
    S --tracking-uri URI` (the command line's rule); opened without naming it: bare commands."""
    from orderlab.app.source import StudySource
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "s", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=50)
    runs = by_name(store, "s")
    corrupt(store, runs["mlp/s1"])
    store.get_or_create_study("bare", "digits", "f" * 16)
    for arg, named in ((uri, True), (None, False)):
        src = StudySource(arg)
        [problem] = src.load(("s",)).unreadable
        retrain = problem.detail.split("train it again (`")[1]
        assert retrain.startswith("orderlab train --study s --arch mlp --seeds 1"), problem.detail
        assert retrain.endswith(f" --tracking-uri {uri}`)" if named else "`)") and retrain.count("--tracking-uri") == named
        data = src.load(("bare",))
        want = "`orderlab train --arch NAME --study bare" + (f" --tracking-uri {uri}`" if named else "`")
        assert want in data.problem, (arg, data.problem)


def test_a_damaged_examples_file_is_a_note_not_a_failed_study(empty_db, tmp_path, monkeypatch):
    """The TUI analyses the study as ever, without pictures, and says why in the notes line."""
    from orderlab.app.source import StudySource
    from orderlab.store import EXAMPLES_ARTIFACT_DIR, THUMBNAILS_FILENAME, Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    store = Store(uri)
    populate_store(store, "pics", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=50)
    path = store._artifact_dir(store.study_parent("pics")) / EXAMPLES_ARTIFACT_DIR / THUMBNAILS_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 cut short")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")            # a TUI reading another store than the default
    data = StudySource(uri).load(("pics",))
    assert data.problem is None and data.stack.n_networks == 2 and data.examples is None
    [note] = [n for n in data.notes if "examples file is damaged" in n]
    # the command names this store (the TUI may read another than the default)
    assert "`orderlab train --study pics" in note and f"--tracking-uri {uri}" in note, note


@pilot_test
async def test_r_reads_every_record_anew(empty_db, tmp_path):
    """A finished network's record damaged after the TUI had read it went unnoticed, even after `r`:
    the study was analysed from the copy read before, until the TUI was started again."""
    uri, store, runs, good, _ = broken_study(empty_db, tmp_path)
    app = make_app(uri, study="broken", refresh=600.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="the study")
        assert len(app.screen.data.unreadable) == 2
        corrupt(store, good[0], seed=3)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(app.screen.data.unreadable) == 3, what="the third unreadable record")
        assert shows(app, f"{good[0].name} left out of the analysis")
        # `n` lists them with the other notes
        assert any(n.startswith(f"{good[0].name} left out of the analysis: record") for n in app.screen.notes), \
            app.screen.notes


def test_a_build_from_a_record_kept_after_a_failed_read_is_not_reused_once_it_reads(empty_db, tmp_path):
    """A running network's record that failed to read once stands in with its last good copy (4
    checkpoints) while its tag says 5; the analysis built from it was keyed by the tag, and reused
    when the record read whole at the next poll, so the view stayed a checkpoint behind."""
    from test_tui import add_checkpoint
    store, runs, src = running_mlps(empty_db, tmp_path, 2)
    assert src.load(("s",)).stack.n_checkpoints == 4
    rng = np.random.default_rng(0)
    for r in runs.values():
        add_checkpoint(store, r, rng)
    good = store.load_record(runs["mlp/s0"])
    corrupt(store, runs["mlp/s0"])
    assert src.load(("s",)).stack.n_checkpoints == 4        # its last good record stands in
    store.write_record(runs["mlp/s0"].run_id, good)
    assert src.load(("s",)).stack.n_checkpoints == 5
