"""The rich Console every command and the trainer's progress print through, sized for where it goes."""
from __future__ import annotations


def make_console(stderr: bool = False):
    """In a terminal, lines fit its width. In a pipe or a file no sentence is cut: prose is left whole
    on its line (soft wrap) and tables get 160 columns rather than rich's 80, so they never squash;
    COLUMNS, when set, still sizes the tables. A terminal is what rich takes for one (a tty, or
    TTY_COMPATIBLE=1 / FORCE_COLOR set, as CI logs that render colours do)."""
    import os

    from rich.console import Console
    console = Console(stderr=stderr)
    if not console.is_terminal:
        if not os.environ.get("COLUMNS"):
            console.width = 160
        console.soft_wrap = True
    return console


def say(text: str, err: bool = False) -> None:
    """A line of prose (a note, a warning, a closing line): wrapped at words to a terminal's width,
    whole on one line in a pipe or a file. Printed as written (no rich markup)."""
    make_console(stderr=err).print(text, markup=False, highlight=False, emoji=False)
