"""`orderlab tui`: the Textual application.

Imports here stay light (Textual only); the store, mlflow, NumPy and the analysis load in the
first background worker, so the window paints before they are ready.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from orderlab.app.screens.studies import StudiesScreen


class OrderlabApp(App):
    """The TUI. ``source`` is the data adapter (:class:`orderlab.app.source.StudySource`);
    ``clock`` gives the time shown on screen (tests pass a fixed one)."""

    CSS_PATH = "orderlab.tcss"
    TITLE = "orderlab"
    BINDINGS = [
        Binding("q", "quit", "quit", show=False),      # in the help screen; the footer has no room at 80
        Binding("question_mark", "help", "help", key_display="?"),
    ]

    def __init__(self, tracking_uri: str | None = None, study: str | None = None, *, refresh: float = 2.0,
                 split: str = "test", compare: str | None = None, source: Any = None,
                 clock: Callable[[], float] | None = None, play_interval: float = 0.6,
                 exit_on_signal: bool = False) -> None:
        super().__init__()
        self.exit_on_signal = exit_on_signal
        if source is None:
            from orderlab.app.source import StudySource
            source = StudySource(tracking_uri)
        self.source = source
        self.refresh_s = max(0.05, float(refresh))
        self.split = split
        self.start_study = study
        self.start_compare = compare
        self.clock = clock or time.time
        self.play_interval = play_interval          # seconds per checkpoint when playing
        self.known_studies: list[Any] = []

    def get_default_screen(self) -> Screen:
        return StudiesScreen()

    TERMINATED = 143      # the exit code after SIGTERM (128 + 15), as the other commands give

    def exit_on_sigterm(self) -> None:
        """SIGTERM (`timeout`, `kill`) ends the app through its own event loop. Raised as
        KeyboardInterrupt (as the CLI does for training) it could land inside the loop's machinery
        and be lost, leaving the app running."""
        import asyncio
        import signal
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.exit, None, self.TERMINATED)
        except (NotImplementedError, RuntimeError, ValueError):
            pass      # no signals here (another thread, or a platform without them)

    def on_mount(self) -> None:
        if self.exit_on_signal:
            self.exit_on_sigterm()
        if self.start_study:
            studies = (self.start_study,) + ((self.start_compare,) if self.start_compare else ())
            self.open_study(studies)

    def open_study(self, study: str | tuple[str, ...]) -> None:
        from orderlab.app.screens.study import StudyScreen
        studies = (study,) if isinstance(study, str) else tuple(study)
        self.push_screen(StudyScreen(studies, split=self.split))

    def action_help(self) -> None:
        from orderlab.app.screens.help import HelpScreen
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from orderlab.app.screens.study import VIEWS, StudyScreen
        from orderlab.errors import counted
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "What each view shows and every key", self.action_help)
        for s in self.known_studies:
            yield SystemCommand(f"Open study {s.name}", f"{s.dataset}: {', '.join(s.archs)}, {counted(s.n_runs, 'network')}",
                                lambda name=s.name: self.open_study(name), discover=False)
        if isinstance(screen, StudyScreen):
            for i, (vid, label, _) in enumerate(VIEWS):
                yield SystemCommand(f"View: {label}", f"key {i + 1}", lambda v=vid: screen.action_view(v))
            yield SystemCommand("Switch split", "Between the train and the test split", screen.action_split)
            yield SystemCommand("Compare with another study", "The heatmap then spans both", screen.action_compare)
            yield SystemCommand("Play checkpoints", "Animate the views over training", screen.action_play)
            yield SystemCommand("Which networks to analyse", "Most checkpoints / every network / finished only",
                                screen.action_networks)
