"""Pick a study to compare with (the heatmap then spans both), or stop comparing."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


ENTRY_WIDTH = 60          # the picker's lines at 80 columns: its box (70) less borders and padding


def _entry(name: str, about: str) -> str:
    """A picker line on one line of ``ENTRY_WIDTH``: a long name cut in its middle with "…", its
    start and end kept (they tell studies apart), rather than broken mid-word onto a second line."""
    room = max(12, ENTRY_WIDTH - len(about))
    if len(name) > room:
        head = (room - 1) // 2
        name = name[:head] + "…" + name[len(name) - (room - 1 - head):]
    return name + about


class CompareScreen(ModalScreen[str | None]):
    """Dismisses with a study name, "" to stop comparing, or None (cancel). Opens on the studies
    known so far and reads the store again at once (a study made since shows up within a moment)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, study: str, known: list[Any], comparing: tuple[str, ...] = (), split: str = "test") -> None:
        super().__init__()
        self.study = study
        self.comparing = comparing
        self.split = split
        self.choices = self._choices(known)

    def _choices(self, known: list[Any]) -> list[Any]:
        mine = next((s for s in known if s.name == self.study), None)
        # The same data is the same fingerprint of the split shown (dataset, subsets, data seed), not
        # the same dataset name: a digits test subset cannot be compared with all of digits' test
        # split. Studies whose other split differs (a smaller train subset) compare on this one, as
        # `tui --compare` and `orderlab analyze A B` do. Loading checks it again.
        from orderlab.store import split_fingerprints

        def same(s) -> bool:
            a = split_fingerprints(s.fingerprint).get(self.split)
            b = split_fingerprints(mine.fingerprint).get(self.split)
            return a == b if a and b else s.dataset == mine.dataset
        return [s for s in known if s.name != self.study and (mine is None or same(s))]

    def _options(self) -> list[Option]:
        from orderlab.errors import counted
        options = [Option(Text(_entry(s.name, f"  ({s.dataset}, {counted(s.n_runs, 'network')})"), no_wrap=True),
                          id=s.name) for s in self.choices]
        if self.comparing:
            options.append(Option("stop comparing", id=""))
        return options

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-box"):
            yield Static(f"Compare [b]{self.study}[/b] with another study of the same data", id="compare-title")
            options = self._options()
            yield OptionList(*options, id="compare-list")
            yield Static("no other study of this dataset in the store", id="compare-empty")
            yield Static("enter: choose · escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self._show()
        self._refetch()

    def _show(self) -> None:
        has = bool(self.choices or self.comparing)
        self.query_one("#compare-list", OptionList).display = has
        self.query_one("#compare-empty", Static).display = not has
        if has:
            self.query_one("#compare-list", OptionList).focus()

    @work(thread=True, exclusive=True, group="compare-studies", exit_on_error=False, description="list the studies")
    def _refetch(self) -> None:
        try:
            studies = self.app.source.list_studies()
        except Exception:  # noqa: BLE001 - the list already shown stays; the studies screen reports errors
            return
        self.app.call_from_thread(self._update, studies)

    def _update(self, studies: list[Any]) -> None:
        self.app.known_studies = studies
        fresh = self._choices(studies)
        if [s.name for s in fresh] == [s.name for s in self.choices]:
            return
        self.choices = fresh
        ol = self.query_one("#compare-list", OptionList)
        highlighted = ol.highlighted
        ol.clear_options()
        ol.add_options(self._options())
        if ol.option_count:
            ol.highlighted = 0 if highlighted is None else min(highlighted, ol.option_count - 1)
        self._show()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
