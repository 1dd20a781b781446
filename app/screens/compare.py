"""Pick a study to compare with (the heatmap then spans both), or stop comparing."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class CompareScreen(ModalScreen[str | None]):
    """Dismisses with a study name, "" to stop comparing, or None (cancel)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, study: str, known: list[Any], comparing: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.study = study
        mine = next((s for s in known if s.name == study), None)
        # Studies of the same dataset can be compared; the fingerprint check happens on load.
        self.choices = [s for s in known if s.name != study and (mine is None or s.dataset == mine.dataset)]
        self.comparing = comparing

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-box"):
            yield Static(f"Compare [b]{self.study}[/b] with another study of the same data", id="compare-title")
            options = [Option(f"{s.name}  ({s.dataset}, {s.n_runs} networks)", id=s.name) for s in self.choices]
            if self.comparing:
                options.append(Option("stop comparing", id=""))
            if options:
                yield OptionList(*options, id="compare-list")
            else:
                yield Static("no other study of this dataset in the store", id="compare-empty")
            yield Static("enter: choose · escape: cancel", classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
