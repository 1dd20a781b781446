"""Agreement over training: TPA (solid) and independent TPA (dotted) per architecture, the gap
between them shaded, and the numbers at the chosen checkpoint."""
from __future__ import annotations

from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from orderlab.app.views.base import View
from orderlab.app.widgets.drawing import Drawing
from orderlab.app.widgets.render import Band, Series, arch_colour, fmt, line_chart, line_room, pack_segments


def legend_line(archs: list[str], width: int) -> Text:
    """Each architecture's colour, then what the lines mean, in lines of ``width`` broken between
    entries (comparing four architectures at 80 columns, one line cut "solid: TPA ·" short)."""
    entries = [Text.assemble(("━━ ", arch_colour(i)), (a, "bold " + arch_colour(i))) for i, a in enumerate(archs)]
    return pack_segments(entries + [Text("solid: TPA · dotted: independent TPA · shaded: the gap", style="dim")],
                         width, sep="  ")


class AgreementView(View):
    def compose(self):
        yield Static("", id="agreement-legend")
        yield Drawing(id="agreement-chart", placeholder="waiting for checkpoints…")
        yield Static("", id="agreement-table")

    def show_data(self, data: Any, changed: bool) -> None:
        chart = self.query_one("#agreement-chart", Drawing)
        if data.analysis is None:
            chart.set_draw(None, data.problem or "waiting for checkpoints…")
            self.query_one("#agreement-table", Static).update("")
            self.query_one("#agreement-legend", Static).update("")
            return
        if changed:
            self._legend(data)
            self._redraw(data)
        self._table(data)

    def _legend(self, data: Any) -> None:
        a = data.analysis
        # one network agrees with itself: its TPA is 1 by construction, not drawn
        names = [arch if a.curves[arch]["n"] > 1 else f"{arch}: 1 network, not drawn" for arch in a.archs]
        self.query_one("#agreement-legend", Static).update(legend_line(names, line_room(self)))

    def relayout(self) -> None:
        data = self.study_screen.data
        if data is not None and data.analysis is not None:
            self._legend(data)

    def show_checkpoint(self, result: Any) -> None:
        data = self.study_screen.data
        if data is not None and data.analysis is not None:
            self._redraw(data)
            self._table(data)

    def _redraw(self, data: Any) -> None:
        a = data.analysis
        series, bands = [], []
        for i, arch in enumerate(a.archs):
            c = a.curves[arch]
            if c["n"] == 1:                  # TPA 1 by construction (the legend says so)
                continue
            colour = arch_colour(i)
            # its own positions (another batch size records a checkpoint a step apart)
            epoch = np.asarray(data.stack.own_positions(data.stack.arch_index(arch))[0], float)
            bands.append(Band(epoch, np.asarray(c["tpa_independent"], float), np.asarray(c["tpa"], float), colour))
            series.append(Series(f"{arch} independent", epoch, np.asarray(c["tpa_independent"], float), colour,
                                 dotted=True))
            series.append(Series(f"{arch} TPA", epoch, np.asarray(c["tpa"], float), colour))
        epoch = np.asarray(data.stack.epoch, float)
        cp = self.study_screen.checkpoint
        # amid the networks' own positions, which the curves are drawn at (not the first network's)
        marker = float(np.mean(data.stack.span(cp))) if cp is not None and cp < len(epoch) else None

        def draw(w: int, h: int):
            return line_chart(series, w, h, bands=bands, marker_x=marker, x_label=data.stack.unit,
                              x_span=(data.stack.span(0)[0], data.stack.span(len(epoch) - 1)[1]))

        self.query_one("#agreement-chart", Drawing).set_draw(draw)

    def _table(self, data: Any) -> None:
        a = data.analysis
        cp = self.study_screen.checkpoint
        if cp is None or cp >= data.stack.n_checkpoints:
            cp = data.stack.n_checkpoints - 1
        t = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold dim")
        t.title = None
        for col in ("arch", "nets", "accuracy", "TPA", "independent", "gap", "Jaccard"):
            t.add_column(col, justify="left" if col == "arch" else "right")
        for i, arch in enumerate(a.archs):
            c = a.curves[arch]
            tp, ind = float(c["tpa"][cp]), float(c["tpa_independent"][cp])
            gap = tp - ind if np.isfinite(tp) and np.isfinite(ind) else float("nan")
            nets = str(c["n"]) + (" only" if c["n"] == 1 else "")
            if c["n"] == 1:         # TPA, Jaccard and independent TPA are 1 by construction: no agreement
                t.add_row(Text(arch, style=arch_colour(i)), nets, fmt(float(c["accuracy"][cp]), 3),
                          *[Text("—", style="dim")] * 4)
                continue
            t.add_row(Text(arch, style=arch_colour(i)), nets, fmt(float(c["accuracy"][cp]), 3), fmt(tp, 3),
                      fmt(ind, 3), Text(fmt(gap, 3), style="bold" if gap > 0.1 else ""),
                      fmt(float(c["jaccard"][cp]), 3))
        self.query_one("#agreement-table", Static).update(t)
