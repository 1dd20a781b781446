"""The first screen: every study in the store, updated live; enter opens one."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from orderlab.app.messages import PollFailed, StudiesLoaded
from orderlab.app.screens.polling import PollingScreen
# the studies list's columns and cells, shared with `orderlab studies`
from orderlab.tables import cell_len, cells, columns, fit_widths


class StudiesScreen(PollingScreen):
    AUTO_FOCUS = "#studies-table"
    BINDINGS = [
        # before the table's own enter (which would take the key first), and shown in the footer
        Binding("enter", "open", "open", priority=True),
        Binding("r", "refresh", "refresh"),
        # before the table's own (which scroll it sideways): the first or last study
        Binding("home", "cursor_to('first')", "first study", show=False, priority=True),
        Binding("end", "cursor_to('last')", "last study", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.studies: list[Any] = []
        self.problem: str | None = None
        self._order: list[str] = []
        self._natural: dict[str, int] = {}     # the widths the cells need (only ever grow: no jitter)
        self._widths: dict[str, int] = {}      # the widths shown: those, fitted to the screen
        self._uri: str | None = None
        self._focus: str | None = None         # a study to put the cursor on once listed: the one just left

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("connecting to the store…", id="store-line")
        yield Static("", id="problem")
        yield DataTable(id="studies-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "studies"
        self.query_one("#problem", Static).display = False
        self.query_one("#empty", Static).display = False
        # Paint first: the first poll imports mlflow, which would hold the GIL before the frame.
        self.call_after_refresh(self.poll_now)

    # -- polling -------------------------------------------------------------
    def start_fetch(self, seq: int) -> None:
        self._fetch(seq)

    @work(thread=True, exclusive=True, group="studies-poll", exit_on_error=False, description="list the studies")
    def _fetch(self, seq: int) -> None:
        source = self.app.source
        try:
            studies = source.list_studies()
        except Exception as e:  # noqa: BLE001 - shown to the user, retried
            self.post_message(self.failed(seq, e))
        else:
            self.post_message(StudiesLoaded(seq, studies, source.uri))

    @on(StudiesLoaded)
    def _loaded(self, msg: StudiesLoaded) -> None:
        if not self.poll_done(msg.seq, True):
            return
        self.problem = None
        self.studies = msg.studies
        self.app.known_studies = msg.studies
        self._fill(msg.uri)

    @on(PollFailed)
    def _failed(self, msg: PollFailed) -> None:
        if not self.poll_done(msg.seq, False, msg.backoff):
            return
        self.problem = msg.error
        self._fill(self.app.source.uri)

    def on_resize(self) -> None:
        if self._widths:
            self._fill(self._uri)

    def _fill(self, uri: str | None) -> None:
        self._uri = uri
        now = self.app.clock()
        table = self.query_one("#studies-table", DataTable)
        shown = columns(self.studies)
        rows = [cells(s, now) for s in self.studies]
        # Explicit column widths (see RunsView.show_data for why not DataTable's auto widths).
        for key, label in shown:
            self._natural[key] = max([self._natural.get(key, 0), len(label)] + [cell_len(r[key]) for r in rows])
        widths = fit_widths({k: self._natural[k] for k, _ in shown}, self.size.width, table.cell_padding)
        # the cursor stays on its study, not on its row: a new study sorted above it would otherwise
        # take its place (and Enter open that one); new columns (a longer name, a resize) clear it
        keep = table.cursor_row
        chosen = self._order[keep] if self._order and keep is not None and 0 <= keep < len(self._order) else None
        if widths != self._widths:
            self._widths = widths
            table.clear(columns=True)
            for key, label in shown:
                table.add_column(label, key=key, width=self._widths[key])
            self._order = []
        order = [s.name for s in self.studies]
        if order == self._order:
            for s, row in zip(self.studies, rows):
                for key, _ in shown:
                    if str(table.get_cell(s.name, key)) != str(row[key]):
                        table.update_cell(s.name, key, row[key])
        else:
            table.clear()
            for s, row in zip(self.studies, rows):
                table.add_row(*(row[k] for k, _ in shown), key=s.name)
            self._order = order
            if self.studies:
                row = order.index(chosen) if chosen in order else min(keep or 0, len(self.studies) - 1)
                table.move_cursor(row=row, animate=False)
        if self._focus in order:
            table.move_cursor(row=order.index(self._focus), animate=False)
        self._focus = None              # once: a study that is not listed (yet) does not pull the cursor later
        n_live = sum(1 for s in self.studies if s.n_running)
        line = Text(no_wrap=True, overflow="ellipsis")
        if n_live:
            line.append(f"● {n_live} training · ", style="bold green")
        if self.studies:
            from orderlab.errors import counted
            n_studies = len(self.studies)
            line.append(f"{n_studies} stud{'y' if n_studies == 1 else 'ies'}, "
                        f"{counted(sum(s.n_networks for s in self.studies), 'network')} · ")
        line.append(f"store {uri or '?'}", style="dim")
        self.query_one("#store-line", Static).update(line)
        problem = self.query_one("#problem", Static)
        problem.display = bool(self.problem)
        if self.problem:
            problem.update(Text(f"⚠ {self.problem} — {self.retrying()}"))
        empty = self.query_one("#empty", Static)
        empty.display = not self.studies and not self.problem
        if not self.studies and not self.problem:
            train = ("orderlab train --arch mlp --arch cnn --dataset digits --seeds 0-3 --study first"
                     + self.app.source.uri_option())
            empty.update(Text.assemble(
                ("No studies in this store yet.", "bold"), "\n\nStart one in another terminal, e.g.\n\n  ",
                (train, "cyan"), "\n\nIt appears here by itself. Or point at another store with ",
                ("--tracking-uri", "cyan"), "."))
        table.display = bool(self.studies)

    def focus_study(self, name: str) -> None:
        """Put the cursor on study ``name`` (the study screen just left), now or at the first listing:
        a study opened with `--study` had left the cursor on the first row, and Enter opened that."""
        self._focus = name
        if self._order:
            self._fill(self._uri)

    # -- actions -------------------------------------------------------------
    @on(DataTable.RowSelected, "#studies-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_study(str(event.row_key.value))

    def action_cursor_to(self, where: str) -> None:
        table = self.query_one("#studies-table", DataTable)
        if table.row_count:
            table.move_cursor(row=0 if where == "first" else table.row_count - 1)

    def action_open(self) -> None:
        table = self.query_one("#studies-table", DataTable)
        if self._order and table.cursor_row is not None and table.cursor_row < len(self._order):
            self.app.open_study(self._order[table.cursor_row])

    def action_refresh(self) -> None:
        self.poll_now()
