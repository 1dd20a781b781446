"""Widgets that draw themselves to their size with :mod:`orderlab.app.widgets.render`."""
from __future__ import annotations

from typing import Callable

from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

Line = Text | list[Segment]
Draw = Callable[[int, int], list[Line]]
FIT_SHARE = 0.55        # the most of its row fit_content takes


class Drawing(Widget):
    """Draws ``draw(width, height)`` lines, redrawn on resize and on :meth:`set_draw`.

    Lines are turned into strips of segments once per drawing and size, and served through
    Textual's line API: a heatmap has thousands of differently coloured cells, and this path
    costs a fraction of rendering them as one styled text. With ``height: auto`` in the CSS the
    widget is as tall as the drawing at its width (for scrolling)."""

    DEFAULT_CSS = """
    Drawing { height: 1fr; }
    """

    def __init__(self, draw: Draw | None = None, *, placeholder: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._draw = draw
        self.placeholder = placeholder
        self.draws = 0                      # drawings turned into strips (tests, benchmark)
        self._need = 0                      # columns fit_content asked for
        self._css: tuple | None = None      # the stylesheet's min-width and max-width (fit_content)
        self._fit: tuple | None = None      # what fit_content set
        self._lines: tuple[tuple[int, int], list[Line]] | None = None
        self._strips: tuple[tuple[int, int], list[Strip]] | None = None

    def set_draw(self, draw: Draw | None, placeholder: str | None = None) -> None:
        self._draw = draw
        self._lines = self._strips = None
        if placeholder is not None:
            self.placeholder = placeholder
        self.refresh(layout=True)

    def fit_content(self, need: int) -> None:
        """At least ``need`` columns of content, past the stylesheet's ``min-width`` and
        ``max-width`` where they leave less (and back to them): a matrix of many architectures
        loses the values in its cells when squeezed to its share of the row. Not past ~half the
        row: on a narrow terminal the neighbour's share comes first."""
        self._need = need + self.styles.padding.left + self.styles.padding.right
        self._apply_fit()

    def _apply_fit(self) -> None:
        if self._css is None:       # before any inline rule: what the stylesheet says
            self._css = (self.styles.min_width, self.styles.max_width)
        row = self.parent.size.width if isinstance(self.parent, Widget) and self.parent.size.width else \
            self.app.size.width
        need = self._need if self._need <= row * FIT_SHARE else 0
        lo, hi = self._css
        fit = (max(need, int(lo.value)) if lo is not None else need or None,
               max(need, int(hi.value)) if hi is not None else None)
        if fit != self._fit:
            self.styles.min_width, self.styles.max_width = fit
            self._fit = fit

    def lines(self, width: int, height: int) -> list[Line]:
        """The drawing at this size (computed once per size and per :meth:`set_draw`)."""
        if self._lines is not None and self._lines[0] == (width, height):
            return self._lines[1]
        if self._draw is None:
            out = [Text(self.placeholder, style="dim italic")] if self.placeholder else []
        else:
            out = self._draw(width, height)
        self._lines = ((width, height), out)
        return out

    def strips(self, width: int, height: int) -> list[Strip]:
        if self._strips is not None and self._strips[0] == (width, height):
            return self._strips[1]
        console = self.app.console
        out = []
        for line in self.lines(width, height)[:height]:
            # A line is a rich Text, or already a list of segments (the heatmap's cells).
            segments = line if isinstance(line, list) else list(line.render(console, end=""))
            out.append(Strip(segments).adjust_cell_length(width))
        self._strips = ((width, height), out)
        self.draws += 1
        return out

    def render_line(self, y: int) -> Strip:
        w, h = self.content_size.width, self.content_size.height
        strips = self.strips(w, h) if w > 0 and h > 0 else []
        return strips[y] if 0 <= y < len(strips) else Strip.blank(w)

    def get_content_height(self, container, viewport, width: int) -> int:
        # Used when the CSS asks for ``height: auto``: the drawing decides its height.
        return max(1, len(self.lines(width, max(1, viewport.height))))

    def refit(self) -> None:
        """Apply :meth:`fit_content`'s limit again (its row's width changed)."""
        if self._need:
            self._apply_fit()

    def on_resize(self) -> None:
        self._strips = None
        self.refit()
        self.refresh()

