"""Widgets that draw themselves to their size with :mod:`orderlab.app.widgets.render`."""
from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.widget import Widget

Draw = Callable[[int, int], list[Text]]


class Drawing(Widget):
    """Draws ``draw(width, height)`` lines, redrawn on resize and on :meth:`set_draw`.

    With ``auto_height`` the widget is as tall as the drawing at its width (for scrolling)."""

    DEFAULT_CSS = """
    Drawing { height: 1fr; }
    """

    def __init__(self, draw: Draw | None = None, *, placeholder: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._draw = draw
        self.placeholder = placeholder
        self.draws = 0                      # redraws (tests)
        self._cache: tuple[tuple[int, int], list[Text]] | None = None

    def set_draw(self, draw: Draw | None, placeholder: str | None = None) -> None:
        self._draw = draw
        self._cache = None
        if placeholder is not None:
            self.placeholder = placeholder
        self.refresh(layout=True)

    def lines(self, width: int, height: int) -> list[Text]:
        """The drawing at this size (computed once per size and per :meth:`set_draw`)."""
        if self._cache is not None and self._cache[0] == (width, height):
            return self._cache[1]
        if self._draw is None:
            out = [Text(self.placeholder, style="dim italic")] if self.placeholder else []
        else:
            out = self._draw(width, height)
        self._cache = ((width, height), out)
        return out

    def render(self) -> Text:
        self.draws += 1
        w, h = self.content_size.width, self.content_size.height
        if w <= 0 or h <= 0:
            return Text("")
        out = [line.copy() for line in self.lines(w, h)[:h]]
        for line in out:
            if line.cell_len > w:
                line.truncate(w)
        return Text("\n").join(out) if out else Text("")

    def get_content_height(self, container, viewport, width: int) -> int:
        # Used when the CSS asks for ``height: auto``: the drawing decides its height.
        return max(1, len(self.lines(width, max(1, viewport.height))))
