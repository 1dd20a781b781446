"""The rich Console every command and the trainer's progress print through, sized for where it goes."""
from __future__ import annotations

import os
import sys


def in_terminal(stderr: bool = False) -> bool:
    """Whether the output goes to a terminal: a tty, or TTY_COMPATIBLE=1 as rich reads it.
    FORCE_COLOR only asks for colours: a CI log that sets it is still a file, its lines kept whole."""
    flag = os.environ.get("TTY_COMPATIBLE", "")
    if flag in ("0", "1"):
        return flag == "1"
    try:
        return (sys.stderr if stderr else sys.stdout).isatty()
    except ValueError:          # a closed stream (the end of a test run)
        return False


def make_console(stderr: bool = False):
    """In a terminal, lines fit its width. In a pipe or a file no sentence is cut: prose is left whole
    on its line (soft wrap) and tables get 160 columns rather than rich's 80, so they never squash;
    COLUMNS, when set, still sizes the tables."""
    from rich.console import Console
    tty = in_terminal(stderr)
    return Console(stderr=stderr, width=None if tty or os.environ.get("COLUMNS") else 160, soft_wrap=not tty)


def natural_width(console, renderable) -> int:
    """The cells ``renderable`` takes with nothing wrapped or cut."""
    return console.measure(renderable, options=console.options.update_width(10_000)).maximum


def say(text: str, err: bool = False) -> None:
    """A line of prose (a note, a warning): wrapped at words to a terminal's width, whole on one line
    in a pipe or a file. Printed as written (no rich markup). Lines that name a path or an address
    for a script or a copy (`report: PATH`) are echoed whole instead."""
    make_console(stderr=err).print(text, markup=False, highlight=False, emoji=False)
