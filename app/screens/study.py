"""A study's screen: the runs table and the views, a key apart, following the store live."""
from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from orderlab.app.messages import CheckpointFailed, CheckpointReady, PollFailed, StudyLoaded
from orderlab.app.screens.polling import PollingScreen
from orderlab.app.views.agreement import AgreementView
from orderlab.app.views.examples import ExamplesView
from orderlab.app.views.heatmap import HeatmapView
from orderlab.app.views.histogram import HistogramView
from orderlab.app.views.order import OrderView
from orderlab.app.views.runs import RunsView
from orderlab.app.widgets.render import fit_lines, line_room, pack_segments

# Columns beside the header's title: Textual's icon (8) and clock space (10, drawn even without
# the clock); with class -roomy (orderlab.tcss) the icon takes 3 and the clock space 1.
HEADER_SIDES, ROOMY_SIDES = 18, 4

VIEWS = [("runs", "Runs", RunsView), ("agreement", "Agreement", AgreementView),
         ("heatmap", "Heatmap", HeatmapView), ("histogram", "Histogram", HistogramView),
         ("order", "Order", OrderView), ("examples", "Examples", ExamplesView)]

# Where the six tabs do not fit (under 66 columns the last was cut to its number), the long labels
# are shortened: all six then fit down to 54.
SHORT_LABELS = {"agreement": "Agree", "heatmap": "Heat", "histogram": "Hist"}


def tab_labels(width: int) -> list[str]:
    """The views' tab labels for a row ``width`` columns wide (each tab has a column either side)."""
    full = [f"{i + 1} {label}" for i, (_, label, _) in enumerate(VIEWS)]
    if sum(len(t) + 2 for t in full) <= width:
        return full
    return [f"{i + 1} {SHORT_LABELS.get(vid, label)}" for i, (vid, label, _) in enumerate(VIEWS)]


CACHE_CHECKPOINTS = 256


MAX_UNREADABLE_LINES = 3


def unreadable_text(problems: list[Any]) -> Text | None:
    """The warning over every view when networks' records cannot be read (source.RecordProblem):
    a line per network, or, when there are many, one line naming them (Runs gives each reason)."""
    if not problems:
        return None
    t = Text()
    if len(problems) <= MAX_UNREADABLE_LINES:
        for i, p in enumerate(problems):
            if i:
                t.append("\n")
            t.append("⚠ ", style="bold")
            t.append(p.name, style="bold")
            t.append(f" left out of the analysis: {p.reason}")
        return t
    names = ", ".join(p.name for p in problems)
    t.append("⚠ ", style="bold")
    t.append(f"{len(problems)} networks left out of the analysis, their records cannot be read", style="bold")
    t.append(f" (Runs: / unreadable lists them, the line under the table says why): {names}")
    return t


PALETTE_WIDTH = len("▏^p palette ")     # what the footer's command palette key takes


def study_notes(data: Any, mode: str, live: bool, most: int | None) -> list[str]:
    """The notes under a study's status: what is waiting, starting, planned or left out (each list
    of names cut after ``most``, None: whole), why there is nothing to analyse, then the analysis's."""
    def names(items: list[str]) -> str:
        shown = items if most is None else items[:most]
        return ", ".join(shown) + ("…" if len(items) > len(shown) else "")
    notes = []
    if data.waiting:
        # "finished only" leaves the running out for not having finished, not for lagging
        why = "not finished yet" if mode == "finished" else "waiting to catch up"
        notes.append(f"{why}: {names(data.waiting)} (a: include)")
    if data.starting:
        notes.append(f"no checkpoint yet: {names(data.starting)}")
    if data.planned:
        # planned by a train or sweep, no run yet: still to come while networks train, else the
        # command that planned them stopped (resuming the sweep starts them)
        what = f"planned, not started yet: {names(data.planned)}"
        starts = " and ".join(f"`{c}`" for c in data.resume)
        them = "them" if len(data.planned) > 1 else "it"
        notes.append(what if live else f"{what}; if the command stopped, {starts} "
                     f"start{'s' if len(data.resume) == 1 else ''} {them}")
    if data.left_out:
        notes.append(f"left out of the analysis: {names(data.left_out)}")
    if most is None:        # (the warning over the views names them already; `n` lists them with the rest)
        notes += [f"{p.name} left out of the analysis: {p.reason}" for p in getattr(data, "unreadable", [])]
    # (the networks named as having no checkpoint yet already say there is none)
    from orderlab.app.source import NO_CHECKPOINT
    if data.problem and data.stack is None and not (data.starting and data.problem == NO_CHECKPOINT):
        notes.append(data.problem)
    # the analysis's own: what had further to train first, which changes how every number at the
    # checkpoint reads, then the alignment's (its note, the longer, filled the three lines first)
    from orderlab.analysis.stack import SHORT_OF_END
    notes += sorted(data.notes, key=lambda n: not n.startswith(SHORT_OF_END))
    an = getattr(data, "analysis", None)
    if most is None and an is not None and an.tied:
        # the Order view says it in short; `n` gives it whole, with its advice, as `analyze` does
        from orderlab.analysis.summary import own_grids, tied_note, tied_positions
        notes.append(tied_note(an.tied, an.order.get("q", 0.2), *tied_positions(data.stack, an.tied),
                               own_grids(data.stack)))
    return notes


