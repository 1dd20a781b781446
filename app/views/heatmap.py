"""Agreement matrices at the chosen checkpoint: architecture x architecture (mean pairwise TPA;
diagonal = distinct pairs within an architecture) and network x network. Step with [ and ],
play with space: the blocks of one architecture light up as training goes on."""
from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Static

from orderlab.app.views.base import View
from orderlab.app.widgets.drawing import Drawing
from orderlab.app.widgets.render import arch_colour, fit_lines, legend, line_room, matrix, matrix_width
from orderlab.errors import counted


def checkpoint_line(screen: Any, result: Any) -> Text:
    """The checkpoint shown, whether it plays or follows the latest, and the keys that move it, in one
    line of the terminal's width: the keys give way first (the footer has them too), then the state
    (at 80 columns, playing, "space play" was wrapped onto a line of its own, pushing the view down)."""
    data = screen.data
    n = data.stack.n_checkpoints if data is not None and data.stack is not None else 0
    t = Text()
    if result is None or n == 0:
        return Text("computing…", style="dim")
    t.append(f"checkpoint {result.checkpoint + 1}/{n}", style="bold")
    t.append(f" · {result.at}")
    room = line_room(screen)
    state = (("  ▶ playing (space: pause)", "bold green") if screen.playing
             else ("  following the latest", "dim") if screen.following else None)
    said = state is not None and t.cell_len + len(state[0]) <= room
    if said:
        t.append(*state)
    # while playing, the state says space pauses (where it had room)
    hint = "   [ ] step" if screen.playing and said else \
        f"   [ ] step · space {'pause' if screen.playing else 'play'}"
    if t.cell_len + len(hint) <= room:
        t.append(hint, style="dim")
    return t


def colour_range(*matrices, stretch: bool = True) -> tuple[float, float]:
    """0..1, or stretched over the values shown (late in training every pair agrees above 0.9,
    and the blocks of one architecture only show on a stretched scale)."""
    if not stretch:
        return 0.0, 1.0
    vals = np.concatenate([np.asarray(m, float).ravel() for m in matrices])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 1.0
    lo = np.floor(float(vals.min()) * 20) / 20
    hi = np.ceil(float(vals.max()) * 20) / 20
    return (lo, hi) if hi - lo >= 0.05 - 1e-9 else (max(0.0, hi - 0.05), hi)


class HeatmapView(View):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stretch = True
        self._result: Any = None

    def action_scale(self) -> None:
        self.stretch = not self.stretch
        if self._result is not None:
            self.show_checkpoint(self._result)

    def compose(self):
        with Horizontal(id="heat-row"):
            yield Drawing(id="heat-arch", placeholder="waiting for checkpoints…")
            yield Drawing(id="heat-net")
        yield Static("", id="heat-status")

    def show_data(self, data: Any, changed: bool) -> None:
        # nothing to show: the charts give way and the line saying why comes to the top, as in the
        # other views (under 15 empty rows it was missed)
        self.set_class(data.stack is None, "-empty")
        if data.stack is None:
            self.query_one("#heat-arch", Drawing).set_draw(None, "")
            self.query_one("#heat-net", Drawing).set_draw(None, "")
            self.query_one("#heat-status", Static).update(data.problem or "waiting for checkpoints…")

    def show_checkpoint(self, result: Any) -> None:
        self._result = result
        archs = result.arch_names
        colours = {a: arch_colour(i) for i, a in enumerate(archs)}
        n = len(result.net_labels)
        off = np.asarray(result.net_matrix, float)[~np.eye(n, dtype=bool)] if n > 1 else np.array([])
        lo, hi = colour_range(result.arch_matrix, off, stretch=self.stretch)

        def draw_arch(w: int, h: int) -> list[Text]:
            lines, _ = matrix(result.arch_matrix, archs, archs, w, lo=lo, hi=hi,
                              row_colours=[colours[a] for a in archs])
            out = [Text("architectures · mean TPA", style="bold")] + lines + [Text("")]
            out.append(legend(w, lo, hi))
            out.append(Text("colours stretched (z: 0 to 1)" if self.stretch else "colours 0 to 1 (z: stretch)",
                            style="dim"))
            out.append(Text("diagonal: pairs within", style="dim"))
            out.append(Text("one architecture", style="dim"))
            return out

        labels = result.net_labels

        def draw_net(w: int, h: int) -> list[Text]:
            lines, note = matrix(result.net_matrix, labels, None, w, max_rows=max(1, h - 3), lo=lo, hi=hi,
                                 row_colours=[colours.get(a, "") for a in result.net_arch])
            out = [Text(f"{counted(len(labels), 'network')} · TPA of each pair", style="bold")] + lines
            if note:
                out.append(fit_lines(Text(note, style="dim italic"), w, 1))
            return out

        arch_drawing = self.query_one("#heat-arch", Drawing)
        arch_drawing.fit_content(matrix_width(archs, archs))
        arch_drawing.set_draw(draw_arch)
        self.query_one("#heat-net", Drawing).set_draw(draw_net)
        self.query_one("#heat-status", Static).update(checkpoint_line(self.study_screen, result))
