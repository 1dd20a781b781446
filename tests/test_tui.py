"""Functional tests of `orderlab tui` with Textual's pilot, on real SQLite stores."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import studies_row
from test_tui_helpers import (ALPHA, BETA, GAMMA, SOLO, empty_db, make_app, new_store,  # noqa: F401
                               pilot_test, screen_text, shows, study_ready, tui_store, wait_for)

pytestmark = pytest.mark.xdist_group("tui")


def expected_stack(uri, study, split="test"):
    from orderlab.store import Store
    from orderlab.studydata import load_stack
    return load_stack(Store(uri), study, split, align="common")


# ------------------------------------------------------------------ navigation

@pilot_test
async def test_studies_list_and_navigation(tui_store):
    from textual.widgets import TabbedContent
    from orderlab.app.screens.help import HelpScreen
    from orderlab.app.screens.studies import StudiesScreen
    from orderlab.app.screens.study import StudyScreen
    app = make_app(tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.known_studies) == 4, what="the study list")
        text = screen_text(app)
        for name in (ALPHA, BETA, GAMMA, SOLO):
            assert name in text
        row = next(line for line in text.splitlines() if line.strip().startswith(GAMMA))
        # gamma: 0 running, 1 finished, 1 failed, 0 stale, 5 checkpoints
        assert row.split()[3:8] == ["0", "1", "1", "0", "5"]
        await pilot.press("enter")                    # first row: alpha
        await wait_for(pilot, lambda: study_ready(app), what="alpha")
        screen = app.screen
        assert isinstance(screen, StudyScreen) and screen.studies == (ALPHA,)
        tabs = screen.query_one(TabbedContent)
        for key, view in zip("234561", ["agreement", "heatmap", "histogram", "order", "examples", "runs"]):
            await pilot.press(key)
            assert tabs.active == view
        await pilot.click("#views Tab#--content-tab-heatmap")
        assert tabs.active == "heatmap"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Heatmap" in screen_text(app)
        # its footer says how to close it (the study screen's under it offered "s sort", "? help" …)
        await pilot.pause()
        assert screen_text(app).splitlines()[-1].split() == ["esc", "close"], screen_text(app)
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        assert isinstance(app.screen, StudiesScreen)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen) and app.screen.studies == (BETA,))
        # The command palette opens studies and views by name.
        await pilot.press("ctrl+p")
        await pilot.press(*"View: Heatmap")
        await wait_for(pilot, lambda: shows(app, "View: Heatmap"), what="the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.query_one(TabbedContent).active == "heatmap")
        await pilot.press("ctrl+p")
        await pilot.press(*"Open study solo")
        await wait_for(pilot, lambda: shows(app, "Open study solo"), what="the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen) and app.screen.studies == (SOLO,))


def test_study_columns_give_way_to_the_counts():
    from orderlab.tables import fit_widths
    natural = {"study": 40, "dataset": 13, "archs": 26, "running": 7, "finished": 4, "failed": 6,
               "stale": 5, "checkpoints": 5, "updated": 7}
    assert fit_widths(natural, 200) == natural                      # room enough: nothing changes
    fitted = fit_widths(natural, 80)
    assert sum(fitted.values()) + 2 * len(fitted) + 2 <= 80
    assert {k: v for k, v in fitted.items() if k not in ("study", "dataset", "archs")} == \
        {k: v for k, v in natural.items() if k not in ("study", "dataset", "archs")}
    assert fitted["study"] > fitted["archs"] and fitted["study"] > fitted["dataset"]
    tiny = fit_widths(natural, 30)                                   # never below the least widths
    assert (tiny["study"], tiny["dataset"], tiny["archs"]) == (10, 7, 5)
    # with the "plan" column, the longest "updated" and long names, the table still fits 80 columns
    from orderlab.tables import COLUMNS, ago
    now = 1e9
    longest = max(len(ago(now - d, now)) for d in (0, 59, 600, 9 * 3600, 20 * 3600, 5 * 86400, 99 * 86400, 4e7))
    assert longest <= 8
    full = {k: max(len(label), 3) for k, label in COLUMNS} | {"study": 40, "dataset": 13, "archs": 26, "updated": longest}
    fitted = fit_widths(full, 80)
    assert sum(fitted.values()) + 2 * len(fitted) + 2 <= 80, fitted


@pilot_test
async def test_long_names_leave_the_counts_in_view_at_80_columns(tmp_path, empty_db):
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    name = "fashion-mnist-resnet18-against-densenet-and-st-vgg"
    populate_store(Store(uri), name, archs=("resnet18", "densenet", "st-vgg"), seeds=1, n_checkpoints=4,
                   n_examples=20)
    app = make_app(uri)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.known_studies) == 1, what="the study list")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if line.strip().startswith("study"))
        assert header.split()[-3:] == ["stale", "ckpts", "updated"], header
        row = next(line for line in lines if line.strip().startswith("fashion-"))
        assert "…" in row and row.split()[-5:-2] == ["0", "0", "4"], row    # failed, stale, checkpoints
        await pilot.resize_terminal(140, 24)                           # wider: the whole name
        await pilot.pause()
        assert name in screen_text(app)


@pilot_test
async def test_a_long_study_name_is_whole_on_its_own_screen_at_80_columns(tmp_path, empty_db):
    """docs/tui.md: the study's screen names it whole. At 80 columns a 64-character name lost its
    end to the header's icon and (empty) clock space; much longer names keep both ends."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    long = "a-very-long-study-name-for-testing-the-narrow-terminal-layout-x"
    longer = "an-even-longer-study-name-" * 4 + "end"
    for name in (long, longer, "short"):
        populate_store(Store(uri), name, archs=("mlp",), seeds=1, n_checkpoints=3, n_examples=20)
    for name, shown in ((long, [f"{long} · test"]), (longer, [longer[:30], "…", longer[-30:]]),
                        ("short", ["orderlab — short · test"])):
        app = make_app(uri, study=name)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: study_ready(app), what="the study")
            await pilot.pause()
            top = screen_text(app).splitlines()[0]
            assert all(part in top for part in shown), (name, top)


@pilot_test
async def test_the_status_line_wraps_rather_than_cut_its_checkpoint_and_mode_at_80_columns(tui_store):
    """At 80 columns "… · checkpoint 161/1…" lost the total, the mode marker and more (TUI review):
    the status wraps; only the poll time gives way to keep it on one line where that is all."""
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="the study")
        s = app.screen
        await pilot.press("2", "a")                             # every network: the longest status
        await wait_for(pilot, lambda: s.mode == "all" and "(a)" in screen_text(app), what="every network")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        status = " ".join(line.strip() for line in lines[1:3])
        n = s.data.stack.n_checkpoints
        assert f"checkpoint {n}/{n}" in status and "every network (a)" in status, lines[:4]
        assert "…" not in status, status


@pilot_test
async def test_every_view_shows_the_study(tui_store):
    from orderlab.analysis import metrics as M
    stack = expected_stack(tui_store, ALPHA)
    last = stack.n_checkpoints - 1
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="alpha")
        s = app.screen
        # Runs: every network with its status and accuracies.
        text = screen_text(app)
        assert text.count("finished") >= 8 and "cnn" in text and "mlp" in text
        # Agreement: the numbers at the latest checkpoint are the metrics' numbers.
        await pilot.press("2")
        await pilot.pause()
        text = screen_text(app)
        for arch in ("mlp", "cnn"):
            idx = stack.arch_index(arch)
            tpa = M.tpa(stack, last, networks=idx)
            ind = M.tpa_independent(stack, last, networks=idx)
            row = next(line for line in text.splitlines() if line.strip().startswith(arch + " "))
            assert f"{tpa:.3f}" in row and f"{ind:.3f}" in row, row
        assert any(ch in text for ch in "⠁⠂⠄⡀⠈⠐⠠⢀")      # the braille curves
        # Heatmap: the architecture matrix's values at the chosen checkpoint.
        await pilot.press("3")
        await pilot.pause()
        archs, am = M.architecture_agreement(stack, last)
        text = screen_text(app)
        assert f"{am[0, 1]:.2f}"[1:] in text and "8 networks" in text
        assert f"checkpoint {last + 1}/{stack.n_checkpoints}" in text
        # Step back: the heatmap and the histogram follow the chosen checkpoint.
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: s.cp_result.checkpoint == last - 1)
        np.testing.assert_allclose(s.cp_result.net_matrix, M.pairwise_agreement(stack, last - 1), equal_nan=True)
        assert f"checkpoint {last}/{stack.n_checkpoints}" in screen_text(app)
        await pilot.press("home")
        await wait_for(pilot, lambda: s.cp_result.checkpoint == 0)
        # Histogram at checkpoint 0: the observed counts are the metric's.
        await pilot.press("4")
        await pilot.pause()
        obs, ind = M.correct_count_histogram(stack, 0)
        np.testing.assert_array_equal(s.cp_result.observed, obs)
        text = screen_text(app)
        assert "Sarle" in text and f"{M.bimodality(stack, 0)['sarle']:.2f}" in text
        # Order: Spearman between the architectures.
        await pilot.press("5")
        await pilot.pause()
        oc = M.order_correlation(stack)
        i, j = oc["archs"].index("mlp"), oc["archs"].index("cnn")
        assert f"ρ = {oc['spearman'][i, j]:.2f}" in screen_text(app)
        from orderlab.analysis.summary import tied_at_top
        assert shows(app, "ties: over 20%") == bool(tied_at_top(stack, 0.2))
        # Examples: the easiest example first, drawn with half blocks, with its label.
        await pilot.press("6")
        await pilot.pause()
        acc = M.accessibility(stack)
        first = int(np.argsort(-acc, kind="stable")[0])
        text = screen_text(app)
        assert "▀" in text and f"#{int(stack.example_id[first])} digit{int(stack.label[first])}" in text
        # the twelfth easiest shown: a pick among more tied there, and the screen says so
        order = np.argsort(-acc, kind="stable")
        v = acc[order[11]]
        tied, shown = int(np.sum(acc == v)), int(np.sum(acc[order[:12]] == v))
        which = "the one of them shown is" if shown == 1 else f"the {shown} of them shown are"
        said = f"{tied} examples tie at accessibility {v:.2f}: {which} the first"
        assert (said in " ".join(text.split())) == (tied > shown), (tied, shown, text)
        await pilot.press("e")                        # hardest
        await pilot.pause()
        hardest = int(np.argsort(acc, kind="stable")[0])
        assert f"#{int(stack.example_id[hardest])} " in screen_text(app)
        await pilot.press("k")                        # one class
        await pilot.pause()
        text = screen_text(app)
        assert "class digit0" in text
        shown = [w for w in text.split() if w.startswith("digit")]
        assert shown and set(shown) == {"digit0"}