def chosen_index(stack: Any, chosen: float) -> int:
    """The checkpoint of ``stack`` to show for the epoch a user chose: the last at or before it. As
    another network (now first) recorded it, one checkpoint lies up to a step apart (an mlp's 0.256,
    a cnn's 0.286): the epoch chosen on the one is that checkpoint on the other, not the one before."""
    hs = stack.half_steps
    tol = 2 * (0.0 if hs is None else float(hs.max())) + 1e-9
    at = [i for i, e in enumerate(stack.epoch.tolist()) if e <= chosen + tol]
    return at[-1] if at else 0


class StatusLine(Static):
    """The study's status line. The screen's lines are broken for its width (see line_room), which
    changes with the terminal's and where a panel is docked beside the screen (Textual's keys
    panel): the screen itself is not resized then, so the line says so, to the views too."""
    _width = 0

    def on_resize(self) -> None:
        width = self.content_region.width
        if width != self._width:
            self._width = width
            self.screen.fit_tabs(width)
            self.screen.show_status()
            for view in self.screen.views():
                view.relayout()


class StudyScreen(PollingScreen):
    AUTO_FOCUS = "#runs-table"
    BINDINGS = [
        Binding("escape", "back", "back", tooltip="Back to the list of studies"),
        # Keys of one view: shown in the footer only while that view is active (check_action).
        Binding("s", "in_view('runs', 'action_sort')", "sort"),
        Binding("S", "in_view('runs', 'action_reverse')", "reverse", show=False),
        Binding("o", "in_view('order', 'action_next_pair')", "next pair"),
        Binding("z", "in_view('heatmap', 'action_scale')", "scale"),
        Binding("e", "in_view('examples', 'action_toggle_mode')", "easy/hard"),
        Binding("k", "in_view('examples', 'action_next_class')", "class"),
        *[Binding(str(i + 1), f"view('{vid}')", label, show=False, id=f"view-{vid}")
          for i, (vid, label, _) in enumerate(VIEWS)],
        Binding("left_square_bracket", "step(-1)", "step", key_display="[ ]", id="prev-checkpoint",
                tooltip="Previous / next checkpoint"),
        Binding("right_square_bracket", "step(1)", "next", show=False, id="next-checkpoint"),
        Binding("home", "jump('first')", "first checkpoint", show=False),
        Binding("end", "jump('last')", "latest checkpoint", show=False),
        Binding("space", "play", "play", id="play"),
        Binding("t", "split", "split", tooltip="Switch between the train and the test split"),
        Binding("a", "networks", "networks", show=False),
        Binding("c", "compare", "compare", tooltip="Compare with another study of the same data"),
        Binding("slash", "filter", "filter", show=False),
        Binding("r", "refresh", "refresh", show=False),
        Binding("n", "notes", "notes", show=False, tooltip="Every note about the study, whole"),
    ]

    def __init__(self, studies: tuple[str, ...], split: str = "test") -> None:
        super().__init__()
        self.studies = tuple(studies)
        self.split = split
        self.mode = "most"                      # which networks the analysis takes (source.MODES)
        self.data: Any = None
        self.notes: list[str] = []              # the notes shown under the status, all of them
        self.version = -1
        self.checkpoint: int | None = None      # index into data.stack.epoch
        self.following = True                   # stay on the latest checkpoint as new ones arrive
        # the epoch of a checkpoint the user chose, once a reload (split, mode, comparison) has
        # brought another stack: shown by it, also through stacks that end before it
        self._chosen: float | None = None
        self.playing = False
        self._play_timer = None
        self.cp_cache: dict[tuple[int, int], Any] = {}
        self.cp_result: Any = None
        self._cp_busy = False
        self._cp_error: str | None = None
        self.problem: str | None = None

    # -- layout ---------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield StatusLine("", id="study-status")
        yield Static("", id="study-notes")
        yield Static("", id="unreadable")
        yield Static("", id="problem")
        with TabbedContent(id="views"):
            for i, (vid, label, cls) in enumerate(VIEWS):
                with TabPane(f"{i + 1} {label}", id=vid):
                    yield cls(id=f"view-{vid}")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title_text()
        self.query_one("#problem", Static).display = False
        self.query_one("#unreadable", Static).display = False
        self.call_after_refresh(self.poll_now)       # paint first (see StudiesScreen.on_mount)

    def title_text(self) -> None:
        """"orderlab — NAME · split" where it fits; else the name (and split) alone, with the
        header's icon and empty clock space narrowed to give it the room: a long study name is seen
        whole on its own screen (the list cuts it to keep its counts in view). Past that, the
        name's middle gives way (its end tells similar names apart). The studies and split are those
        shown: a `t` or `c` whose poll has not come back (a store gone) leaves the title as it was."""
        studies, split = (self.data.studies, self.data.split) if self.data is not None else (self.studies, self.split)
        name = " + ".join(studies)
        header = self.query_one(Header)
        width = self.app.size.width
        if len(self.app.title) + 3 + len(name) + 3 + len(split) <= width - HEADER_SIDES:
            header.remove_class("-roomy")
            self.title, self.sub_title = None, f"{name} · {split}"
            return
        header.add_class("-roomy")
        room = width - ROOMY_SIDES
        if len(name) + 3 + len(split) <= room:
            name = f"{name} · {split}"
        elif len(name) > room:
            keep = max(2, room - 1)
            name = name[:keep // 2] + "…" + name[len(name) - (keep - keep // 2):]
        self.title, self.sub_title = name, ""

    def on_resize(self) -> None:
        self.title_text()
        self.fit_footer()
        # the status and notes are broken into lines for the width: wider, they kept the narrow
        # terminal's lines until the next poll
        self.show_status()

    def fit_tabs(self, width: int) -> None:
        """The tab labels for the row's ``width`` (see tab_labels)."""
        tabs = self.query_one("#views", TabbedContent)
        for (vid, _, _), text in zip(VIEWS, tab_labels(width)):
            tab = tabs.get_tab(vid)
            if tab.label_text != text:
                tab.label = text

    def fit_footer(self) -> None:
        """The footer's "^p palette" gives way when this view's keys need its room: at 80 columns
        the Examples view's two keys pushed "? help" off the screen (the palette stays on ctrl+p
        and in the help)."""
        try:
            footer = self.query_one(Footer)
        except Exception:  # noqa: BLE001 - not composed yet
            return
        keys = [(self.app.get_key_display(b), b.description) for _, b, enabled, _ in self.active_bindings.values()
                if b.show and b.action != "command_palette"]
        need = sum(len(k) + 1 + len(d) for k, d in dict.fromkeys(keys)) + len(keys) + PALETTE_WIDTH
        fits = need <= self.size.width
        if footer.show_command_palette != fits:
            footer.show_command_palette = fits
            self.refresh_bindings()            # the footer draws itself anew on a change of bindings

    def views(self) -> list[Any]:
        return [self.query_one(f"#view-{vid}") for vid, _, _ in VIEWS]

    # -- polling ----------------------------------------------------------------
    def start_fetch(self, seq: int) -> None:
        self._fetch(seq, self.studies, self.split, self.mode)

    # An explicit description: the default one is the repr of the arguments (a whole stack).
    @work(thread=True, exclusive=True, group="study-poll", exit_on_error=False, description="poll the study")
    def _fetch(self, seq: int, studies: tuple[str, ...], split: str, mode: str) -> None:
        try:
            data = self.app.source.load(studies, split, mode)
        except Exception as e:  # noqa: BLE001 - shown to the user, retried
            self.post_message(self.failed(seq, e))
        else:
            self.post_message(StudyLoaded(seq, data))

    @on(StudyLoaded)
    def _loaded(self, msg: StudyLoaded) -> None:
        if not self.poll_done(msg.seq, True):
            return
        self.problem = None
        data = msg.data
        changed = data.version != self.version
        if changed and not self.following and not self.playing and self._chosen is None \
                and self.checkpoint is not None and self.data is not None and self.data.stack is not None:
            # a checkpoint stepped to is kept by its epoch: a network joining the analysis can narrow
            # the shared checkpoints (an index kept moved to another epoch, clamped to the last one,
            # and stayed there once they grew back)
            self._chosen = float(self.data.stack.epoch[self.checkpoint])
        self.data = data
        self.title_text()
        if changed:
            self.version = data.version
            if data.stack is not None:
                n = data.stack.n_checkpoints
                if self._chosen is not None and not self.following:
                    self.checkpoint = chosen_index(data.stack, self._chosen)
                elif self.following or self.checkpoint is None:
                    self.checkpoint = n - 1
                self.checkpoint = max(0, min(self.checkpoint, n - 1))
            else:
                self.checkpoint = None
            # Older versions' checkpoints are of another stack: drop them.
            self.cp_cache = {k: v for k, v in self.cp_cache.items() if k[0] == self.version}
        for v in self.views():
            v.show_data(data, changed)
        # A reload (split, mode) forgets the shown checkpoint; the same networks come back as the same
        # version, whose checkpoint must still be shown again.
        # (not after a failed computation: that one is tried again on a move or a reload, not each poll)
        if data.stack is not None and (changed or (self.cp_result is None and self._cp_error is None)):
            self.want_checkpoint()
        self.show_status()

    @on(PollFailed)
    def _failed(self, msg: PollFailed) -> None:
        if not self.poll_done(msg.seq, False, msg.backoff):
            return
        self.problem = msg.error
        self.show_status()

    def show_status(self) -> None:
        data = self.data
        # phrases of the status line: on a narrow terminal it breaks between them, not inside one
        segs: list[Text] = []
        notes: list[str] = []
        self.notes = []
        if data is not None:
            from orderlab.store import shown_status
            counts: dict[str, int] = {}
            for status in map(shown_status, data.runs):
                counts[status] = counts.get(status, 0) + 1
            live = counts.get("RUNNING", 0) > 0
            if live:
                segs.append(Text("● live", style="bold green"))
            if data.dataset:
                segs.append(Text(data.dataset))
            segs.append(Text(data.split))
            # a superseded run's network is another run's: it is shown, but is no network of its own
            # ... and a network planned by a train or sweep that has no run yet is one of the study's
            n = len(data.runs) - counts.get("SUPERSEDED", 0) + len(data.planned)
            t = Text(f"{n} network{'s' if n != 1 else ''}")
            parts = [f"{n} {s.lower()}" for s, n in sorted(counts.items())]
            parts += [f"{len(data.planned)} planned"] if data.planned else []
            if parts:
                t.append(f": {', '.join(parts)}", style="dim")
            segs.append(t)
            if data.stack is not None and self.checkpoint is not None:
                segs.append(Text(f"checkpoint {self.checkpoint + 1}/{data.stack.n_checkpoints}, "
                                 f"{data.stack.at(self.checkpoint)}"))
            if self.mode != "most":
                segs.append(Text(f"{'every network' if self.mode == 'all' else 'finished only'} (a)",
                                 style="yellow"))
            # what is left out, waiting or planned first: the analysis's own notes (alignment,
            # networks not independent) follow, and `n` shows them all, every name in them, where
            # three lines do not
            notes, self.notes = study_notes(data, self.mode, live, 3), study_notes(data, self.mode, live, None)
        else:
            # a poll that failed (a study not made yet: `tui --study` before `train`) has its
            # banner over the views; "loading…" beside it read as stuck
            segs.append(Text("waiting (see below)" if self.problem else "loading…", style="dim"))
        # the time of the last poll, where the line has room for it (it is not worth a line of its own)
        clock = (Text(time.strftime('%H:%M:%S', time.localtime(self.last_ok)), style="dim")
                 if self.last_ok is not None else None)
        self.query_one("#study-status", Static).update(pack_segments(segs, line_room(self), extra=clock))
        note = self.query_one("#study-notes", Static)
        note.display = bool(notes)
        # three lines at most; one in a short terminal, where the views need the rows (n shows them all)
        most = 3 if self.app.size.height >= 24 else 1
        note.update(fit_lines(Text(" · ".join(notes), style="dim italic"), line_room(self), most,
                              more=" n: all notes"))
        unreadable = self.query_one("#unreadable", Static)
        warning = unreadable_text(data.unreadable if data is not None else [])
        unreadable.display = warning is not None
        if warning is not None:
            unreadable.update(warning)
        problem = self.query_one("#problem", Static)
        if self.problem:
            # --study NAME before `train` has made it: the screen waits for the study, not a failure
            wait = "; it opens here once it exists (Escape: the list)" if self.problem.startswith("no study named") \
                else ""
            problem.update(Text(f"⚠ {self.problem}{wait} — {self.retrying()}"))
            problem.display = True
        elif self._cp_error:
            problem.update(Text(f"⚠ {self._cp_error}"))
            problem.display = True
        else:
            problem.display = False

    # -- checkpoints --------------------------------------------------------------
    def want_checkpoint(self) -> None:
        """Show the chosen checkpoint: at once from the cache, else compute it in a worker."""
        if self.data is None or self.data.stack is None or self.checkpoint is None:
            return
        key = (self.version, self.checkpoint)
        if key in self.cp_cache:
            self._show_checkpoint(self.cp_cache[key])
            self._prefetch()
        elif not self._cp_busy:
            self._cp_busy = True
            self._compute(self.data.stack, self.version, self.checkpoint)

    def _prefetch(self) -> None:
        """Compute the next checkpoint ahead, so stepping and playing redraw at once."""
        if self._cp_busy or self.data is None or self.data.stack is None or self.checkpoint is None:
            return
        nxt = self.checkpoint + 1
        if nxt < self.data.stack.n_checkpoints and (self.version, nxt) not in self.cp_cache:
            self._cp_busy = True
            self._compute(self.data.stack, self.version, nxt)

    @work(thread=True, exclusive=False, group="checkpoint", exit_on_error=False,
          description="compute one checkpoint")
    def _compute(self, stack: Any, version: int, checkpoint: int) -> None:
        try:
            result = self.app.source.checkpoint(stack, version, checkpoint)
        except Exception as e:  # noqa: BLE001 - shown to the user
            self.post_message(CheckpointFailed(version, checkpoint, f"{type(e).__name__}: {e}"))
        else:
            self.post_message(CheckpointReady(result))

    @on(CheckpointReady)
    def _checkpoint_ready(self, msg: CheckpointReady) -> None:
        self._cp_busy = False
        self._cp_error = None
        r = msg.result
        if r.version == self.version:
            if len(self.cp_cache) >= CACHE_CHECKPOINTS:
                self.cp_cache.pop(next(iter(self.cp_cache)))
            self.cp_cache[(r.version, r.checkpoint)] = r
        self.want_checkpoint()

    @on(CheckpointFailed)
    def _checkpoint_failed(self, msg: CheckpointFailed) -> None:
        self._cp_busy = False
        self._cp_error = f"cannot compute checkpoint {msg.checkpoint + 1}: {msg.error}"
        self.show_status()

    def _show_checkpoint(self, result: Any) -> None:
        if self.cp_result is result:
            return
        self.cp_result = result
        for v in self.views():
            v.show_checkpoint(result)
        self.show_status()

    # -- actions -------------------------------------------------------------------
    def action_back(self) -> None:
        # Escape in the runs filter leaves the filter (its words stay), not the study.
        if getattr(self.focused, "id", None) == "runs-filter":
            self.query_one(RunsView).table.focus()
            return
        from orderlab.app.screens.studies import StudiesScreen
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if isinstance(below, StudiesScreen):
            below.focus_study(self.studies[0])
        self.app.pop_screen()

    def action_view(self, vid: str) -> None:
        tabs = self.query_one("#views", TabbedContent)
        tabs.active = vid
        # Focus must leave the old pane, or TabbedContent switches back to the pane holding it.
        self._focus_view(vid)

    def _focus_view(self, vid: str) -> None:
        if vid == "runs":
            self.query_one("#runs-table").focus()
        elif vid == "examples":
            self.query_one("#ex-scroll").focus()      # arrows and page keys scroll the cards
        else:
            self.query_one("#views Tabs").focus()     # left/right then move between views

    def active_view(self) -> str:
        return self.query_one("#views", TabbedContent).active

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "in_view":
            return len(parameters) == 2 and parameters[0] == self.active_view() and \
                self.query_one(f"#view-{parameters[0]}").key_applies(parameters[1])
        return True

    def action_in_view(self, vid: str, method: str) -> None:
        if self.active_view() == vid:
            getattr(self.query_one(f"#view-{vid}"), method)()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()
        self.fit_footer()

    def action_step(self, delta: int) -> None:
        if self.data is None or self.data.stack is None or self.checkpoint is None:
            return
        n = self.data.stack.n_checkpoints
        self.checkpoint = max(0, min(n - 1, self.checkpoint + delta))
        self.following = self.checkpoint == n - 1 and not self.playing
        self._chosen = None                     # the new choice is read off the checkpoint shown
        self.want_checkpoint()
        self.show_status()

    def action_jump(self, where: str) -> None:
        if self.data is None or self.data.stack is None:
            return
        self.checkpoint = 0 if where == "first" else self.data.stack.n_checkpoints - 1
        self.following = where == "last"
        self._chosen = None
        self.want_checkpoint()
        self.show_status()

    def action_play(self) -> None:
        if self.playing:
            self._stop_play()
        elif self.data is not None and self.data.stack is not None:
            self.playing = True
            self.following = False
            self._chosen = None
            if self.checkpoint is not None and self.checkpoint >= self.data.stack.n_checkpoints - 1:
                self.checkpoint = 0            # replay from the start
            self.want_checkpoint()
            self._play_timer = self.set_interval(self.app.play_interval, self._play_step)
        self._refresh_checkpoint_line()

    def _play_step(self) -> None:
        if self.data is None or self.data.stack is None or self.checkpoint is None:
            return
        if self.checkpoint >= self.data.stack.n_checkpoints - 1:
            self._stop_play()
            self.following = True
            self._chosen = None
            self._refresh_checkpoint_line()
            return
        if (self.version, self.checkpoint + 1) not in self.cp_cache:
            self.want_checkpoint()             # wait for it rather than skip ahead
            return
        self.checkpoint += 1
        self._chosen = None                     # as for a step: read off the checkpoint shown
        self.want_checkpoint()
        self.show_status()

    def _stop_play(self) -> None:
        self.playing = False
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None

    def _refresh_checkpoint_line(self) -> None:
        if self.cp_result is not None:
            for v in self.views():
                v.show_checkpoint(self.cp_result)

    def action_split(self) -> None:
        self.split = "train" if self.split == "test" else "test"
        self._reload()
        self.notify(f"{self.split} split", timeout=1.5)

    def action_networks(self) -> None:
        from orderlab.app.source import MODE_TEXT, MODES
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self._reload()
        self.notify(f"analysing {MODE_TEXT[self.mode]}", timeout=2)

    def _reload(self) -> None:
        self._stop_play()
        # A checkpoint the user chose is kept by its epoch: the other split, mode or comparison
        # brings a stack of its own, mostly on the same checkpoints (one following the latest
        # goes on following it). A stack that ends before it shows its last checkpoint, and the
        # next reload goes back to the epoch chosen (comparing with a shorter study and back).
        if not self.following and self._chosen is None and self.data is not None and self.data.stack is not None \
                and self.checkpoint is not None:
            self._chosen = float(self.data.stack.epoch[self.checkpoint])
        self.following = self._chosen is None
        self.cp_result = None
        self._cp_error = None
        self.poll_now(restart=True)

    def set_studies(self, studies: tuple[str, ...]) -> None:
        self.studies = tuple(studies)
        self._reload()

    def action_compare(self) -> None:
        from orderlab.app.screens.compare import CompareScreen

        def chosen(name: str | None) -> None:
            if name == "":
                self.set_studies(self.studies[:1])
            elif name:
                self.set_studies((self.studies[0], name))

        self.app.push_screen(CompareScreen(self.studies[0], self.app.known_studies,
                                           comparing=self.studies[1:], split=self.split), chosen)

    def action_filter(self) -> None:
        self.action_view("runs")
        self.query_one(RunsView).focus_filter()

    def action_notes(self) -> None:
        """Every note, whole: three lines under the status cut the rest (two studies compared
        have many), and `orderlab analyze` has no comparison to print them from."""
        from orderlab.app.screens.help import NotesScreen
        # as of the last poll: the store is not polled while they are open (a live count in them
        # read as frozen beside no time)
        at = time.strftime("%H:%M:%S", time.localtime(self.last_ok)) if self.last_ok is not None else None
        self.app.push_screen(NotesScreen(list(self.notes), at))

    def action_refresh(self) -> None:
        self.app.source.recheck()
        self.poll_now()
