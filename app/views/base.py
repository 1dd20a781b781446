"""What every view of a study gets from its screen."""
from __future__ import annotations

from typing import Any

from textual.containers import Vertical


class View(Vertical):
    """A pane of the study screen. The screen calls :meth:`show_data` after each poll that
    brought something (``changed`` says whether the stack changed) and :meth:`show_checkpoint`
    when the chosen checkpoint's results are ready."""

    def show_data(self, data: Any, changed: bool) -> None:
        pass

    def show_checkpoint(self, result: Any) -> None:
        pass

    def relayout(self) -> None:
        """Break the view's lines of text anew: the room they have changed (see line_room). Those
        of the checkpoint shown, by default; views whose lines come with the study's data say so."""
        result = getattr(self.study_screen, "cp_result", None)
        if result is not None:
            self.show_checkpoint(result)

    def key_applies(self, method: str) -> bool:
        """Whether this view's key for ``method`` does anything now (the footer offers it then)."""
        return True

    @property
    def study_screen(self) -> Any:
        return self.screen

    def on_resize(self) -> None:
        # A drawing widened to fit its content (Drawing.fit_content) holds its width; only its row
        # tells when the terminal narrows, and the view's width follows the row's.
        from orderlab.app.widgets.drawing import Drawing
        for d in self.query(Drawing):
            d.refit()