@pilot_test
async def test_runs_filter_and_sort(tui_store):
    from textual.widgets import DataTable
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        table = app.screen.query_one("#runs-table", DataTable)
        assert table.row_count == 8
        await pilot.press("slash")
        await pilot.press(*"cnn")
        await wait_for(pilot, lambda: table.row_count == 4)
        assert all(str(table.get_row_at(i)[0]) == "cnn" for i in range(4))
        await pilot.press("enter")                    # back to the table
        for _ in range(6):                            # arch -> seed -> ... -> test acc
            await pilot.press("s")
        assert app.screen.query_one("RunsView").sort_key == "test_acc"
        accs = [float(str(table.get_row_at(i)[-1])) for i in range(4)]
        assert accs == sorted(accs)
        # the sorted column is marked in its header
        labels = [str(c.label) for c in table.ordered_columns]
        assert labels[-1] == "test acc ▲" and not any("▲" in x or "▼" in x for x in labels[:-1]), labels
        await pilot.press("S")                        # the other way, without the mouse
        await pilot.pause()
        assert str(table.ordered_columns[-1].label) == "test acc ▼"
        assert [float(str(table.get_row_at(i)[-1])) for i in range(4)] == sorted(accs, reverse=True)
        await pilot.press("S")
        await pilot.pause()
        table.move_cursor(row=2)
        await pilot.click("#runs-table", offset=(2, 0))      # the header of the first column
        await pilot.pause()
        assert app.screen.query_one("RunsView").sort_key == "arch"
        assert str(table.ordered_columns[0].label) == "arch ▲" and table.cursor_row == 2
        await pilot.click("#runs-table", offset=(2, 0))      # again: the other way
        await pilot.pause()
        assert str(table.ordered_columns[0].label) == "arch ▼" and "arch ▼" in screen_text(app)


@pilot_test
async def test_sorting_leaves_the_runs_line_in_view_at_80x24(tui_store):
    """A "sorted by …" notice covered the highlighted run's line at 80×24 for 1.5 s; the header's
    ▲ or ▼ says which column orders the rows."""
    from textual.widgets import Static
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        line = str(app.screen.query_one("#run-detail", Static).render())
        assert "epoch" in line and line.strip() in screen_text(app), line
        for key in ("s", "S"):
            await pilot.press(key)
            await pilot.pause(0.3)      # a notice would be drawn by now (and gone after 1.5 s)
            line = str(app.screen.query_one("#run-detail", Static).render())
            assert line.strip() in screen_text(app), (key, line, screen_text(app))


@pilot_test
async def test_the_status_line_is_broken_for_its_room_beside_the_keys_panel(tui_store):
    """Textual's keys panel (ctrl+p, Keys) narrows the study screen's lines but not the screen: the
    status line stayed broken for the terminal's width, inside "epoch 2", and did so after polls."""
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        app.action_show_help_panel()
        await pilot.pause(0.3)
        status = app.screen.query_one("#study-status")
        assert status.content_region.width < 70
        lines = [line.split("▏")[0].rstrip() for line in screen_text(app).splitlines()[1:4]]
        assert any("checkpoint 9/9, epoch 2" in line for line in lines), lines
        # the views' lines too: the Histogram's measures each whole on a line of the room left
        await pilot.press("4")
        await wait_for(pilot, lambda: shows(app, "Sarle"), what="the histogram's measures")
        lines = [line.split("▏")[0].rstrip() for line in screen_text(app).splitlines()]
        assert any(line.strip().startswith("Sarle ") and line.strip().endswith("scores high too)")
                   for line in lines), lines
        app.action_hide_help_panel()
        await pilot.pause(0.3)
        assert "8 finished · checkpoint 9/9, epoch 2" in screen_text(app).splitlines()[1]
        lines = screen_text(app).splitlines()
        assert any("(TV) · Sarle" in line for line in lines), lines      # one line again, at 100 columns


@pilot_test
async def test_the_footer_offers_next_pair_only_where_there_is_another(tui_store):
    """Two architectures are one pair: `o` did nothing, yet the footer offered "o next pair"."""
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        await pilot.press("5")
        await wait_for(pilot, lambda: shows(app, "ρ ="), what="the scatter")
        footer = screen_text(app).splitlines()[-1]
        assert "next pair" not in footer and "? help" in footer, footer
        assert shows(app, "dotted: equal")                 # the scatter's diagonal, said
    app = make_app(tui_store, study=ALPHA, compare=BETA)    # three architectures: three pairs
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and len(app.screen.studies) == 2, what="the comparison")
        await pilot.press("5")
        await wait_for(pilot, lambda: shows(app, "o: next pair (1/3)"), what="the pairs")
        assert "o next pair" in screen_text(app).splitlines()[-1]


@pilot_test
async def test_the_footer_keeps_help_at_80_columns(tui_store):
    """The Examples view's two keys pushed "? help" off an 80-column footer: the command palette's
    key gives way there (ctrl+p still opens it), and comes back where there is room."""
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        footer = lambda: screen_text(app).rstrip("\n").splitlines()[-1]    # noqa: E731
        assert "? help" in footer() and "^p palette" in footer(), footer()
        await pilot.press("6")
        await wait_for(pilot, lambda: "e easy/hard k class" in footer() and "? help" in footer(), what="the footer")
        assert "palette" not in footer(), footer()
        await pilot.press("1")
        await wait_for(pilot, lambda: "^p palette" in footer(), what="the palette key back")
        await pilot.press("6")
        await pilot.resize_terminal(100, 24)
        await wait_for(pilot, lambda: "k class" in footer() and "^p palette" in footer(), what="room for both")


@pilot_test
async def test_friendly_states(tui_store, empty_db, tmp_path):
    # A failed run: listed with its error, left out of the analysis.
    app = make_app(tui_store, study=GAMMA)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        assert app.screen.data.stack.n_networks == 1
        await pilot.press("down")
        await pilot.pause()
        text = screen_text(app)
        assert "failed" in text and "CUDA out of memory" in text and "left out of the analysis" in text
    # One network: every view still draws (TPA of one network is 1).
    app = make_app(tui_store, study=SOLO)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        for key in "23456":
            await pilot.press(key)
            await pilot.pause()
        assert "#" in screen_text(app) or "no picture" in screen_text(app)
        # its order "within" would be the network against itself (1 by construction): not shown as a result
        assert np.isnan(app.screen.data.analysis.order["spearman"][0, 0])
        await pilot.press("5")
        await pilot.pause()
        assert "ρ = —" in screen_text(app) and "one network" in screen_text(app)
        assert "see the diagonal" not in screen_text(app)              # its diagonal has nothing to see
        await pilot.press("4")                                       # no "Sarle 1.00 (leans bimodal)"
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "no agreement to measure" in text and "Sarle" not in text, text
        await pilot.press("3")
        await wait_for(pilot, lambda: shows(app, "1 network · TPA of each pair"), what="one network, singular")
    # A study that does not exist: a message, no crash.
    app = make_app(tui_store, study="nope")
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: shows(app, "no study named 'nope'"))
    # A study opened before `train` has made it: the screen says it waits for it, and opens it once
    # it exists (the TUI started first, to watch a training from its first checkpoint).
    uri = new_store(empty_db, tmp_path / "early")
    app = make_app(uri, study="soon", refresh=0.1)
    async with app.run_test(size=(140, 24)) as pilot:
        await wait_for(pilot, lambda: shows(app, "no study named 'soon'") and shows(app, "it opens here once it "
                                                                                      "exists"))
        # looked for again at the refresh rate, not backed off as a store that fails to answer
        await wait_for(pilot, lambda: app.screen.polls >= 6, what="six polls")
        assert app.screen.failures == 0 and app.screen._interval() == pytest.approx(0.1)
        # ("loading…" over the message read as stuck)
        assert shows(app, "waiting (see below)") and not shows(app, "loading…"), screen_text(app)
        from orderlab.store import Store
        from orderlab.synthetic import populate_store
        populate_store(Store(uri), "soon", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=50)
        await wait_for(pilot, lambda: study_ready(app) and not shows(app, "no study named"), what="the study")
    # No store yet: a message; then the store appears and the list fills by itself.
    root = tmp_path / "later"
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    app = make_app(uri, refresh=0.1)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: shows(app, "no store at"))
        assert not (root / "mlruns" / "mlflow.db").exists()      # a viewer creates nothing
        # The store appears, empty: the screen says how to start a study.
        new_store(empty_db, root)
        await wait_for(pilot, lambda: shows(app, "No studies in this store yet"), what="the empty store")
        # A study is trained into it: it appears by itself.
        from orderlab.store import Store
        from orderlab.synthetic import populate_store
        populate_store(Store(uri), "late", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=50)
        await wait_for(pilot, lambda: shows(app, "late") and not shows(app, "No studies"), what="the study")


@pilot_test
async def test_tracking_server_down_then_store_gone(empty_db, tmp_path):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]                  # nothing listens there once closed
    app = make_app(f"http://127.0.0.1:{port}", refresh=0.2)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: shows(app, "unreachable") and shows(app, "retrying"))
        polls = app.screen.polls
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.polls > polls, what="a retry")
    uri = build_store_small(empty_db, tmp_path)
    db = tmp_path / "mlruns" / "mlflow.db"
    app = make_app(uri, study="live", refresh=0.2)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        db.rename(db.with_name("moved.db"))
        await wait_for(pilot, lambda: shows(app, "has gone"), what="the store gone message")
        assert app.screen.data is not None          # what was shown stays
        # --refresh 0.2, doubled while the store does not answer: said as such, not "every 0s"
        import re
        assert re.search(r"retrying every (0\.2|0\.4|0\.8|1\.6)s \(r: now\)", screen_text(app)), screen_text(app)
        # `t` meanwhile: the title keeps naming the split shown until the other split's data comes
        await pilot.press("t")
        await pilot.pause(0.5)
        assert app.screen.sub_title == "live · test" and app.screen.data.split == "test"
        db.with_name("moved.db").rename(db)
        await wait_for(pilot, lambda: not shows(app, "has gone"), what="recovery")
        await wait_for(pilot, lambda: app.screen.sub_title == "live · train", what="the train split's title")


