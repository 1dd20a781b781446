"""The rich Console every command and the trainer's progress print through, sized for where it goes."""
from __future__ import annotations


def make_console(stderr: bool = False):
    """In a terminal, lines fit its width. In a pipe or a file no sentence is cut: prose is left whole
    on its line (soft wrap) and tables get 160 columns rather than rich's 80, so they never squash;
    COLUMNS, when set, still sizes the tables."""
    import os
    import sys

    from rich.console import Console
    tty = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(stderr=stderr, width=None if tty or os.environ.get("COLUMNS") else 160, soft_wrap=not tty)
