"""The first screen: every study in the store, updated live; enter opens one."""
from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from orderlab.app.messages import PollFailed, StudiesLoaded
from orderlab.app.screens.polling import PollingScreen
from orderlab.app.widgets.columns import fit_columns

# Labels short enough that the table fits 80 columns, the "plan" column included, with the names at
# their narrowest (SHRINKABLE): "live" counts the networks training, as the study's "● live" says.
COLUMNS = [("study", "study"), ("dataset", "dataset"), ("archs", "archs"), ("running", "live"),
           ("finished", "done"), ("failed", "failed"), ("stale", "stale"), ("planned", "plan"),
           ("checkpoints", "ckpts"), ("updated", "updated")]


def ago(t: float, now: float) -> str:
    """How long ago, coarse enough to stay still between polls, in 8 characters at most (the table
    fits 80 columns): "<1m ago", "5m ago", "2.5h ago", "13h ago", "6d ago", then the month."""
    d = max(0.0, now - t)
    if d < 60:
        return "<1m ago"
    if d < 3600:
        return f"{d // 60:.0f}m ago"
    if d < 36000:
        return f"{d / 3600:.1f}h ago"
    if d < 86400:
        return f"{d // 3600:.0f}h ago"
    if d < 100 * 86400:
        return f"{d // 86400:.0f}d ago"
    return time.strftime("%Y-%m", time.localtime(t))


def _cell_len(v: Any) -> int:
    return v.cell_len if isinstance(v, Text) else len(str(v))


# The columns that give way when the table is wider than the screen, (narrowest width, weight): the
# counts stay in view, long names end in "…" (the study's own screen shows them whole). The study
# keeps twice the share of the others: it is what the user picks by.
SHRINKABLE = {"study": (10, 2.0), "dataset": (7, 1.0), "archs": (5, 1.0)}


def fit_widths(widths: dict[str, int], screen: int, padding: int = 1) -> dict[str, int]:
    """The studies table's column widths for ``screen`` cells (:func:`columns.fit_columns`)."""
    return fit_columns(widths, screen, SHRINKABLE, padding)


def columns(studies: list[Any]) -> list[tuple[str, str]]:
    """The columns shown: "planned" only while some study has networks planned with no run (a
    column of zeros would take the room the names need at 80 columns)."""
    return [c for c in COLUMNS if c[0] != "planned" or any(s.n_planned for s in studies)]


def cells(s: Any, now: float) -> dict[str, Any]:
    # Stale (left RUNNING by a dead process, resumable) apart from failed or killed, as `orderlab studies`.
    return {"study": Text(s.name, style="bold", no_wrap=True, overflow="ellipsis"),
            "dataset": Text(s.dataset, no_wrap=True, overflow="ellipsis"),
            "archs": Text(", ".join(s.archs), no_wrap=True, overflow="ellipsis"),
            "running": Text(str(s.n_running), style="cyan" if s.n_running else "dim"),
            "finished": Text(str(s.n_finished), style="green" if s.n_finished else "dim"),
            "failed": Text(str(s.n_failed), style="red" if s.n_failed else "dim"),
            "stale": Text(str(s.n_stale), style="magenta" if s.n_stale else "dim"),
            # planned by a train or sweep, no run yet: to come, or `sweep --resume` starts them
            "planned": Text(str(s.n_planned), style="yellow" if s.n_planned else "dim"),
            "checkpoints": str(s.checkpoints), "updated": ago(s.last_update, now)}


class StudiesScreen(PollingScreen):
    AUTO_FOCUS = "#studies-table"
    BINDINGS = [
        Binding("enter", "open", "open", show=False),
        Binding("r", "refresh", "refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.studies: list[Any] = []
        self.problem: str | None = None
        self._order: list[str] = []
        self._natural: dict[str, int] = {}     # the widths the cells need (only ever grow: no jitter)
        self._widths: dict[str, int] = {}      # the widths shown: those, fitted to the screen
        self._uri: str | None = None

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
            self._natural[key] = max([self._natural.get(key, 0), len(label)] + [_cell_len(r[key]) for r in rows])
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

    # -- actions -------------------------------------------------------------
    @on(DataTable.RowSelected, "#studies-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_study(str(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one("#studies-table", DataTable)
        if self._order and table.cursor_row is not None and table.cursor_row < len(self._order):
            self.app.open_study(self._order[table.cursor_row])

    def action_refresh(self) -> None:
        self.poll_now()