# ------------------------------------------------------------------ live

def build_store_small(empty_db, root, study="live", finish=False, n_checkpoints=4):
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, root)
    populate_store(Store(uri), study, archs=("mlp", "cnn"), seeds=2, n_checkpoints=n_checkpoints,
                   n_examples=120, finish=finish)
    return uri


def add_checkpoint(store, run, rng) -> int:
    """Append one checkpoint to a network's record the way the trainer does: record first, then tags."""
    from orderlab.record import RecordWriter
    rec = store.load_record(run)
    w = RecordWriter.resume("/dev/null", rec, 10)
    results = {}
    for name, s in rec.splits.items():
        prev = s.correct()[-1]
        correct = prev | (rng.random(prev.shape) < 0.3)
        results[name] = (correct, np.where(correct, s.label, (s.label + 1) % 10), np.where(correct, 0.9, 0.1))
    epoch = float(rec.epoch[-1]) + 0.25
    w.add(epoch, int(rec.step[-1]) + 10, results, flush=False)
    store.write_record(run.run_id, w.build())
    store.log_metrics(run.run_id, {"test_acc": float(results["test"][0].mean())}, int(rec.step[-1]) + 10,
                      tags={"orderlab.checkpoints": w.n_checkpoints, "orderlab.epoch": f"{epoch:g}"})
    return w.n_checkpoints


@pilot_test
async def test_order_view_says_when_the_first_learned_are_a_draw_among_ties(empty_db, tmp_path):
    # 60% of the examples right at every trained checkpoint of every mlp: its "first 20% learned"
    # is a draw among them and the overlap sits near 0.2 by construction (`analyze` says so too)
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    c = np.zeros((4, 4, 200), bool)
    c[:2, 1:, :120] = True                            # mlp: 60% right from the first trained checkpoint
    c[:2, 2:, 120:160] = True
    c[2:, 1:] = np.random.default_rng(0).random((2, 3, 200)) < np.linspace(0.2, 0.9, 3)[:, None]
    uri = new_store(empty_db, tmp_path)
    populate_store(Store(uri), "tied", archs=("mlp", "cnn"), seeds=2, n_checkpoints=4, n_examples=200,
                   splits=("test",), correct={"test": c})
    app = make_app(uri, study="tied")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        await pilot.press("5")
        await wait_for(pilot, lambda: shows(app, "ties: over 20% are right at every trained checkpoint (mlp 60%)"),
                       what="the tie note")
        assert shows(app, "near 0.20 by construction")
        assert "cnn" not in app.screen.data.analysis.tied
        # `n`, "every note about the study, whole", has it too, with the advice `analyze` gives
        await pilot.press("n")
        await pilot.pause()
        assert shows(app, "more examples than the first 20% tie at the highest accessibility"), screen_text(app)
        assert shows(app, "e.g. --record-every")


@pilot_test
async def test_a_study_whose_first_network_has_no_checkpoint_says_so_once(empty_db, tmp_path):
    # "no checkpoint yet: mlp/s0" and then "no network has recorded a checkpoint yet" said it twice
    from orderlab.store import Store
    uri = new_store(empty_db, tmp_path)
    store = Store(uri)
    exp, parent = store.get_or_create_study("first", "synthetic", "test=x", {"dataset": "synthetic"})
    store.create_network_run("first", parent, exp, arch="mlp", seed=0, dataset="synthetic", epochs=1.0, params={})
    app = make_app(uri, study="first")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: shows(app, "no checkpoint yet: mlp/s0"), what="the starting note")
        assert not shows(app, "no network has recorded a checkpoint yet")


@pilot_test
async def test_planned_networks_without_a_run_are_counted_and_named(empty_db, tmp_path):
    # A sweep planned four networks more than it has started: the analysis covers the recorded
    # ones, and the screen says which are still to come (or, once nothing trains, how to start them).
    from orderlab.store import Store
    uri = build_store_small(empty_db, tmp_path)
    store = Store(uri)
    store.write_sweep_plan("live", {"archs": ["mlp", "cnn"], "seeds": [0, 1, 2, 3], "epochs": 1})
    app = make_app(uri, study="live", refresh=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and shows(app, "8 networks"), what="the planned count")
        s = app.screen
        assert s.data.planned == ["cnn/s2", "cnn/s3", "mlp/s2", "mlp/s3"]
        assert shows(app, "4 planned") and shows(app, "planned, not started yet: cnn/s2, cnn/s3, mlp/s2…")
        # `n` names every one of them (the line under the status, three)
        assert "planned, not started yet: cnn/s2, cnn/s3, mlp/s2, mlp/s3" in s.notes, s.notes
        assert "--resume" not in screen_text(app)           # still training: they are still to come
        assert s.data.stack.n_networks == 4
        # the Runs view lists every network, the planned ones too (it had 4 rows of 8)
        rows = [line.split() for line in screen_text(app).splitlines()]
        assert ["cnn", "3", "planned", "—", "—", "—", "—"] in rows, screen_text(app)
        await pilot.press("slash", *"planned")
        await pilot.pause()
        assert s.query_one("#runs-filter").border_subtitle == "4 of 8"
        await pilot.press("escape")
        await pilot.press("down", "down", "down", "down", "down", "down")
        await pilot.pause()
        assert shows(app, "mlp/s3 planned by a train or sweep, no run yet")
        # One starts: it has a run now, no longer planned.
        new, _ = store.create_network_run("live", store.study_parent("live"), store.experiment_id("live"),
                                          arch="mlp", seed=2, dataset="synthetic", epochs=1.0, params={})
        await wait_for(pilot, lambda: s.data.planned == ["cnn/s2", "cnn/s3", "mlp/s3"], what="one less planned")
        assert shows(app, "8 networks") and shows(app, "3 planned")
        # Nothing trains any more: the command that planned them has stopped; resuming starts them.
        for r in store.list_runs("live"):
            store.end_run(r.run_id, "FINISHED")
        await wait_for(pilot, lambda: shows(app, "sweep --resume live"), what="the resume command")
        # compared with another study that has planned networks of its own: a command for each
        from orderlab.synthetic import populate_store
        populate_store(store, "live2", archs=("mlp",), seeds=1, n_checkpoints=4, n_examples=120)
        store.write_sweep_plan("live2", {"archs": ["mlp"], "seeds": [0, 1], "epochs": 1})
        s.set_studies(("live", "live2"))
        await wait_for(pilot, lambda: s.data.studies == ("live", "live2") and len(s.data.resume) == 2,
                       what="both studies' resume commands")
        assert [c.split()[3] for c in s.data.resume] == ["live", "live2"] and "live2:mlp/s1" in s.data.planned
        s.set_studies(("live",))
        await wait_for(pilot, lambda: s.data.studies == ("live",) and study_ready(app), what="one study again")
        # the studies list counts them too, in a column of their own while some study has them
        from orderlab.app.screens.studies import StudiesScreen
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, StudiesScreen) and shows(app, "planned"),
                       what="the studies list")
        row = next(line for line in screen_text(app).splitlines() if line.strip().startswith("live"))
        assert row.split()[4:10] == ["0", "5", "0", "0", "3", "4"], row  # running, done, failed, stale, planned, ckpts
        assert shows(app, "2 studies, 10 networks")          # live2: a network and one planned


@pilot_test
async def test_live_updates_follow_new_checkpoints_and_runs(empty_db, tmp_path):
    from textual.widgets import DataTable
    from orderlab.store import Store
    uri = build_store_small(empty_db, tmp_path)
    store = Store(uri)
    app = make_app(uri, study="live", refresh=0.1)
    rng = np.random.default_rng(1)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        s = app.screen
        assert s.data.stack.n_checkpoints == 4 and s.checkpoint == 3 and "● live" in screen_text(app)
        reads = app.source.reads
        curve_before = s.data.analysis.curves["mlp"]["tpa"].copy()
        await pilot.press("2")
        chart_draws = s.query_one("#agreement-chart").draws
        # The trainer records checkpoint 5 for every network, in another "process".
        runs = store.list_runs("live")
        for r in runs:
            add_checkpoint(store, r, rng)
        await wait_for(pilot, lambda: study_ready(app) and s.data.stack.n_checkpoints == 5, what="checkpoint 5")
        assert s.checkpoint == 4                              # following the latest
        assert app.source.reads - reads == len(runs)          # only the changed records were read
        assert len(s.data.analysis.curves["mlp"]["tpa"]) == 5
        np.testing.assert_allclose(s.data.analysis.curves["mlp"]["tpa"][:4], curve_before)
        await wait_for(pilot, lambda: s.query_one("#agreement-chart").draws > chart_draws, what="a redraw")
        table = s.query_one("#runs-table", DataTable)
        assert {str(table.get_cell(r.run_id, "checkpoints")) for r in runs} == {"5"}
        assert "checkpoint 5/5" in screen_text(app)
        # Only one network goes on: the others are unchanged, so one record is read.
        reads = app.source.reads
        add_checkpoint(store, runs[0], rng)
        await wait_for(pilot, lambda: str(table.get_cell(runs[0].run_id, "checkpoints")) == "6")
        await wait_for(pilot, lambda: app.source.reads - reads == 1)
        assert s.data.stack.n_checkpoints == 5                # aligned on the common checkpoints
        # "finished only": the running networks are left out for not having finished, and said so
        await pilot.press("a", "a")
        await wait_for(pilot, lambda: s.mode == "finished" and shows(app, "not finished yet: cnn/s0 at 6 checkpoints"),
                       what="the finished-only note")
        assert "waiting to catch up" not in screen_text(app)
        await pilot.press("a")                                # back to "most"
        await wait_for(pilot, lambda: s.mode == "most" and study_ready(app) and s.data.stack is not None)
        # A new network starts: it appears; when it records, it joins the analysis.
        exp_id = store.experiment_id("live")
        new, _ = store.create_network_run("live", store.study_parent("live"), exp_id, arch="mlp", seed=7,
                                       dataset="synthetic", epochs=1.0, params={})
        await wait_for(pilot, lambda: table.row_count == 5, what="the new run")
        # ... with nothing recorded yet it cannot be aligned with the others: named, in every mode
        await wait_for(pilot, lambda: shows(app, "no checkpoint yet: mlp/s7"), what="the starting note")
        await pilot.press("a")                                # "every network"
        await wait_for(pilot, lambda: s.mode == "all" and study_ready(app) and shows(app, "no checkpoint yet: mlp/s7"),
                       what="the starting note in every-network mode")
        await pilot.press("a", "a")                           # back to "most"
        await wait_for(pilot, lambda: s.mode == "most" and study_ready(app) and s.data.stack is not None)
        # A network fails: its status changes and it leaves the analysis.
        store.end_run(runs[1].run_id, "FAILED", error="ValueError: boom")
        await wait_for(pilot, lambda: "failed" in str(table.get_cell(runs[1].run_id, "status")))
        await wait_for(pilot, lambda: study_ready(app) and s.data.stack.n_networks == 3)
        assert "left out of the analysis" in screen_text(app)
        store.end_run(new, "KILLED")


