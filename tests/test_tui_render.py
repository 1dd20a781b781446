"""The TUI's drawing functions and its choice of networks, without an app."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from rich.console import Console
from rich.text import Text

from orderlab.app.source import choose_networks
from orderlab.app.views.heatmap import colour_range
from orderlab.app.widgets import render as R
from orderlab.errors import epoch_text


def plain(line) -> str:
    return line.plain if isinstance(line, Text) else "".join(s.text for s in line)


def test_half_block_image_keeps_both_pixels_of_a_cell():
    img = np.array([[[255, 0, 0], [0, 0, 255]],
                    [[0, 255, 0], [255, 255, 255]]], np.uint8)
    (line,) = R.image_lines(img, 2)
    assert line.plain == "▀▀"
    styles = [line.get_style_at_offset(Console(), i) for i in range(2)]
    assert [s.color.get_truecolor() for s in styles] == [(255, 0, 0), (0, 0, 255)]        # top row
    assert [s.bgcolor.get_truecolor() for s in styles] == [(0, 255, 0), (255, 255, 255)]  # bottom row
    gray = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    lines = R.image_lines(gray, 16)                  # 8 px scaled x2: 16 cells, 8 lines
    assert len(lines) == 8 and all(len(t.plain) == 16 for t in lines)


def test_matrix_shows_values_colours_and_what_does_not_fit():
    m = np.array([[1.0, 0.25], [0.25, np.nan]])
    lines, note = R.matrix(m, ["a", "b"], ["a", "b"], 40)
    assert note == ""
    assert ".25" in plain(lines[1]) and "1.0" in plain(lines[1]) and "·" in plain(lines[2])
    seg = next(s for s in lines[1] if s.text.strip() == "1.0")
    assert seg.style.bgcolor.get_truecolor() == R.cmap(1.0)
    assert R.cmap(1.0) != R.cmap(0.0)
    # 0.996 is not whole agreement: it does not round up to the 1.0 of identical networks
    near = np.array([[1.0, 0.9996], [0.9996, 1.0]])
    lines, _ = R.matrix(near, ["a", "b"], ["a", "b"], 40)
    assert plain(lines[1]).split() == ["a", "1.0", ".999"], plain(lines[1])
    # three decimals where a cell gets 6 columns (late in training, .97 to .99 is where TPA sits),
    # two where it gets 4 or 5
    lines, _ = R.matrix(np.array([[0.987, 0.972]]), ["a"], ["x", "y"], 40)
    assert plain(lines[1]).split() == ["a", ".987", ".972"], plain(lines[1])
    lines, _ = R.matrix(near, ["a", "b"], ["a", "b"], 12)
    assert plain(lines[1]).split() == ["a", "1.0", ".99"], plain(lines[1])
    # a correlation just below zero has no sign ("-0.0" read as a negative one); others keep it
    lines, _ = R.matrix(np.array([[-0.004, -0.04, -0.3, -1.0]]), ["a"], list("wxyz"), 22)
    assert plain(lines[1]).split() == ["a", ".00", "-.04", "-.30", "-1.0"], plain(lines[1])
    lines, _ = R.matrix(np.array([[-0.0004, -0.04, -0.3, -1.0]]), ["a"], list("wxyz"), 40)
    assert plain(lines[1]).split() == ["a", ".000", "-.040", "-.300", "-1.0"], plain(lines[1])
    assert [R.fmt(v, 3) for v in (-0.00004, -0.1, 0.0)] == ["0.000", "-0.100", "0.000"]
    # Long names: columns are numbered and rows carry the numbers.
    lines, _ = R.matrix(m, ["alpha:cnn/s0", "alpha:cnn/s1"], None, 40)
    assert plain(lines[0]).split() == ["1", "2"] and plain(lines[2]).strip().startswith("alpha:cnn/s1 2")
    # Longer than the label column: the end kept (it tells networks apart), marked as cut.
    lines, _ = R.matrix(m, ["demo-digits-and-more:cnn/s0", "demo-digits-and-more:cnn/s1"], None, 60)
    assert plain(lines[1]).split()[:2] == ["…s-and-more:cnn/s0", "1"]
    # Too many to fit: the first rows and columns, and a note.
    big = np.random.default_rng(0).random((60, 60))
    lines, note = R.matrix(big, [f"n{i}" for i in range(60)], None, 40, max_rows=10)
    # numbers 1-60 in 1-column cells: written downwards (two header lines), one row fewer
    assert len(lines) == 2 + 9 and note == "9×33 of 60×60 shown; enlarge for more", note
    tens, units = plain(lines[0]), plain(lines[1])
    columns = [(t + u).strip() for t, u in zip(tens[-33:], units[-33:])]
    assert columns == [str(j) for j in range(1, 34)], columns       # were cut to "1", "1", ... from 10
    # when the cells hold the numbers: one header line
    lines, note = R.matrix(big[:12, :12], [f"n{i}" for i in range(12)], None, 80)
    assert plain(lines[0]).split() == [str(j) for j in range(1, 13)] and note == ""


def test_histogram_bars_follow_the_counts():
    obs = np.array([0.6, 0.0, 0.0, 0.4])
    ind = np.array([0.1, 0.4, 0.4, 0.1])
    rows = R.histogram(obs, ind, 40, 10)
    top = rows[0].plain
    assert top.startswith(" 0.60┤")
    # The tallest bar (observed, k = 0) reaches the top row; independence at k = 0 does not.
    assert top[6] == "█" and "█" not in top[6 + len(top) // 2:]
    assert rows[-1].plain.split() == ["0", "1", "2", "3"]


def test_line_chart_draws_lines_and_shades_the_gap():
    x = np.linspace(0, 2, 9)
    hi, lo = np.linspace(0.1, 0.9, 9), np.linspace(0.05, 0.3, 9)
    lines = R.line_chart([R.Series("tpa", x, hi, "#4fc3f7")], 40, 12,
                         bands=[R.Band(x, lo, hi, "#4fc3f7")], marker_x=1.0)
    assert len(lines) == 12 and lines[0].plain.startswith(" 1.0┤") and "epoch" in lines[-1].plain
    body = [line for line in lines[:-2]]
    assert any(0x2800 < ord(ch) <= 0x28FF for line in body for ch in line.plain)        # braille dots
    shaded = {span.style.bgcolor.get_truecolor() for line in body for span in line.spans
              if not isinstance(span.style, str) and span.style.bgcolor is not None}
    assert shaded                                                                     # the gap is tinted
    assert any("┊" in line.plain[6:] for line in body)                                # the checkpoint marker
    # the x axis's ends read as the status line and the CLI write epochs ("1.74", not "1.74419")
    frac = R.line_chart([R.Series("tpa", np.linspace(0, 1.744186, 5), hi[:5], "#4fc3f7")], 40, 8)
    assert frac[-1].plain.split() == ["0", "1.74", "epoch"], frac[-1].plain


def test_the_checkpoint_marker_leaves_the_curve_whole_at_the_first_checkpoint():
    """At the first (or last) checkpoint the marker's "┊" took the cells the curve starts in and
    hid its dots ("0.0┤┊⠾⠋⠉" rather than "0.0┤⣠⠾⠋⠉")."""
    x = np.linspace(0, 2, 9)
    y = np.linspace(0.0, 0.9, 9)
    plain = R.line_chart([R.Series("tpa", x, y, "#4fc3f7")], 40, 12)
    marked = R.line_chart([R.Series("tpa", x, y, "#4fc3f7")], 40, 12, marker_x=0.0)
    for a, b in zip(plain[:-2], marked[:-2]):
        col = 5                                    # the first column of the plot, after " 1.0┤"
        if a.plain[col] != " ":
            assert b.plain[col] == a.plain[col], (a.plain, b.plain)    # the curve's dots stay
        else:
            assert b.plain[col] == "┊", (a.plain, b.plain)             # the marker elsewhere


def test_bar_and_epochs():
    assert R.bar(0.5, 8) == "████    " and R.bar(1.0, 4) == "████" and R.bar(0, 3) == "   "
    # the last cell fills from the left, as the bar does ("█▄" read as a histogram's)
    assert R.bar(0.3125, 8) == "██▌     " and R.bar(0.02, 8) == "▏       "
    # the command line's rule (orderlab.errors.epoch_text): 12.25 beside 12.5 is not "12.2"
    assert [epoch_text(v) for v in (0.511628, 3.0, 0.25, 12.25, 123.333, 0.005, -0.0)] == \
        ["0.512", "3", "0.25", "12.25", "123.33", "0.005", "0"]



def test_shares_short_of_all_or_none_never_read_as_all_or_none():
    """reproduce said "cnn gets 100% of what mlp gets right" of 0.9954: two examples it misses."""
    from orderlab.errors import share_text
    assert [share_text(v) for v in (0.9954, 0.9999, 1.0, 0.0, 0.004, 0.00001, 0.5, 0.126)] == \
        ["99.5%", "over 99.9%", "100%", "0%", "0.4%", "under 0.1%", "50%", "13%"]


def run(name, status, checkpoints):
    return SimpleNamespace(run_id=name, name=name, status=status, checkpoints=checkpoints)


def test_choose_networks_waits_for_a_network_that_just_started():
    done = [run("a", "FINISHED", 13), run("b", "FINISHED", 13)]
    keep, waiting = choose_networks(done + [run("c", "RUNNING", 3)], "most")
    assert [r.run_id for r in keep] == ["a", "b"] and [r.run_id for r in waiting] == ["c"]
    keep, waiting = choose_networks(done + [run("c", "RUNNING", 10)], "most")    # 3 x 10 > 2 x 13
    assert len(keep) == 3 and not waiting
    keep, _ = choose_networks([run("a", "FINISHED", 13), run("c", "RUNNING", 2)], "most")
    assert len(keep) == 2                                                       # a pair beats one alone
    # ... but not with a network that has recorded only its untrained checkpoint: its accessibility would
    # be its initial favourite class, beside a trained network's order
    keep, waiting = choose_networks([run("a", "FINISHED", 13), run("c", "RUNNING", 1)], "most")
    assert [r.run_id for r in keep] == ["a"] and [r.run_id for r in waiting] == ["c"]
    keep, _ = choose_networks([run("a", "RUNNING", 1), run("c", "RUNNING", 1)], "most")
    assert len(keep) == 2                                   # nothing trained yet: both shown at checkpoint 0
    keep, _ = choose_networks(done + [run("c", "RUNNING", 3)], "all")
    assert len(keep) == 3
    # a finished network never catches up: it is analysed, not left waiting (knn recorded once an
    # epoch, 11 checkpoints, beside mlps recorded every quarter epoch, 41)
    mixed = [run(f"mlp{i}", "FINISHED", 41) for i in range(4)] + [run(f"knn{i}", "FINISHED", 11) for i in range(4)]
    keep, waiting = choose_networks(mixed, "most")
    assert len(keep) == 8 and not waiting
    keep, waiting = choose_networks(mixed + [run("new", "RUNNING", 2)], "most")
    assert len(keep) == 8 and [r.run_id for r in waiting] == ["new"]
    keep, waiting = choose_networks(done + [run("c", "RUNNING", 13)], "finished")
    assert [r.run_id for r in keep] == ["a", "b"] and len(waiting) == 1


def test_colour_range_stretches_over_the_values():
    assert colour_range(np.array([0.96, 0.99]), stretch=False) == (0.0, 1.0)
    assert colour_range(np.array([0.96, 0.99, np.nan])) == (0.95, 1.0)
    lo, hi = colour_range(np.array([0.2, 0.21]))
    assert hi - lo >= 0.05 - 1e-9 and lo <= 0.2 and hi >= 0.21


def test_the_runs_filter_matches_arch_seed_status_not_parts_of_the_study_name():
    from orderlab.app.views.runs import matches
    mlp = SimpleNamespace(study="fashion-mnist-mlp-cnn", arch="mlp", seed=3, status="FINISHED", tags={})
    cnn = SimpleNamespace(study="fashion-mnist-mlp-cnn", arch="cnn", seed=0, status="RUNNING", tags={})
    assert [matches(r, "cnn") for r in (mlp, cnn)] == [False, True]      # the default name holds every arch
    assert matches(mlp, "mlp finished") and not matches(mlp, "mlp running")
    assert matches(mlp, "s3") and matches(mlp, "seed=3") and not matches(cnn, "seed=3")
    assert matches(cnn, "fashion-mnist-mlp-cnn running")                  # the whole name, when comparing
    assert not matches(mlp, "fashion") and matches(mlp, "unreadable", unreadable=True)


def test_examples_view_says_when_its_picks_are_some_of_more_tied_examples():
    """Twelve shown where 30 tie at accessibility 1 (digits: 30% of the test split): the split's
    order picked them, and the status line says so; none of it when the twelfth stands alone."""
    from types import SimpleNamespace

    from orderlab.app.views.examples import ExamplesView
    n = 60
    access = np.r_[np.ones(30), np.linspace(0.9, 0.0, 30)]
    stack = SimpleNamespace(n_examples=n, label=np.zeros(n, int), example_id=np.arange(n))
    view = ExamplesView()
    view._data = SimpleNamespace(analysis=SimpleNamespace(access_all=access), stack=stack, examples=None,
                                 split="test")
    picks, _, tie = view.picks()
    assert picks.tolist() == list(range(12))
    assert tie == ("30 examples tie at accessibility 1.00: the 12 of them shown are the first in the split's "
                   "order, no easier than the other 18")
    view.hardest = True                  # the 12 hardest: 0.0 down to 0.28, each its own
    picks, _, tie = view.picks()
    assert picks[0] == n - 1 and tie == ""


def test_notes_cut_to_their_lines_end_in_an_ellipsis():
    """The notes line holds three lines at most: on an 80-column terminal a long note ended
    mid-sentence ("… (--arch NAME follows one"), with nothing to say that more was cut."""
    long = Text("word " * 60, style="dim italic")
    cut = R.fit_lines(long, 40, 3)
    lines = cut.plain.split("\n")
    assert len(lines) == 3 and lines[-1].endswith("…") and all(len(x) <= 40 for x in lines), lines
    assert [str(sp.style) for sp in cut.spans] == ["dim italic"] * 3        # its style kept, line by line
    short = Text("all of it fits")
    assert R.fit_lines(short, 40, 3) is short
    exact = Text("x" * 120)                   # three full lines: nothing cut, no ellipsis
    assert "…" not in R.fit_lines(exact, 40, 3).plain
    two = R.fit_lines(Text("a title of two studies' names, compared"), 24, 2)
    assert two.plain.split("\n") == ["a title of two studies'", "names, compared"]       # wrapped for a drawing
    # cut at a space before the "…" and what says where the rest is ("a position counts st…" read as a word)
    notes = Text("learners beside networks: a position counts stages of logistic and epochs of cnn, not one "
                 "amount of training; compare them by architecture or at the end")
    last = R.fit_lines(notes, 80, 1, more=" n: all notes").plain
    assert last == "learners beside networks: a position counts stages of logistic and… n: all notes", last
    for width in range(30, 40):               # nor a separating dot left hanging before the "…"
        cut = R.fit_lines(Text("notes one here · second note that is longer"), width, 1, more=" n: all notes").plain
        assert "·…" not in cut and " …" not in cut, (width, cut)


def test_a_wrapped_notes_line_never_starts_with_the_separating_dot():
    """Notes are joined by " · ": where the break fell before the dot, the next line began with
    it ("· dddd eeee"). The dot now ends the line of the note it follows."""
    notes = Text("aaaa bbbb cccc · dddd eeee", style="dim italic")
    for width in range(10, 26):
        lines = R.fit_lines(notes, width, 3).plain.split("\n")
        assert not any(x.startswith("·") for x in lines), (width, lines)
        assert all(len(x) <= width for x in lines), (width, lines)
        assert " ".join(lines) == notes.plain, (width, lines)        # nothing lost, spaces back
    assert R.fit_lines(notes, 15, 3).plain.split("\n") == ["aaaa bbbb", "cccc · dddd", "eeee"]
    assert R.fit_lines(notes, 16, 3).plain.split("\n") == ["aaaa bbbb cccc ·", "dddd eeee"]


def test_status_phrases_break_between_them_and_the_clock_only_where_it_fits():
    segs = [Text("● live"), Text("synthetic"), Text("test"), Text("8 networks: 4 finished, 4 planned"),
            Text("checkpoint 4/4, epoch 0.75")]
    wide = R.pack_segments(segs, 200, extra=Text("12:00:00"))
    assert wide.plain == "● live · synthetic · test · 8 networks: 4 finished, 4 planned · " \
                         "checkpoint 4/4, epoch 0.75 · 12:00:00"
    narrow = R.pack_segments(segs, 78, extra=Text("12:00:00")).plain.split("\n")
    # the checkpoint's phrase moves whole to the second line (not "epoch" | "0.75")
    assert narrow == ["● live · synthetic · test · 8 networks: 4 finished, 4 planned",
                      "checkpoint 4/4, epoch 0.75 · 12:00:00"]
    assert all(len(line) <= 78 for line in narrow)
    # no room left on the last line: the clock is left out, not given a line of its own
    tight = R.pack_segments(segs[:1], 10, extra=Text("12:00:00")).plain
    assert tight == "● live"
    # a phrase wider than a line keeps a line of its own (the widget wraps it)
    assert R.pack_segments([Text("ab"), Text("x" * 30)], 10).plain == "ab\n" + "x" * 30


def test_the_runs_progress_bar_comes_back_when_the_table_fits_again():
    """At 80 columns a running network's "26.51/60" made the bar give way; once every network read
    "60/60" the bar did not come back (its room was counted as the bar's cells on top of the
    "progress" header, which is wider than "60/60")."""
    import asyncio
    from types import SimpleNamespace

    from textual.app import App

    from orderlab.app.views.runs import RunsView

    def run(seed, epoch, status):
        return SimpleNamespace(arch="cnn", seed=seed, status=status, epoch=epoch, epochs=60.0,
                               progress=epoch / 60, checkpoints=121, train_acc=1.0, test_acc=0.982,
                               run_id=f"{seed:032d}", study="live", stages=False, error=None, tags={})

    class Host(App):
        def compose(self):
            yield RunsView()

    async def scenario():
        async with Host().run_test(size=(80, 24)) as pilot:
            view = pilot.app.query_one(RunsView)
            view.runs = [run(s, 26.51, "RUNNING") for s in range(4)]
            view._fit()
            narrow_bar = view._bar
            view.runs = [run(s, 60.0, "FINISHED") for s in range(4)]
            view._fit()
            return narrow_bar, view._bar, view.size.width
    dropped, back, width = asyncio.run(scenario())
    assert width == 80 and not dropped and back, (dropped, back)


def test_an_examples_card_reads_1_00_only_when_it_is():
    """Two examples right at nearly every checkpoint read "access 1.00" beside the ones right at
    every checkpoint, and the note on ties counted 8 where the screen showed 10."""
    from orderlab.app.views.examples import share_text
    assert [share_text(x) for x in (1.0, 0.998, 0.995, 0.5, 0.004, 0.0, float("nan"))] == \
        ["1.00", "0.99", "0.99", "0.50", "0.01", "0.00", "nan"]
