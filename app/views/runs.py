"""The runs table: every network of the study, sortable (click a header or press s) and
filterable (/), updated in place on each poll so the cursor stays where the user left it."""
from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.widgets import DataTable, Input, Static

from orderlab.app.views.base import View
from orderlab.tables import fit_columns, table_width
from orderlab.app.widgets.render import bar
from orderlab.errors import counted, epoch_text

STATUS_STYLE = {"FINISHED": "green", "RUNNING": "cyan", "FAILED": "red", "KILLED": "yellow", "STALE": "magenta",
                "SUPERSEDED": "dim", "PLANNED": "dim"}


def _cell_len(v: Any) -> int:
    return v.cell_len if isinstance(v, Text) else len(str(v))


def shown_status(r: Any) -> str:
    from orderlab.store import shown_status     # the store module (and numpy) load with the first run shown
    return shown_status(r)


def _acc(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


# Compared studies' networks are named "study:arch", as everywhere in the TUI; a long study name
# gives way (its start cut: "…-name:mlp", the arch and the end that tells studies apart kept)
# before the accuracies go off the screen; (narrowest width, weight).
SHRINKABLE = {"arch": (10, 1.0)}

# column key -> (label, cell, sort key)
COLUMNS: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = {
    # (compared studies: "study:arch", sorted by study, see RunsView.cell)
    "arch": ("arch", lambda r: r.arch, lambda r: (getattr(r, "study", ""), r.arch, r.seed)),
    "seed": ("seed", lambda r: str(r.seed), lambda r: r.seed),
    "status": ("status", lambda r: Text(shown_status(r).lower(), style=STATUS_STYLE.get(shown_status(r), "")),
               lambda r: shown_status(r)),
    "progress": ("progress", lambda r: f"{epoch_text(r.epoch)}/{epoch_text(r.epochs)}", lambda r: r.progress),
    "checkpoints": ("ckpts", lambda r: str(r.checkpoints), lambda r: r.checkpoints),
    "train_acc": ("train acc", lambda r: _acc(r.train_acc), lambda r: -1 if r.train_acc is None else r.train_acc),
    "test_acc": ("test acc", lambda r: _acc(r.test_acc), lambda r: -1 if r.test_acc is None else r.test_acc),
}


BAR = 8                               # the progress bar's cells

# after the status of a run whose record cannot be read (the warning over the views and the line
# under the table say why; "⚠ unreadable" took the test accuracies' room at 80 columns)
UNREADABLE_MARK = "⚠"


def matches(run: Any, text: str, unreadable: bool = False) -> bool:
    """Every word of the filter must appear in the run's arch/seed or status (or the word
    "unreadable", for a run whose record cannot be read), or be its study's whole name. Parts of
    the study name do not count: a study named after its architectures (``digits-mlp-cnn``, the
    default) would match "cnn" in every run."""
    hay = f"{run.arch}/s{run.seed} seed={run.seed} {shown_status(run)}".lower()
    if unreadable:
        hay += " unreadable record"
    study = str(getattr(run, "study", "") or "").lower()
    return all(w in hay or w == study for w in text.lower().split())


class RunsTable(DataTable, inherit_bindings=False):
    """The runs table, leaving Home and End to the screen (first and latest checkpoint, as in every
    other view; in a row-cursor table they only scrolled sideways): it moves with the arrows and pages."""
    BINDINGS = [b for b in DataTable.BINDINGS if getattr(b, "key", "") not in ("home", "end")]


class RunsView(View):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[Any] = []
        self.sort_key = "arch"
        self.sort_reverse = False
        self._columns: list[str] = []
        self._widths: dict[str, int] = {}
        self._natural: dict[str, int] = {}
        self._studies = 1                         # how many studies are shown (compared: 2)
        self._shown_studies = 1                   # ... when the columns were last built
        self._bar = True                          # a progress bar before the epochs
        self._order: list[str] = []
        self.unreadable: dict[str, Any] = {}      # run id -> source.RecordProblem

    def compose(self):
        yield Input(placeholder="filter: words in arch/seed/status, e.g. cnn running  (/)", id="runs-filter")
        yield RunsTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="run-detail")

    @property
    def table(self) -> DataTable:
        return self.query_one("#runs-table", DataTable)

    def cell(self, key: str, run: Any, natural: bool = False, bar_shown: bool | None = None) -> Any:
        """``key``'s cell of ``run`` as shown (``natural``: whole, to measure the width it needs;
        ``bar_shown``: with or without the progress bar, None: as the table is now)."""
        value = COLUMNS[key][1](run)
        if key == "arch" and self._studies > 1:
            name = f"{run.study}:{run.arch}"
            width = self._widths.get("arch", len(name))
            if not natural and len(name) > width:
                name = "…" + name[len(name) - width + 1:]
            value = Text(name, no_wrap=True)
        if key in ("progress", "checkpoints") and run.status == "PLANNED":
            return "—"                          # no run yet: nothing trained, its length unknown here
        if key == "progress" and (self._bar if bar_shown is None else bar_shown):
            value = f"{bar(run.progress, BAR)} {value}"
        if key == "status" and run.run_id in self.unreadable:
            value = value.copy()
            value.append(f" {UNREADABLE_MARK}", style="bold red")
        return value

    def show_data(self, data: Any, changed: bool) -> None:
        # every network of the study: those planned by a train or sweep that have no run yet too
        self.runs = list(data.runs) + list(getattr(data, "planned_rows", []))
        unreadable = {p.run_id: p for p in getattr(data, "unreadable", [])}
        if unreadable.keys() != self.unreadable.keys():
            self._natural = {}       # a "⚠ unreadable" mark came or went: the status column's width with it
        self.unreadable = unreadable
        self._studies = len(data.studies)
        self._fit()
        self.refill()

    def _fit(self) -> None:
        """Columns and their widths for the runs and the screen; the table is rebuilt only when
        they change."""
        cols = list(COLUMNS)
        screen = self.size.width or self.app.size.width
        # compared studies on a narrow screen, or a table too wide with it (a status marked
        # "⚠ unreadable" at 80 columns cut the test accuracies): the progress bar gives its room
        # measured with the bar: "bar + 60/60" under the wider "progress" header needs less than
        # the bar's cells more (counted so, a bar once dropped at 80 columns never came back)
        barred = self._measured(bar_shown=True)
        bar_shown = not (self._studies > 1 and screen < 100) and \
            table_width(barred.values(), self.table.cell_padding) <= screen
        if bar_shown != self._bar or self._studies != self._shown_studies:
            # (the widths of "study:arch" names or of bars are no measure for the others)
            self._bar, self._natural = bar_shown, {}
        natural = barred if self._bar else self._measured()      # (measured once where the bar stays)
        # Explicit widths: DataTable's auto widths are measured on idle, and a frame drawn before
        # that keeps the label's width in its cache (seen when the columns are rebuilt).
        # natural widths only ever grow (no jitter as runs come and go); then fitted to the screen
        self._natural = {k: max(natural[k], self._natural.get(k, 0)) for k in cols}
        widths = fit_columns(self._natural, screen, SHRINKABLE if self._studies > 1 else {}, self.table.cell_padding)
        if cols != self._columns or widths != self._widths or self._studies != self._shown_studies:
            self._widths, self._shown_studies = widths, self._studies
            self.table.clear(columns=True)
            for k in cols:
                self.table.add_column(self._label(k), key=k, width=self._widths[k])
            self._columns, self._order = cols, []

    def _measured(self, bar_shown: bool | None = None) -> dict[str, int]:
        """The cells each column needs, whole: its cells, and its header with room for the sort
        mark in every header (sorting elsewhere moves no column); ``bar_shown`` as in :meth:`cell`."""
        return {k: max([len(COLUMNS[k][0]) + 2] +
                       [_cell_len(self.cell(k, r, natural=True, bar_shown=bar_shown)) for r in self.runs])
                for k in COLUMNS}

    def on_resize(self) -> None:
        if self._columns:
            self._fit()
            self.refill()

    def _label(self, key: str) -> Text:
        """The column's header; the sorted one's ends in ▲ (ascending) or ▼: which column orders
        the rows stays on the screen, not only in a notice that fades."""
        label = Text(COLUMNS[key][0])
        if key == self.sort_key:
            label.append(" ▼" if self.sort_reverse else " ▲", style="bold")
        return label

    def _sorted(self) -> None:
        """Mark the sort column and reorder the rows after ``sort_key``/``sort_reverse`` changed:
        the columns are added anew (DataTable has no public way to relabel one), the row under the
        cursor stays where it was."""
        table, row = self.table, self.table.cursor_row
        table.clear(columns=True)
        for k in self._columns:
            table.add_column(self._label(k), key=k, width=self._widths[k])
        self._order = []
        self.refill()
        if self._order:
            table.move_cursor(row=min(row, len(self._order) - 1), animate=False)

    def visible_runs(self) -> list[Any]:
        text = self.query_one("#runs-filter", Input).value.strip()
        rows = [r for r in self.runs if not text or matches(r, text, r.run_id in self.unreadable)]
        return sorted(rows, key=COLUMNS[self.sort_key][2], reverse=self.sort_reverse)

    def refill(self) -> None:
        """Update cells in place when the rows are the same; rebuild when they changed."""
        rows = self.visible_runs()
        order = [r.run_id for r in rows]
        table = self.table
        if order == self._order:
            for r in rows:
                for k in self._columns:
                    value = self.cell(k, r)
                    if str(table.get_cell(r.run_id, k)) != str(value):
                        table.update_cell(r.run_id, k, value)
        else:
            keep = table.cursor_row
            table.clear()
            for r in rows:
                table.add_row(*(self.cell(k, r) for k in self._columns), key=r.run_id)
            self._order = order
            if rows:
                table.move_cursor(row=min(keep, len(rows) - 1), animate=False)
        self._detail()
        n, total = len(rows), len(self.runs)
        self.query_one("#runs-filter", Input).border_subtitle = f"{n} of {total}" if n != total else ""

    def _detail(self) -> None:
        detail = self.query_one("#run-detail", Static)
        table = self.table
        if not self._order or table.cursor_row is None or table.cursor_row >= len(self._order):
            detail.update("no run matches the filter" if self.runs else "")
            return
        run_id = self._order[table.cursor_row]
        r = next((x for x in self.runs if x.run_id == run_id), None)
        if r is None:
            detail.update("")
            return
        t = Text()
        # compared studies may both hold an mlp/s1: the line names the study too
        t.append(f"{r.study}:{r.name}" if self._studies > 1 else r.name, style="bold")
        if r.status == "PLANNED":
            t.append("  planned by a train or sweep, no run yet; if its command stopped, ", style="dim")
            t.append(f"`{r.resume}`", style="dim")
            t.append(" starts it", style="dim")
            detail.update(t)
            return
        t.append(f"  {shown_status(r).lower()}", style=STATUS_STYLE.get(shown_status(r), ""))
        # a learner's checkpoints are its stages (boosting rounds, trees …), not epochs
        t.append(f"  {'stage' if r.stages else 'epoch'} {epoch_text(r.epoch)} of {epoch_text(r.epochs)}, "
                 f"{counted(r.checkpoints, 'checkpoint')}")
        if r.error:
            t.append(f"  {r.error}", style="red")
        problem = self.unreadable.get(r.run_id)
        if problem is not None:
            t.append(f"  left out of the analysis: {problem.detail or problem.reason}", style="bold red")
        from orderlab.store import ENDED_EARLY
        if shown_status(r) == "SUPERSEDED":
            pass                # its error says which run trained its network anew; resuming it is refused
        elif r.status in ENDED_EARLY:
            t.append(f"  resume: orderlab train --resume {r.run_id}{self.app.source.uri_option()}", style="dim")
        detail.update(t)

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self) -> None:
        self._detail()

    @on(DataTable.HeaderSelected, "#runs-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._sorted()

    def action_sort(self) -> None:
        cols = self._columns or list(COLUMNS)
        i = cols.index(self.sort_key) if self.sort_key in cols else -1
        self.sort_key, self.sort_reverse = cols[(i + 1) % len(cols)], False
        self._sorted()      # its header's ▲ says so: a notice covered the run's line at 80×24

    def action_reverse(self) -> None:
        """The sort column the other way (a click on its header did; no key did)."""
        self.sort_reverse = not self.sort_reverse
        self._sorted()

    @on(Input.Changed, "#runs-filter")
    def _filter(self) -> None:
        self.refill()

    @on(Input.Submitted, "#runs-filter")
    def _submit(self) -> None:
        self.table.focus()

    def focus_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()