@pilot_test
async def test_a_checkpoint_stepped_to_is_kept_while_networks_join_live(empty_db, tmp_path):
    """Epoch 1.5 chosen while training runs: two networks starting behind the others narrowed the
    shared checkpoints to epoch 1.25, the index was clamped there, and it stayed at 1.25 once they
    had caught up. The epoch chosen is kept, and shown again once there."""
    from dataclasses import replace

    from orderlab.record import RecordWriter
    from orderlab.store import Store
    uri = build_store_small(empty_db, tmp_path)               # 4 networks, 4 checkpoints: epochs 0 .. 0.75
    store = Store(uri)
    rng = np.random.default_rng(2)
    runs = store.list_runs("live")
    for r in runs:
        for _ in range(4):
            add_checkpoint(store, r, rng)                     # 8 checkpoints: 0 .. 1.75
    app = make_app(uri, study="live", refresh=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and app.screen.data.stack.n_checkpoints == 8)
        s = app.screen
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: s.cp_result is not None and s.cp_result.checkpoint == 6)
        assert float(s.data.stack.epoch[6]) == 1.5 and not s.following
        # two networks start, 6 checkpoints in: six networks on 6 beat four on 8
        template = store.load_record(runs[0])
        new = []
        for seed in (7, 8):
            rid, _ = store.create_network_run("live", store.study_parent("live"), store.experiment_id("live"),
                                              arch="mlp", seed=seed, dataset="synthetic", epochs=1.0, params={})
            w = RecordWriter.resume("/dev/null", replace(template, meta={**template.meta, "run_id": rid, "arch": "mlp", "seed": seed}),
                                    10)
            w.truncate(6)
            store.write_record(rid, w.build())
            store.set_tags(rid, {"orderlab.checkpoints": "6", "orderlab.epoch": "1.25"})
            new.append(store.get_run(rid))
        await wait_for(pilot, lambda: study_ready(app) and s.data.stack.n_networks == 6, what="the networks joining")
        assert s.data.stack.n_checkpoints == 6 and float(s.data.stack.epoch[s.checkpoint]) == 1.25
        for r in new:                                         # they catch up
            for _ in range(2):
                add_checkpoint(store, r, rng)
        await wait_for(pilot, lambda: study_ready(app) and s.data.stack.n_checkpoints == 8, what="caught up")
        assert float(s.data.stack.epoch[s.checkpoint]) == 1.5 and not s.following
        await wait_for(pilot, lambda: shows(app, "checkpoint 7/8"), what="the status line")
        # a step is a new choice, read off the checkpoint shown
        await pilot.press("left_square_bracket")
        assert float(s.data.stack.epoch[s.checkpoint]) == 1.25 and s._chosen is None
        # played to the end while checkpoints arrive: it follows the latest, also through `t` (a
        # checkpoint kept from the play took it back there)
        s.app.play_interval = 0.3
        await pilot.press("home", "space")
        for r in store.list_runs("live"):
            add_checkpoint(store, r, rng)
        await wait_for(pilot, lambda: s.data.stack.n_checkpoints == 9, what="a checkpoint while playing")
        await wait_for(pilot, lambda: not s.playing and s.following, timeout=30, what="the end of the play")
        await pilot.press("t")
        await wait_for(pilot, lambda: study_ready(app) and s.data.split == "train", what="the train split")
        assert s.following and s.checkpoint == s.data.stack.n_checkpoints - 1
        for r in store.list_runs("live"):
            store.end_run(r.run_id, "FINISHED")


