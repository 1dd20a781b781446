"""The help screen (?): what each view shows and every key."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown, Static

HELP = """\
# orderlab

Do networks learn the same examples in the same order? Every view follows the store live.

## Views (keys 1–6 or click a tab)

| key | view | shows |
|---|---|---|
| 1 | Runs | every network: architecture, seed, status, progress, accuracies; `/` filters, `s` or a click on a header sorts, `S` reverses (▲/▼ marks the column) |
| 2 | Agreement | TPA (solid) and independent TPA (dotted) over training per architecture; the gap is shaded |
| 3 | Heatmap | architecture × architecture and network × network TPA at the chosen checkpoint; `z` switches the colours between a scale stretched over the values shown and 0 to 1 |
| 4 | Histogram | how many networks get each example right, against independent networks of the same accuracy |
| 5 | Order | Spearman ρ of accessibility and overlap of the first examples learned; `o` picks a pair |
| 6 | Examples | easiest or hardest examples (`e`), per class (`k`), with accessibility and learned-at epoch (a learner's: stage) |

## Keys

| key | action |
|---|---|
| `[` `]` | previous / next checkpoint |
| `home` `end` | first / latest checkpoint (`end` follows new checkpoints) |
| `space` | play the checkpoints as an animation / pause |
| `t` | train or test split |
| `a` | which networks the analysis takes: those with the most checkpoints (a running network that has just started waits until it catches up; finished ones are always taken), every network on the checkpoints all share, or finished ones only |
| `c` | compare with another study of the same data (the heatmap spans both) |
| `r` | poll the store now, reading every record anew (a file damaged since it was read shows) |
| `n` | every note about the study, whole (under the status they take three lines at most, one under 24 rows) |
| `escape` | from a study, back to the list of studies (in the runs filter: leaves the filter first); here, closes this help |
| `ctrl+p` | command palette (open a study, switch view, theme …) |
| `s` `S` `/` | in Runs: sort by the next column, reverse it, filter |
| `z` | in Heatmap: colour scale |
| `o` | in Order: next pair |
| `e` `k` | in Examples: easy or hard, class |
| `?` | this help (`?`, `escape` or `q` close it) · `q` quit |
| mouse drag, `ctrl+c` | select text (a resume command, a record's path) and copy it whole, though the screen folds it (through the terminal: OSC 52) |

TPA = mean over examples of "all networks right" / mean accuracy; independent TPA is what
networks erring independently would give. Accessibility = the fraction of (network, trained
checkpoint) pairs that get an example right; learned-at = the first epoch (a learner's: stage) from which it stays right.
Failed, killed and stale runs stay in the runs table but are left out of the analysis.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
        yield Footer()      # its own: the screen's under it offered that screen's keys

    def action_close(self) -> None:
        self.dismiss(None)


class NotesScreen(ModalScreen[None]):
    """Every note of the study screen, whole and wrapped, one paragraph each."""
    BINDINGS = [Binding("escape,n,q", "close", "close")]

    def __init__(self, notes: list[str], at: str | None = None) -> None:
        super().__init__()
        self.notes = notes
        self.at = at            # the time of the poll they come from: they stand still while open

    def compose(self) -> ComposeResult:
        from rich.text import Text
        with VerticalScroll(id="help-box"):
            when = f" as of {self.at}" if self.at else ""
            yield Static(Text(f"notes{when} (escape or n: close)", style="bold"))
            body = "\n\n".join(f"• {n}" for n in self.notes) if self.notes else "no notes about this study"
            yield Static(Text(body), id="notes-text")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
