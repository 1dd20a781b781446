"""Learning order: Spearman correlation of accessibility and overlap of the first examples learned,
within (split halves) and across architectures; and accessibility of one group against another."""
from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Static

from orderlab.app.views.base import View
from orderlab.app.widgets.drawing import Drawing
from orderlab.app.widgets.render import (arch_colour, fit_lines, fmt, legend, line_room, matrix, matrix_width,
                                         pack_segments, scatter)


class OrderView(View):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pair = 0
        self._data: Any = None
        self._pairs_key = False             # whether `o` had another pair to go to, last said

    def compose(self):
        with Horizontal(id="order-row"):
            yield Drawing(id="order-matrix", placeholder="waiting for checkpoints…")
            yield Drawing(id="order-scatter")
        yield Static("", id="order-status")

    def pairs(self) -> list[tuple[str, str]]:
        a = self._data.analysis.archs
        return [(x, y) for i, x in enumerate(a) for y in a[i + 1:]] or [(a[0], a[0])]

    def show_data(self, data: Any, changed: bool) -> None:
        self._data = data
        self.set_class(data.analysis is None, "-empty")      # (as in the heatmap view)
        if data.analysis is None:
            self.query_one("#order-matrix", Drawing).set_draw(None, "")
            self.query_one("#order-scatter", Drawing).set_draw(None, "")
            self.query_one("#order-status", Static).update(data.problem or "waiting for checkpoints…")
            return
        if changed:
            self._redraw()
            # architectures come and go in a live study; the footer is redrawn only when that
            # changes `o` (each poll's redraw left it blank for a moment)
            if self.key_applies("action_next_pair") != self._pairs_key:
                self._pairs_key = not self._pairs_key
                self.screen.refresh_bindings()

    def relayout(self) -> None:
        if self._data is not None and self._data.analysis is not None:
            self._redraw()

    def key_applies(self, method: str) -> bool:
        # two architectures are one pair: `o` had nothing to go to, yet the footer offered it
        return method != "action_next_pair" or (
            self._data is not None and self._data.analysis is not None and len(self.pairs()) > 1)

    def action_next_pair(self) -> None:
        if self._data is not None and self._data.analysis is not None:
            self.pair = (self.pair + 1) % len(self.pairs())
            self._redraw()

    def _redraw(self) -> None:
        data = self._data
        an = data.analysis
        order = an.order
        archs = list(order["archs"])
        colours = [arch_colour(an.archs.index(a)) if a in an.archs else "" for a in archs]
        q = order.get("q", 0.2)

        def both(w: int, rows: int | None) -> tuple[list, str]:
            sp, note = matrix(order["spearman"], archs, archs, w, lo=0.0, hi=1.0, row_colours=colours, max_rows=rows)
            ov, _ = matrix(order["overlap"], archs, archs, w, lo=0.0, hi=1.0, row_colours=colours, max_rows=rows)
            return [Text("Spearman ρ, accessibility", style="bold"), *sp,
                    Text(f"overlap, first {q:.0%} learned", style="bold"), *ov], note

        def draw_matrix(w: int, h: int) -> list:
            # Where the height does not hold both matrices and their legend (four architectures
            # compared at 80x24, under notes), the notes give way, then the legend, then rows, and
            # the matrices say how much they show (rows were dropped without a word).
            body, _ = both(w, None)
            tail = [legend(w, label="ρ / overlap"), Text("diagonal: two halves of", style="dim"),
                    Text("one arch (· one network);", style="dim"), Text(f"chance overlap {q:.2f}", style="dim")]
            if len(body) <= h:
                return body + tail[:h - len(body)]
            rows, note = len(archs), ""
            while rows > 1 and len(body) + 1 > h:
                rows -= 1
                body, note = both(w, rows)
            return body + [Text(note if len(note) <= w else note.split(";")[0], style="dim italic")]

        drawing = self.query_one("#order-matrix", Drawing)
        drawing.fit_content(matrix_width(archs, archs))
        drawing.set_draw(draw_matrix)
        pairs = self.pairs()
        self.pair %= len(pairs)
        x_arch, y_arch = pairs[self.pair]
        if x_arch == y_arch:
            # One architecture: its accessibility in one half of the networks against the other.
            acc = an.accessibility[x_arch]
            halves = getattr(an, "halves", None)
            xs = ys = acc
            title = f"{x_arch}: one network, no two halves to compare (each dot is an example against itself)"
            if halves is not None:
                xs, ys = halves
                title = f"{x_arch}: accessibility in one half of the networks against the other"
        else:
            xs, ys = an.accessibility[x_arch], an.accessibility[y_arch]
            title = f"accessibility: {x_arch} (x) against {y_arch} (y)"
        i, j = archs.index(x_arch), archs.index(y_arch)
        rho = float(order["spearman"][i, j])
        colour = arch_colour(an.archs.index(y_arch))

        def draw_scatter(w: int, h: int) -> list[Text]:
            # two lines where one does not hold it (two studies' names, compared, at 80 columns)
            head = list(fit_lines(Text(title, style="bold"), w, 2).split("\n"))
            return head + scatter(np.asarray(xs, float), np.asarray(ys, float), w, h - len(head), colour=colour,
                                  x_label=x_arch)

        self.query_one("#order-scatter", Drawing).set_draw(draw_scatter)
        # phrases kept whole: at 80 columns, compared, "o: next pair" was broken over two lines
        phrases = [Text(f"{x_arch} vs {y_arch}: ρ = {fmt(rho)}", style="bold"),
                   Text("a dot per example; axes: accessibility; dotted: equal", style="dim")]
        if len(pairs) > 1:
            phrases.append(Text(f"o: next pair ({self.pair + 1}/{len(pairs)})", style="dim"))
        s = pack_segments(phrases, line_room(self))
        if an.tied:
            # the first q learned are then a draw among the tied: the overlap says nothing there
            names = ", ".join(f"{a} {v:.0%}" for a, v in an.tied.items())
            s.append(f"\nties: over {q:.0%} are right at every trained checkpoint ({names}): the first-{q:.0%} "
                     f"overlap draws among them, near {q:.2f} by construction; ρ still ranks the rest "
                     f"(`orderlab analyze` says how to separate them)", style="yellow")
        self.query_one("#order-status", Static).update(s)