@pilot_test
async def test_four_compared_architectures_fit_80_columns_on_every_view(empty_db, tmp_path):
    """Two studies of two architectures each, compared at 80 columns: the Agreement legend was cut
    after "solid: TPA ·", the Order view dropped matrix rows without a word where the height ran
    out, the Examples cards cut names to "slow:c" and "other:" (both of other's architectures) and
    values to "@0.25", and the checkpoint line, playing, put "play" on a line of its own."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    st = Store(uri)
    populate_store(st, "slow", archs=("mlp", "cnn"), seeds=4, n_checkpoints=9, n_examples=300)
    populate_store(st, "other", archs=("cnn", "logistic"), seeds=3, n_checkpoints=9, n_examples=300,
                   learners=("logistic",))
    app = make_app(uri, study="slow", play_interval=5.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        s = app.screen
        s.set_studies(("slow", "other"))
        await wait_for(pilot, lambda: study_ready(app) and s.data.studies == ("slow", "other"), what="compared")
        await pilot.press("2")
        await wait_for(pilot, lambda: shows(app, "shaded: the gap"), what="the whole legend")
        assert shows(app, "━━ other:logistic")
        await pilot.press("6")
        await wait_for(pilot, lambda: shows(app, "1 slow:cnn 2 slow:mlp 3 other:cnn 4 other:logistic"),
                       what="the numbered architectures")
        import re
        card = re.compile(r"(?:[1-4] [01]\.\d\d (?:@\d+(?:\.\d+)?|never) +)+")
        # (a scroll bar's thumb may end a line: the notes take three lines at most)
        lines = [ln.rstrip(" ▁▂▃▄▅▆▇█") for ln in screen_text(app).splitlines()]
        cards = [ln for ln in lines if card.fullmatch(ln.strip() + " ")]
        names = " ".join(ln for ln in lines[next(i for i, ln in enumerate(lines) if "per architecture" in ln):])
        assert len(cards) >= 4 and "slow:c " not in names and "other: " not in names, screen_text(app)
        await pilot.press("4")                          # each measure whole on a line of its own
        await wait_for(pilot, lambda: shows(app, "Sarle"), what="the histogram's measures")
        assert any(ln.strip().startswith("Sarle ") and ln.strip().endswith("skewed scores high too)")
                   for ln in screen_text(app).splitlines()), screen_text(app)
        await pilot.press("3", "home", "space")
        await wait_for(pilot, lambda: shows(app, "▶ playing (space: pause)"), what="playing")
        lines = screen_text(app).splitlines()
        at = next(i for i, ln in enumerate(lines) if "▶ playing" in ln)
        assert lines[at].lstrip().startswith("checkpoint 1/9") and lines[at + 1].strip() != "play", lines[at:at + 2]
        # ("space play" beside "▶ playing (space: pause)" said the opposite)
        assert "[ ] step" in lines[at] and "space play" not in lines[at], lines[at]
        await pilot.press("space")
        # a terminal too short for both order matrices: rows give way, and the matrices say so
        await pilot.resize_terminal(80, 18)
        await pilot.press("5")
        # (in 18 rows the notes take one line, ending "… n: all notes")
        await wait_for(pilot, lambda: shows(app, "2×4 of 4×4 shown"), what="the cut matrices' note")
        assert shows(app, "… n: all notes") and shows(app, "learners beside networks")
        assert shows(app, "o: next pair (1/6)")
    # outside compare mode the architectures keep their names on the cards
    app = make_app(uri, study="slow")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        await pilot.press("6")
        await wait_for(pilot, lambda: shows(app, "access "), what="the cards")
        assert any(ln.split()[:1] == ["cnn"] for ln in screen_text(app).splitlines()) and not shows(app, "1 cnn 2 mlp")


@pilot_test
async def test_play_and_split(tui_store):
    app = make_app(tui_store, study=ALPHA, play_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        s = app.screen
        await pilot.press("3", "home")
        await wait_for(pilot, lambda: s.cp_result.checkpoint == 0)
        # Every checkpoint the screen shows, not samples of it: a loaded machine may poll the screen
        # only once or twice while the animation runs.
        shown, show = [], s._show_checkpoint
        s._show_checkpoint = lambda result: (shown.append(result.checkpoint), show(result))[1]
        await pilot.press("space")
        assert s.playing
        await wait_for(pilot, lambda: not s.playing, timeout=30, what="the animation to finish")
        # played in order, one checkpoint at a time (it waits for each rather than skipping ahead)
        assert shown == sorted(shown) and set(shown) == set(range(9)) and s.following, shown
        test_acc = s.data.analysis.curves["mlp"]["accuracy"][-1]
        await pilot.press("t")
        await wait_for(pilot, lambda: study_ready(app) and s.data.split == "train")
        assert s.data.analysis.curves["mlp"]["accuracy"][-1] != test_acc
        stack = expected_stack(tui_store, ALPHA, "train")
        from orderlab.analysis import metrics as M
        assert s.data.analysis.curves["mlp"]["accuracy"][-1] == pytest.approx(
            M.accuracy(stack, -1, stack.arch_index("mlp")).mean())
        # a checkpoint chosen stays chosen across `t` (the other split's stack, on the same checkpoints)
        await pilot.press("home", "right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: s.cp_result is not None and s.cp_result.checkpoint == 2)
        at = s.data.stack.at(2)
        await pilot.press("t")
        await wait_for(pilot, lambda: study_ready(app) and s.data.split == "test" and s.cp_result is not None
                       and s.cp_result.version == s.version, what="the test split")
        assert s.checkpoint == 2 and s.cp_result.at == at and not s.following
        assert shows(app, f"checkpoint 3/{s.data.stack.n_checkpoints}")
        # ... and one following the latest goes on following it
        await pilot.press("end", "t")
        await wait_for(pilot, lambda: study_ready(app) and s.data.split == "train" and s.cp_result is not None
                       and s.cp_result.version == s.version, what="the train split")
        assert s.following and s.checkpoint == s.data.stack.n_checkpoints - 1


@pilot_test
async def test_compare_two_studies(tui_store):
    from orderlab.app.screens.compare import CompareScreen
    app = make_app(tui_store, study=ALPHA)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and app.known_studies)
        await pilot.press("c")
        assert isinstance(app.screen, CompareScreen)
        # only the study of the same data (fingerprint): gamma and solo hold 200 other examples
        assert [c.name for c in app.screen.choices] == [BETA]
        await pilot.press("enter")                    # beta
        s = app.screen
        await wait_for(pilot, lambda: study_ready(app) and s.data.studies == (ALPHA, BETA), what="compare")
        assert s.data.stack.n_networks == 11
        assert s.cp_result.arch_names == [f"{ALPHA}:cnn", f"{ALPHA}:mlp", f"{BETA}:mlp"] or \
            sorted(s.cp_result.arch_names) == sorted([f"{ALPHA}:cnn", f"{ALPHA}:mlp", f"{BETA}:mlp"])
        await pilot.press("3")
        await pilot.pause()
        assert f"{BETA}:mlp" in screen_text(app)
        # at 80 columns the order scatter's title, two studies' names long, wraps rather than stop
        # mid-name ("… against live:cn")
        await pilot.resize_terminal(80, 24)
        await pilot.press("5")
        def title_whole() -> bool:
            lines = screen_text(app).splitlines()
            at = next(i for i, line in enumerate(lines) if f"accessibility: {ALPHA}:cnn (x) against" in line)
            return f"against {ALPHA}:mlp" in lines[at] and "(y)" in lines[at + 1]
        await wait_for(pilot, title_whole, what="the scatter's whole title")
        # the runs: each network named study:arch, grouped by study, accuracies in view at 80 columns
        await pilot.press("1")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        at = next(i for i, line in enumerate(lines) if line.strip().startswith("arch"))
        assert "test acc" in lines[at], lines[at]
        names = [line.split()[0] for line in lines[at + 1:at + 12]]
        assert names == [f"{ALPHA}:cnn"] * 4 + [f"{ALPHA}:mlp"] * 4 + [f"{BETA}:mlp"] * 3, names
        await pilot.resize_terminal(120, 40)
        # Different data (a study made by an older orderlab, without a fingerprint tag, is offered by
        # its dataset name) is refused on loading with a message, not a crash.
        s.set_studies((ALPHA, GAMMA))
        await wait_for(pilot, lambda: s.data is not None and s.data.studies == (ALPHA, GAMMA)
                       and shows(app, "different data"), what="the refusal")


@pilot_test
async def test_compared_studies_long_names_give_way_to_the_accuracies(empty_db, tmp_path):
    # two long names with one start: cut at their start, the end that tells them apart kept
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    populate_store(Store(uri), "digits-long-name", archs=("mlp", "cnn"), seeds=2, n_checkpoints=7, n_examples=100)
    populate_store(Store(uri), "digits-other", archs=("mlp",), seeds=2, n_checkpoints=7, n_examples=100)
    app = make_app(uri, study="digits-long-name", compare="digits-other")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and len(app.screen.data.studies) == 2)
        await pilot.pause()
        lines = screen_text(app).splitlines()
        at = next(i for i, line in enumerate(lines) if line.strip().startswith("arch"))
        assert lines[at].split()[-2:] == ["test", "acc"], lines[at]
        rows = [line.split() for line in lines[at + 1:at + 7]]
        assert [r[0] for r in rows] == ["…ng-name:cnn"] * 2 + ["…ng-name:mlp"] * 2 + ["…s-other:mlp"] * 2, rows
        assert all(r[3] == "1.5/1.5" for r in rows)          # the bar gave its room to the names
        # the line under the table names the highlighted run's study (both studies hold an mlp/s0)
        assert shows(app, "digits-long-name:cnn/s0 finished epoch 1.5 of 1.5"), screen_text(app)
        await pilot.resize_terminal(160, 40)                  # room enough: whole names and bars
        await wait_for(pilot, lambda: shows(app, "digits-long-name:cnn") and shows(app, "████"), what="whole names")
        # back to one study: the arch column is an architecture's width again, not the names' it held
        from orderlab.app.views.runs import RunsView
        app.screen.set_studies(("digits-long-name",))
        view = app.screen.query_one(RunsView)
        await wait_for(pilot, lambda: len(app.screen.data.studies) == 1 and view._widths.get("arch") == len("arch ▲"),
                       what="the arch column's own width")


@pilot_test
async def test_the_compare_picker_cuts_a_long_name_rather_than_break_it(empty_db, tmp_path):
    """At 80 columns the picker broke a long study name mid-word onto a second line
    ("…learning-rate-w" / "armup-v2 (digits, 4 networks)")."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    long_name = "fashion-mnist-resnet18-with-a-longer-learning-rate-warmup-schedule-v2"
    populate_store(Store(uri), "short", archs=("mlp",), seeds=2, n_checkpoints=4, n_examples=100)
    populate_store(Store(uri), long_name, archs=("mlp",), seeds=2, n_checkpoints=4, n_examples=100)
    app = make_app(uri, study="short")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="the study")
        await pilot.press("c")
        await wait_for(pilot, lambda: shows(app, "schedule-v2"), what="the picker")
        lines = [line for line in screen_text(app).splitlines() if "schedule-v2" in line]
        assert len(lines) == 1 and "fashion-mnist-res…armup-schedule-v2  (synthetic, 2 networks)" in lines[0], lines

@pilot_test
async def test_a_chosen_checkpoint_outlives_a_comparison_that_ends_before_it(empty_db, tmp_path):
    # epoch 1.5 chosen; compared with a study that ends at epoch 1, the last shared checkpoint shows
    # (and the screen does not start following the latest); back to one study, epoch 1.5 again
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path)
    populate_store(Store(uri), "long", archs=("mlp",), seeds=2, n_checkpoints=9, n_examples=100)
    populate_store(Store(uri), "short", archs=("mlp",), seeds=2, n_checkpoints=5, n_examples=100)
    app = make_app(uri, study="long")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        s = app.screen
        # Home and End move between checkpoints in the Runs view too (the table took them)
        await pilot.press("home")
        assert s.checkpoint == 0 and not s.following
        await pilot.press("end")
        assert s.checkpoint == 8 and s.following
        await pilot.press("home", *["right_square_bracket"] * 6)
        assert float(s.data.stack.epoch[s.checkpoint]) == 1.5
        s.set_studies(("long", "short"))
        await wait_for(pilot, lambda: s.data.studies == ("long", "short") and study_ready(app), what="compare")
        assert float(s.data.stack.epoch[s.checkpoint]) == 1.0 and not s.following
        s.set_studies(("long",))
        await wait_for(pilot, lambda: s.data.studies == ("long",) and study_ready(app), what="one study")
        assert float(s.data.stack.epoch[s.checkpoint]) == 1.5 and not s.following


@pilot_test
async def test_the_compare_picker_offers_a_study_made_after_the_tui_started(tmp_path):
    from orderlab.app.screens.compare import CompareScreen
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "first", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=50)
    app = make_app(uri, study="first")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        populate_store(Store(uri), "second", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=50)
        await pilot.press("c")
        assert isinstance(app.screen, CompareScreen)
        await wait_for(pilot, lambda: [c.name for c in app.screen.choices] == ["second"], what="the new study")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen), what="the choice")
        s = app.screen
        await wait_for(pilot, lambda: study_ready(app) and s.data.studies == ("first", "second"), what="compare")


@pilot_test
async def test_the_resume_hint_names_the_store_the_tui_reads(tmp_path):
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/elsewhere/mlflow.db"
    store = Store(uri)
    ids = populate_store(store, "cut", archs=("mlp",), seeds=1, n_checkpoints=3, n_examples=50)
    store.end_run(ids[0], "KILLED", error="interrupted")
    app = make_app(uri, study="cut")
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: shows(app, f"resume: orderlab train --resume {ids[0]} --tracking-uri {uri}"),
                       what="the resume hint")


