"""The studies list as `orderlab studies` and the TUI's first screen both show it: its columns, its
cells and their widths fitted to a screen (no NumPy, no Textual: the TUI imports it before the
first paint, and the CLI prints it without the TUI)."""
from __future__ import annotations

import time
from typing import Any

from rich.text import Text

# Labels short enough that the table fits 80 columns, the "plan" column included, with the names at
# their narrowest (SHRINKABLE): "live" counts the networks training, as the study's "● live" says.
COLUMNS = [("study", "study"), ("dataset", "dataset"), ("archs", "archs"), ("running", "live"),
           ("finished", "done"), ("failed", "failed"), ("stale", "stale"), ("planned", "plan"),
           ("checkpoints", "ckpts"), ("updated", "updated")]

# The columns that give way when the table is wider than the screen, (narrowest width, weight): the
# counts stay in view, long names end in "…" (the study's own screen shows them whole). The study
# keeps twice the share of the others: it is what the user picks by.
SHRINKABLE = {"study": (10, 2.0), "dataset": (7, 1.0), "archs": (5, 1.0)}


def table_width(widths, padding: int = 1, rule: int = 0, edges: int = 2) -> int:
    """The cells a table of columns ``widths`` takes: each column has ``padding`` on both sides and
    ``rule`` cells of border, and the table ``edges`` more. The defaults are the TUI's DataTable,
    which keeps two cells for its scroll bar; a bordered rich Table is ``rule=1, edges=1``."""
    widths = list(widths)
    return sum(widths) + (2 * padding + rule) * len(widths) + edges


def fit_columns(widths: dict[str, int], screen: int, shrinkable: dict[str, tuple[int, float]],
                padding: int = 1, rule: int = 0, edges: int = 2) -> dict[str, int]:
    """Column widths whose table (:func:`table_width`) fits ``screen`` cells, narrowing the widest
    of the ``shrinkable`` columns (name -> (narrowest width, weight): a column of twice the weight
    keeps twice the share) a cell at a time; the others keep their widths. Narrower than that, the
    table scrolls sideways (the TUI) or rich cuts it (the CLI)."""
    out = dict(widths)
    excess = table_width(out.values(), padding, rule, edges) - screen
    while excess > 0:
        key = max((k for k, (least, _) in shrinkable.items() if k in out and out[k] > least),
                  key=lambda k: out[k] / shrinkable[k][1], default=None)
        if key is None:
            break
        out[key] -= 1
        excess -= 1
    return out


def fit_widths(widths: dict[str, int], screen: int, padding: int = 1) -> dict[str, int]:
    """The studies table's column widths for ``screen`` cells (:func:`fit_columns`)."""
    return fit_columns(widths, screen, SHRINKABLE, padding)


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


def columns(studies: list[Any]) -> list[tuple[str, str]]:
    """The columns shown: "planned" only while some study has networks planned with no run (a
    column of zeros would take the room the names need at 80 columns)."""
    return [c for c in COLUMNS if c[0] != "planned" or any(s.n_planned for s in studies)]


def cells(s: Any, now: float) -> dict[str, Any]:
    # Stale (left RUNNING by a dead process, resumable) apart from failed or killed.
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


def cell_len(v: Any) -> int:
    return v.cell_len if isinstance(v, Text) else len(str(v))
