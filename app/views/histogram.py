"""The correct-count histogram at the chosen checkpoint (how many networks get each example
right) against the histogram independent networks of the same accuracies would give."""
from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.widgets import Static

from orderlab.app.views.base import View
from orderlab.app.views.heatmap import checkpoint_line
from orderlab.app.widgets.drawing import Drawing
from orderlab.app.widgets.render import fmt, histogram, line_room, pack_segments

OBSERVED, INDEPENDENT = "#4fc3f7", "#ffb74d"


class HistogramView(View):
    def compose(self):
        yield Static("", id="hist-legend")
        yield Drawing(id="hist-chart", placeholder="waiting for checkpoints…")
        yield Static("", id="hist-status")

    def show_data(self, data: Any, changed: bool) -> None:
        if data.stack is None:
            self.query_one("#hist-chart", Drawing).set_draw(None, data.problem or "waiting for checkpoints…")
            self.query_one("#hist-legend", Static).update("")
            self.query_one("#hist-status", Static).update("")

    def show_checkpoint(self, result: Any) -> None:
        total = max(1.0, float(np.sum(result.observed)))
        obs = np.asarray(result.observed, float) / total
        ind = np.asarray(result.independent, float) / total

        def draw(w: int, h: int) -> list[Text]:
            return histogram(obs, ind, w, h, colours=(OBSERVED, INDEPENDENT))

        self.query_one("#hist-chart", Drawing).set_draw(draw)
        t = Text()
        t.append("█ observed", style=OBSERVED)
        t.append("  ")
        t.append("█ if errors were independent", style=INDEPENDENT)
        t.append("  x: networks right, y: share", style="dim")
        self.query_one("#hist-legend", Static).update(t)
        b = result.bimodality
        s = checkpoint_line(self.study_screen, result)
        if len(obs) <= 2:       # one network: its two bars are its accuracy, not an agreement
            s.append("\none network: its bars are its errors and its hits; no agreement to measure")
        else:
            # each measure whole on its line (at 80 columns the line broke inside Sarle's)
            s.append("\n")
            s.append_text(pack_segments([Text(f"distance from independence {fmt(b.get('tv'))} (TV)"),
                                         Text(f"Sarle {fmt(b.get('sarle'))} (>0.56 leans bimodal; skewed scores high too)")],
                                        line_room(self)))
        self.query_one("#hist-status", Static).update(s)