@pilot_test
async def test_a_store_named_on_the_command_line_is_named_in_the_commands_the_tui_suggests(tmp_path, monkeypatch,
                                                                                         empty_db):
    """The store this folder's bare commands would use, but named with --tracking-uri: a command
    copied into a terminal in another folder would otherwise resume, or train into, that folder's
    own store ("no run ..." there)."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    ids = populate_store(store, "cut", archs=("mlp",), seeds=1, n_checkpoints=3, n_examples=50)
    store.end_run(ids[0], "KILLED", error="interrupted")
    async with make_app(uri, study="cut").run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: shows(pilot.app, f"resume: orderlab train --resume {ids[0]} --tracking-uri {uri}"),
                       what="the resume hint with the store")
    async with make_app(None, study="cut").run_test(size=(200, 40)) as pilot:      # not named: a bare command
        await wait_for(pilot, lambda: shows(pilot.app, f"resume: orderlab train --resume {ids[0]}"),
                       what="the resume hint")
        assert "--tracking-uri" not in screen_text(pilot.app)
    empty = new_store(empty_db, tmp_path / "empty")
    async with make_app(empty).run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: shows(pilot.app, f"--seeds 0-3 --study first --tracking-uri {empty}"),
                       what="the store in the empty store's train command")
    gone = f"sqlite:///{tmp_path}/none/mlflow.db"
    async with make_app(gone).run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: shows(pilot.app, f"start one with `orderlab train --tracking-uri {gone} …`"),
                       what="the store in the missing store's advice")


@pilot_test
async def test_a_superseded_run_is_shown_as_such_not_as_killed_and_resumable(tmp_path):
    """A run that could not be resumed, whose network was trained anew in another run, is no
    failure and no second network: the TUI, the studies list and `orderlab studies` say
    "superseded", count one network, and offer no `train --resume` (which is refused for it)."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    [old] = populate_store(store, "sup", archs=("mlp",), seeds=1, n_checkpoints=3, n_examples=50, finish=False)
    store.end_run(old, "KILLED", error="interrupted")
    [new] = populate_store(store, "sup", archs=("mlp",), seeds=1, n_checkpoints=3, n_examples=50)
    store.supersede(old, new, "its training state is gone")
    [info] = store.list_studies()
    assert (info.n_runs, info.n_finished, info.n_failed, info.n_stale) == (1, 1, 0, 0)
    from orderlab.cli import app as cli
    r = CliRunner().invoke(cli, ["studies", "--tracking-uri", uri], env={"COLUMNS": "200"})
    row = studies_row(r.stdout, "sup")
    assert [row[k] for k in ("nets", "live", "done", "failed", "stale")] == ["1", "0", "1", "0", "0"], r.stdout
    r = CliRunner().invoke(cli, ["runs", "sup", "--tracking-uri", uri], env={"COLUMNS": "300"})
    assert "SUPERSEDED" in r.stdout and "KILLED" not in r.stdout and "superseded by run" in r.stdout, r.stdout
    assert "its tra…" in r.stdout, r.stdout       # the error, cut to 60 characters, says it is cut
    app = make_app(uri, study="sup")
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and shows(app, "1 network: 1 finished, 1 superseded"),
                       what="the counts")
        text = screen_text(app)
        assert "killed" not in text and "resume: orderlab train" not in text
        await pilot.press("down")
        await pilot.press("up")
        await pilot.pause()
        assert "resume: orderlab train" not in screen_text(app)


@pilot_test
async def test_seven_architectures_keep_the_values_in_their_matrix_cells(tmp_path):
    """The order and heatmap matrices had a fixed most width: with 7 architectures (numbered rows
    up to "gradient-boosting 2") their cells shrank to 3 columns, colour without values."""
    import re
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    archs = ("mlp", "cnn", "vgg", "resnet18", "gradient-boosting", "random-forest", "knn")
    populate_store(Store(uri), "seven", archs=archs, seeds=2, n_checkpoints=3, n_examples=60,
                   learners=archs[4:])
    value = r"(\.\d\d|1\.0|-\.\d) "
    for size in ((160, 45), (120, 40)):
        app = make_app(uri, study="seven")
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: study_ready(app))
            for key in ("5", "3"):                                  # order, heatmap
                await pilot.press(key)
                await wait_for(pilot, lambda: re.search(r"gradient-boosting 2 " + value * 7, screen_text(app)),
                               what=f"values in every cell of view {key} at {size}")
            # networks' epochs beside learners' stages: the positions are named as both
            assert "epoch/stage 0.5" in screen_text(app), screen_text(app)
            # narrowed: the widened matrix gives way, its neighbour keeps its share of the row
            await pilot.resize_terminal(80, size[1])         # the width alone: the drawing's height stays
            arch, net = app.screen.query_one("#heat-arch"), app.screen.query_one("#heat-net")
            await wait_for(pilot, lambda: arch.size.width < 40 and net.size.width > 30, what="the matrix to give way")


@pilot_test
async def test_a_learners_positions_are_stages_in_the_runs_detail_and_the_agreement_chart(tmp_path):
    """A learner's checkpoints count stages (boosting rounds, trees …): the Runs detail line said
    "epoch 1 of 1" of k-NN, the Agreement chart's axis "epoch" beside it."""
    import re
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "mix", archs=("mlp", "knn"), seeds=1, n_checkpoints=3, n_examples=60, learners=("knn",))
    populate_store(store, "knn", archs=("knn",), seeds=2, n_checkpoints=3, n_examples=60, learners=("knn",))
    app = make_app(uri, study="mix")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        view = app.screen.query_one("RunsView")
        for name, unit in (("knn/s0", "stage"), ("mlp/s0", "epoch")):
            row = next(i for i, rid in enumerate(view._order) if rid in {r.run_id for r in view.runs if r.name == name})
            view.table.move_cursor(row=row)
            await wait_for(pilot, lambda: re.search(rf"{name}  finished  {unit} 0.5 of 0.5, 3 checkpoints", screen_text(app)),
                           what=f"{name}'s detail line")
        await pilot.press("2")
        await wait_for(pilot, lambda: re.search(r"0.5 epoch/stage\s*$", screen_text(app), re.M), what="the axis")
    app = make_app(uri, study="knn")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        await pilot.press("2")
        await wait_for(pilot, lambda: re.search(r"0.5 stage\s*$", screen_text(app), re.M), what="the axis")


@pilot_test
async def test_a_killed_run_shows_the_checkpoints_its_record_holds(tmp_path):
    """Progress tags are written every 2 s: a process killed in between left them behind its record."""
    from textual.widgets import DataTable
    from orderlab.store import TAG_CHECKPOINTS, TAG_EPOCH, Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    [rid] = populate_store(store, "k9", archs=("mlp",), seeds=1, n_checkpoints=5, n_examples=50, finish=False)
    store.set_tags(rid, {TAG_CHECKPOINTS: "2", TAG_EPOCH: "0.25"})         # as the last flush left them
    store.end_run(rid, "KILLED", error="killed")
    app = make_app(uri, study="k9")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: shows(app, "killed"))
        table = app.screen.query_one("#runs-table", DataTable)
        await wait_for(pilot, lambda: str(table.get_cell(rid, "checkpoints")) == "5", what="the record's count")


@pilot_test
async def test_escape_in_the_runs_filter_leaves_the_filter_then_the_study(tui_store):
    from orderlab.app.screens.study import StudyScreen
    app = make_app(tui_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: shows(app, ALPHA))
        await pilot.press("enter")
        await wait_for(pilot, lambda: study_ready(app))
        screen = app.screen
        await pilot.press("slash", *"mlp", "escape")
        await pilot.pause()
        assert app.screen is screen and isinstance(screen, StudyScreen)
        assert screen.query_one("#runs-filter").value == "mlp" and screen.focused is not None \
            and screen.focused.id == "runs-table"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StudyScreen), what="the studies list")



@pilot_test
async def test_leaving_a_study_opened_with_study_puts_the_cursor_on_it(tui_store):
    """Escape from `orderlab tui --study X` left the list's cursor on its first row, and Enter then
    opened another study than the one just left."""
    from orderlab.app.screens.study import StudyScreen
    app = make_app(tui_store, study=GAMMA)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="gamma")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StudyScreen), what="the studies list")
        table = app.screen.query_one("#studies-table")
        await wait_for(pilot, lambda: table.row_count > 2, what="the studies")
        await pilot.pause()
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == GAMMA
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), what="a study")
        assert app.screen.studies == (GAMMA,)

def _start_in_pty(args: list[str], **popen):
    """Start ``orderlab ARGS`` with a pseudo-terminal of 80x24 as its stdin and stderr (where
    Textual reads and draws); returns (process, bytes drawn so far, a function that stops reading)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "orderlab.cli", *args], stdin=slave, stderr=slave,
                            env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", TERM="xterm-256color"),
                            **popen)
    os.close(slave)
    drawn = bytearray()

    def drain():                                  # a full pty buffer would block the app's writes
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:                       # EIO: the child closed the terminal
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    def stop():
        reader.join(timeout=10)
        os.close(master)
    return proc, drawn, stop


@pytest.mark.slow
def test_sigterm_ends_the_tui_with_its_output_in_a_file(tmp_path):
    """`timeout` or `kill` ends the TUI through its event loop (once, raised as KeyboardInterrupt
    where the loop lost it, a TUI whose stdout went to a file kept running after SIGTERM)."""
    import signal
    import time
    with open(tmp_path / "out", "wb") as out:
        proc, drawn, stop = _start_in_pty(["tui", "--study", "nope", "--tracking-uri",
                                           f"sqlite:///{tmp_path}/none/mlflow.db"], stdout=out)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and b"nope" not in drawn:
                time.sleep(0.1)                       # the app has drawn its screen
            assert b"nope" in drawn, bytes(drawn[-500:])
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            proc.kill()
            stop()
    assert proc.returncode == 143 and b"interrupted" in drawn and b"Traceback" not in drawn, bytes(drawn[-500:])


def test_tui_without_a_terminal_says_so(tmp_path):
    """Redirected, Textual would write escape codes into the file and wait for keys forever."""
    import pty
    from orderlab.cli import app
    r = CliRunner().invoke(app, ["tui", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"])
    assert r.exit_code == 2 and "needs a terminal" in r.output \
        and "standard input and standard error are not one" in r.output, r.output
    # keys from a terminal, the drawing into a file: stderr named alone, nothing drawn there
    master, slave = pty.openpty()
    try:
        with open(tmp_path / "err", "wb") as errf:
            proc = subprocess.run([sys.executable, "-m", "orderlab.cli", "tui", "--tracking-uri",
                                   f"sqlite:///{tmp_path}/mlflow.db"], stdin=slave, stderr=errf, timeout=60,
                                  env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"))
    finally:
        os.close(slave)
        os.close(master)
    err = (tmp_path / "err").read_text()
    assert proc.returncode == 2 and err.count("\n") == 1 and "its standard error is not one" in err, err
    assert not (tmp_path / "mlflow.db").exists()


# ------------------------------------------------------------------ CLI and layering

def test_cli_tui_options():
    from orderlab.cli import app
    runner = CliRunner()
    r = runner.invoke(app, ["tui", "--help"])
    assert r.exit_code == 0 and "--tracking-uri" in r.output and "--refresh" in r.output
    r = runner.invoke(app, ["tui", "--split", "val"])
    assert r.exit_code == 2 and "bad --split" in r.output
    r = runner.invoke(app, ["tui", "--compare", "x"])
    assert r.exit_code == 2 and "--compare needs --study" in r.output
    for args, needle in ((["--refresh", "inf"], "--refresh must be a positive number"),
                         (["--study", "a", "--compare", "a"], "names the study itself"),
                         (["--tracking-uri", "bogus://x"], "scheme (bogus:)"),
                         (["--tracking-uri", "sqlite://"], "in-memory")):
        r = runner.invoke(app, ["tui", *args])
        assert r.exit_code == 2 and needle in r.output, (args, r.output)


def test_app_imports_no_torch_and_paints_before_mlflow(tui_store):
    """The app never imports torch; mlflow and NumPy load in the worker, after the first paint."""
    code = f"""
import asyncio, sys
from orderlab.app.app import OrderlabApp
early = [m for m in ("mlflow", "numpy", "torch") if m in sys.modules]
async def main():
    app = OrderlabApp({tui_store!r}, study={ALPHA!r}, refresh=5)
    async with app.run_test() as pilot:
        for _ in range(600):
            await pilot.pause(0.05)
            if getattr(app.screen, "cp_result", None) is not None:
                break
        await pilot.press("c", "escape", "question_mark")
        await pilot.pause(0.2)
        print("ready", app.screen.__class__.__name__)
asyncio.run(main())
print("early", early, "torch" in sys.modules, "mlflow" in sys.modules)
"""
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ready HelpScreen" in out.stdout and "early [] False True" in out.stdout, out.stdout


def test_studies_table_keeps_stale_apart_from_failed():
    """STALE runs (their process died; resumable) have their own column, as in `orderlab studies`."""
    from rich.text import Text
    from orderlab.tables import cells, columns
    from orderlab.store import StudyInfo
    s = StudyInfo("s", "e", None, "digits", ["mlp"], n_runs=6, n_running=1, n_finished=2, n_failed=1, n_stale=2,
                  checkpoints=4, last_update=0.0)
    row = {k: c.plain if isinstance(c, Text) else c for k, c in cells(s, 10.0).items()}
    assert (row["running"], row["finished"], row["failed"], row["stale"]) == ("1", "2", "1", "2")
    # planned networks with no run get a column while some study has them (zeros would take the
    # room the names need at 80 columns)
    assert "planned" not in dict(columns([s]))
    p = StudyInfo("p", "e", None, "digits", ["mlp"], n_runs=1, n_running=1, n_finished=0, n_failed=0, n_stale=0,
                  checkpoints=1, last_update=0.0, n_planned=3)
    assert "planned" in dict(columns([s, p])) and cells(p, 10.0)["planned"].plain == "3"


@pilot_test
async def test_networks_that_recorded_other_splits_are_left_out_and_named(tmp_path):
    """mlp/s0-s1 recorded only train, mlp/s2 only test: the test split shows mlp/s2 and names the
    others as left out; the train split the other way round (the first network's "split 'test' was
    not recorded" stood for the whole study, and nothing was shown)."""
    from orderlab.store import Store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    base = ["train", "--arch", "mlp", "--study", "rs", "--epochs", "1", "--record-every", "0.5", "--train-subset",
            "200", "--test-subset", "100", "--quiet", "--tracking-uri", uri]
    for seeds, splits in (("0-1", "train"), ("2", "test")):
        from orderlab.cli import app as cli
        r = CliRunner().invoke(cli, base + ["--seeds", seeds, "--record-splits", splits])
        assert r.exit_code == 0, r.output
    assert len(Store(uri).list_runs("rs")) == 3
    app = make_app(uri, study="rs", refresh=0.2)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and app.screen.data.stack.n_networks == 1, what="test split")
        assert "mlp/s0 (no test split)" in screen_text(app) and "was not recorded" not in screen_text(app)
        await pilot.press("t")
        await wait_for(pilot, lambda: study_ready(app) and app.screen.data.split == "train"
                       and app.screen.data.stack is not None and app.screen.data.stack.n_networks == 2,
                       what="train split")
        assert "mlp/s2 (no train split)" in screen_text(app)


def test_the_help_screen_names_every_key_of_the_study_screen():
    """`?` "lists them all" (docs/tui.md): `z` (the heatmap's colour scale) was missing."""
    from orderlab.app.screens.help import HELP
    from orderlab.app.screens.study import StudyScreen
    names = {"left_square_bracket": "[", "right_square_bracket": "]", "slash": "/", "question_mark": "?"}
    for b in StudyScreen.BINDINGS:
        for key in b.key.split(","):
            key = names.get(key, key)
            assert f"`{key}`" in HELP or f"| {key} |" in HELP, key


@pilot_test
async def test_the_studies_list_keeps_its_cursor_on_the_study_when_others_appear(empty_db, tmp_path):
    """A study made while the user read another's screen sorted above it: the cursor kept its row,
    and Enter opened the new study instead."""
    from orderlab.app.screens.study import StudyScreen
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = new_store(empty_db, tmp_path / "s")
    for name in ("mmm", "zzz"):
        populate_store(Store(uri), name, archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=40)
    app = make_app(uri, refresh=0.1)
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: len(app.known_studies) == 2, what="the list")
        table = app.screen.query_one("#studies-table")
        order = list(app.screen._order)
        table.move_cursor(row=order.index("mmm"))
        populate_store(Store(uri), "aaa", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=40)
        await wait_for(pilot, lambda: len(app.known_studies) == 3, what="the new study")
        await pilot.pause()
        assert app.screen._order[table.cursor_row] == "mmm", app.screen._order
        # a longer name widens the columns, which clears the table: the cursor still keeps its study
        populate_store(Store(uri), "a" * 30, archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=40)
        await wait_for(pilot, lambda: len(app.known_studies) == 4, what="the long-named study")
        await pilot.pause()
        assert app.screen._order[table.cursor_row] == "mmm", app.screen._order
        await pilot.resize_terminal(70, 24)                 # so does a resize
        await pilot.pause()
        assert app.screen._order[table.cursor_row] == "mmm", app.screen._order
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen) and app.screen.studies == ("mmm",))


@pilot_test
async def test_a_long_study_name_is_whole_on_its_own_screen(empty_db, tmp_path):
    """The list cuts a long name to keep its counts in view; the study's screen names it whole
    (docs/tui.md), at 80 columns too, where "orderlab — NAME · test" did not fit."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    name = "a-very-long-study-name-for-the-narrow-terminal-check"
    uri = new_store(empty_db, tmp_path / "s")
    populate_store(Store(uri), name, archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=40)
    for width, prefix in ((80, ""), (140, "orderlab — ")):
        app = make_app(uri, study=name)
        async with app.run_test(size=(width, 24)) as pilot:
            await wait_for(pilot, lambda: study_ready(app))
            assert f"{prefix}{name} · test" in screen_text(app), screen_text(app).splitlines()[0]


def test_compare_offers_the_studies_of_the_same_data_on_the_split_shown():
    """`tui --compare sub` compared a study with a smaller train subset on the test split (the same
    test examples), but `c` did not offer it: both now follow the split shown."""
    from types import SimpleNamespace as S
    from orderlab.app.screens.compare import CompareScreen
    known = [S(name="live", dataset="digits", fingerprint="test=T1,train=A"),
             S(name="sub", dataset="digits", fingerprint="test=T1,train=B"),
             S(name="other", dataset="digits", fingerprint="test=T2,train=A"),
             S(name="old", dataset="digits", fingerprint="")]
    names = lambda split: [s.name for s in CompareScreen("live", known, split=split).choices]  # noqa: E731
    assert names("test") == ["sub", "old"]
    assert names("train") == ["other", "old"]


@pilot_test
async def test_a_study_with_no_network_is_told_what_the_command_line_says(tmp_path):
    """The TUI told every study without a network to `orderlab train --study S` (refused: no
    --arch), also one whose command stopped before it planned anything."""
    from orderlab.store import TAG_KIND, Store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    store.get_or_create_study("empty", "synthetic", "x", {"dataset": "synthetic"})
    store.client.create_experiment("half", tags={TAG_KIND: "study"})
    for study, said in (("empty", "train one with `orderlab train --arch NAME --study empty --tracking-uri"),
                        ("half", "study 'half' holds nothing yet: the command that made it was interrupted "
                                 "before it planned any network; run that command again")):
        app = make_app(uri, study=study)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: shows(app, said), what=said)


@pilot_test
async def test_a_note_for_the_commands_says_nothing_of_their_options_here(tmp_path):
    """Architectures aligned short of one's end: the note ended "(--arch NAME follows one
    architecture to its end)", an option of `orderlab analyze` the TUI has no counterpart for."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    populate_store(store, "grids", archs=("mlp",), seeds=2, n_checkpoints=9, n_examples=60)
    populate_store(store, "grids", archs=("cnn",), seeds=2, n_checkpoints=5, n_examples=60)
    app = make_app(uri, study="grids")
    async with app.run_test(size=(80, 24)) as pilot:
        # (on the three lines under the status at 80×24, before the longer alignment note)
        await wait_for(pilot, lambda: study_ready(app) and shows(app, "mlp (to epoch 2) had further to train"),
                       what="the note")
        assert not any("--arch" in n for n in app.screen.notes), app.screen.notes
        assert "--arch" not in screen_text(app), screen_text(app)


def test_comparing_studies_in_the_tui_keeps_each_studys_learning_order_numbers(tmp_path):
    """The TUI names a compared study's architectures "s1:mlp", and half-splits were drawn by that
    name: `--compare s2` changed s1's own Spearman ρ (0.625 alone, 0.630 compared)."""
    from orderlab.app.source import StudySource
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    store = Store(uri)
    populate_store(store, "s1", archs=("mlp", "cnn"), seeds=5, seed=1)
    populate_store(store, "s2", archs=("mlp",), seeds=5, seed=1)
    alone, both = StudySource(uri).load(("s1",)), StudySource(uri).load(("s1", "s2"))
    a, b = alone.analysis.order, both.analysis.order
    for arch in ("mlp", "cnn"):
        i, j = a["archs"].index(arch), b["archs"].index(f"s1:{arch}")
        assert np.isclose(a["spearman"][i, i], b["spearman"][j, j]), (arch, a["spearman"], b["spearman"])
    i, j = a["archs"].index("mlp"), a["archs"].index("cnn")
    k, m = b["archs"].index("s1:mlp"), b["archs"].index("s1:cnn")
    assert np.isclose(a["spearman"][i, j], b["spearman"][k, m])


@pilot_test
async def test_every_note_can_be_read_whole(tmp_path):
    """Three lines under the status cut a comparison's notes with "…", and nothing printed them
    whole (`orderlab analyze` compares no studies): `n` shows every note."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    populate_store(Store(uri), "first-study", archs=("mlp", "cnn", "st-vgg", "resnet18"), seeds=3, seed=1)
    populate_store(Store(uri), "second-study", archs=("mlp",), seeds=3, seed=1, n_checkpoints=5)
    app = make_app(uri, study="first-study", compare="second-study")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app) and len(app.screen.studies) == 2, what="the comparison")
        notes = list(app.screen.notes)
        assert len(" · ".join(notes)) > 3 * 80, notes                     # more than three lines hold
        assert "… n: all notes" in screen_text(app), screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        box = [line.split("█")[1] for line in screen_text(app).splitlines() if line.count("█") >= 2]
        shown = " ".join(" ".join(box).split())                           # inside the box's borders
        assert all(f"• {' '.join(n.split())}" in shown for n in notes), (notes, shown)
        await pilot.press("escape")
        await pilot.pause()
        assert "… n: all notes" in screen_text(app)                     # back on the study


def test_a_study_whose_networks_all_ended_early_says_how(tmp_path):
    """A study of one stale network and one planned read "every network failed, was killed or went
    stale": the problem line now says what became of them, and of which."""
    from types import SimpleNamespace as N

    from orderlab.app.source import StudySource, ended_early_text
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    assert ended_early_text([N(status="STALE")], planned=True) == "the one network that started went stale"
    assert ended_early_text([N(status="KILLED"), N(status="FAILED")], planned=False) == \
        "every network failed or was killed"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    store = Store(uri)
    for rid in populate_store(store, "k", archs=("mlp",), seeds=2, finish=False):
        store.end_run(rid, "KILLED")
    data = StudySource(uri).load(("k",))
    assert data.problem == "every network was killed (see Runs); nothing to analyse", data.problem


@pilot_test
async def test_the_view_tabs_shorten_their_labels_where_all_six_do_not_fit(tui_store):
    """At 56 columns the last tab was cut to its number ("6"): under 66 the long labels shorten,
    and all six fit; wider, they are whole again."""
    from orderlab.app.screens.study import tab_labels
    assert tab_labels(66)[1] == "2 Agreement" and tab_labels(65)[1] == "2 Agree"
    app = make_app(tui_store, study=ALPHA, refresh=600.0)
    async with app.run_test(size=(56, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="alpha")
        await pilot.pause()
        tabs = next(ln for ln in screen_text(app).splitlines() if "1 Runs" in ln)
        assert tabs.split() == ["1", "Runs", "2", "Agree", "3", "Heat", "4", "Hist", "5", "Order", "6", "Examples"], tabs
        await pilot.press("6")
        await wait_for(pilot, lambda: app.screen.query_one("#views").active == "examples", what="the Examples tab")
        await pilot.resize_terminal(100, 24)
        await pilot.pause()
        await pilot.pause()
        tabs = next(ln for ln in screen_text(app).splitlines() if "1 Runs" in ln)
        assert "2 Agreement  3 Heatmap  4 Histogram  5 Order  6 Examples" in tabs, tabs


@pilot_test
async def test_the_status_rewraps_when_the_terminal_widens(tui_store):
    """Wrapped for 60 columns, the status kept its two lines at 140 until the next poll (15 s)."""
    app = make_app(tui_store, study=ALPHA, refresh=600.0)
    async with app.run_test(size=(60, 24)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="alpha")
        await pilot.pause()
        assert screen_text(app).splitlines()[1].strip().endswith("finished")      # the checkpoint below
        await pilot.resize_terminal(140, 24)
        await pilot.pause()
        await pilot.pause()
        status = screen_text(app).splitlines()[1]
        assert "finished" in status and "checkpoint" in status, screen_text(app).splitlines()[:4]


@pilot_test
async def test_an_architecture_of_one_network_shows_no_agreement_numbers(tui_store):
    """"cnn 1 only 0.982 1.000 1.000 0.000 1.000" read as perfect agreement: one network's TPA,
    Jaccard and independent TPA are 1 by construction."""
    app = make_app(tui_store, study=SOLO)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app), what="solo")
        await pilot.press("2")
        await wait_for(pilot, lambda: shows(app, "1 only"), what="the agreement table")
        row = next(line.split() for line in screen_text(app).splitlines() if "1 only" in line)
        assert row[:3] == ["cnn", "1", "only"] and row[4:] == ["—"] * 4, row
        # nor a TPA curve at 1: the legend says why there is none
        top = next(line for line in screen_text(app).splitlines() if "1.0┤" in line)
        assert shows(app, "━━ cnn: 1 network, not drawn") and not any("\u2801" <= ch <= "\u28ff" for ch in top), top


@pilot_test
async def test_a_checkpoint_recorded_apart_shows_the_networks_range_of_positions(tmp_path):
    """The status line, the heatmap's header and the agreement chart's marker gave the first
    network's position (an mlp's 0.512) for a checkpoint a cnn of another batch size recorded at 0.5."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    populate_store(Store(uri), "apart", archs=("mlp", "cnn"), seeds=2, n_checkpoints=3, n_examples=60,
                   per_epoch={"mlp": 43, "cnn": 14})
    app = make_app(uri, study="apart")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        assert shows(app, "checkpoint 3/3, epoch 0.5–0.512"), screen_text(app)
        await pilot.press("3")
        await wait_for(pilot, lambda: shows(app, "checkpoint 3/3 · epoch 0.5–0.512"), what="the heatmap's header")


@pilot_test
async def test_a_folded_resume_command_is_selected_and_copied_whole(tmp_path):
    """The Runs detail line folds a resume command onto three lines at 60 columns; the terminal's
    own selection keeps the folds. Selected in the app, the text (and what ctrl+c copies) is whole."""
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    ids = populate_store(store, "s", archs=("mlp",), seeds=2, n_checkpoints=3, n_examples=60)
    store.end_run(ids[0], "KILLED")
    app = make_app(uri, study="s")
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_for(pilot, lambda: shows(app, "resume: orderlab train --resume"), what="the detail line")
        detail = app.screen.query_one("#run-detail")
        w, h = detail.region.width, detail.region.height
        assert h >= 2                                          # folded on screen
        await pilot.mouse_down(detail, offset=(0, 0))
        await pilot.hover(detail, offset=(w - 1, h - 1))
        await pilot.mouse_up(detail, offset=(w - 1, h - 1))
        await pilot.pause(0.2)
        selected = app.screen.get_selected_text()
        assert selected and "\n" not in selected, selected
        assert f"orderlab train --resume {ids[0]} --tracking-uri {uri}" in selected, selected
        await pilot.press("ctrl+c")
        assert app.clipboard == selected


@pilot_test
async def test_home_and_end_move_through_the_studies_list(tui_store):
    """Home then Enter opened the study under the cursor: the table took Home to scroll sideways.
    The footer now names Enter too."""
    from orderlab.app.screens.study import StudyScreen
    app = make_app(tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.known_studies) == 4, what="the study list")
        assert shows(app, "⏎ open")
        await pilot.press("end", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), what="the last study")
        assert app.screen.studies == (SOLO,)
        await pilot.press("escape", "home", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), what="the first study")
        assert app.screen.studies == (ALPHA,)


def test_one_planned_network_is_started_by_it_not_them():
    """"planned, not started yet: cnn/s2; if the command stopped, … starts them"."""
    from types import SimpleNamespace

    from orderlab.app.screens.study import study_notes
    data = SimpleNamespace(waiting=[], starting=[], planned=["cnn/s2"], resume=["orderlab sweep --resume s"],
                           left_out=[], unreadable=[], problem=None, stack=object(), notes=[])
    [note] = study_notes(data, "most", False, None)
    assert note.endswith("`orderlab sweep --resume s` starts it"), note
    data.planned = ["cnn/s2", "cnn/s3"]
    assert study_notes(data, "most", False, None)[0].endswith("starts them")


def test_a_running_networks_row_shows_the_record_read_not_older_tags(tmp_path):
    """The progress tags are written every 2 s: a fast training's Runs row read 15–30 checkpoints
    behind the status line, which counts the records read for the analysis."""
    from orderlab.app.source import StudySource
    from orderlab.store import Store
    from orderlab.synthetic import populate_store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    store = Store(uri)
    ids = populate_store(store, "fast", archs=("mlp",), seeds=2, n_checkpoints=4, n_examples=60, finish=False)
    # as if behind: the tags and the accuracy of an earlier checkpoint
    store.set_tags(ids[0], {"orderlab.checkpoints": "2", "orderlab.epoch": "0.25"})
    store.log_metrics(ids[0], {"test_acc": 0.01}, 100)
    data = StudySource(uri).load(("fast",), mode="all")
    row, other = (next(r for r in data.runs if r.run_id == i) for i in ids)
    rec = store.load_record(row)
    assert (row.checkpoints, row.epoch) == (4, 0.75)
    assert row.test_acc == pytest.approx(rec.split("test").correct()[-1].mean()) != 0.01
    assert (other.checkpoints, other.epoch) == (4, 0.75)          # the other, up to date, as it was


@pilot_test
async def test_the_notes_say_when_they_were_read(tui_store):
    """The notes screen stands still while open (the store is not polled under it): a live count in
    it read as frozen."""
    now = [3600.0 * 9]
    app = make_app(tui_store, study=ALPHA, clock=lambda: now[0])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: study_ready(app))
        import time
        at = time.strftime("%H:%M:%S", time.localtime(now[0]))
        now[0] += 125                                   # `n` pressed after the poll: its time is the poll's
        await pilot.press("n")
        await wait_for(pilot, lambda: shows(app, f"notes as of {at} (escape or n: close"), what="the notes")
