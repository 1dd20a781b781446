"""The rich Console every command and the trainer's progress print through, sized for where it goes."""
from __future__ import annotations

import os
import sys
import textwrap


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


class _Trimmed:
    """A pipe or a file, written through line by line without the spaces rich pads lines with to
    the console's width (160 columns of them after a table's short row, in every log and diff)."""

    def __init__(self, stream) -> None:
        self.stream, self.pending = stream, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:            # rich writes whole lines; a part left over goes as it is
            self.stream.write(self.pending)
            self.pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def make_console(stderr: bool = False):
    """In a terminal, lines fit its width. In a pipe or a file no sentence is cut: prose is left whole
    on its line (soft wrap) and tables get 160 columns rather than rich's 80, so they never squash;
    COLUMNS, when set, still sizes the tables."""
    from rich.console import Console
    if in_terminal(stderr):
        return Console(stderr=stderr)
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=_Trimmed(stream), width=None if os.environ.get("COLUMNS") else 160, soft_wrap=True)


def hide_control_echo():
    """Stop the terminal echoing Ctrl-C as "^C" while live bars are drawn, and return what puts it
    back: the echo moved the cursor a line down under the bars, whose last redraw then printed
    their top row a second time. Only from the foreground of a terminal (a background job has no
    bars to keep whole); the key still interrupts, only its echo is raw (a byte terminals ignore)."""
    try:
        import termios
    except ImportError:                                  # Windows
        return lambda: None
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
            return lambda: None
        bit = getattr(termios, "ECHOCTL", 0)
        was = termios.tcgetattr(fd)[3] & bit
        _set_lflag_bit(fd, bit, 0)
    except (OSError, ValueError, AttributeError, termios.error):   # no stdin, not a terminal
        return lambda: None
    import atexit

    def restore() -> None:
        atexit.unregister(restore)
        try:
            _set_lflag_bit(fd, bit, was)
        except (OSError, termios.error):
            pass
    atexit.register(restore)        # put back on any way out that skips the bars' stop
    return restore


def _set_lflag_bit(fd: int, bit: int, value: int) -> None:
    """Set one local-mode bit of the terminal ``fd`` to ``value`` (``bit`` or 0), the rest as it
    is now. SIGTTOU is blocked meanwhile: a job sent to the background (Ctrl-Z, bg) since the bars
    started would be stopped by its own terminal change, never to exit until brought back."""
    import signal
    import termios
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        attrs = termios.tcgetattr(fd)
        attrs[3] = (attrs[3] & ~bit) | value
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def natural_width(console, renderable) -> int:
    """The cells ``renderable`` takes with nothing wrapped or cut."""
    return console.measure(renderable, options=console.options.update_width(10_000)).maximum


def say(text: str, err: bool = False) -> None:
    """A line of prose (a note, a warning, train's closing line): wrapped at spaces to a terminal's
    width, whole on one line in a pipe or a file. A word longer than the width (a store's path) is
    never broken with a newline, which a copy would keep: the terminal folds it and a copy reads it
    whole. Printed as written (no rich markup). Lines that begin with a path or an address
    (`report: PATH`) are echoed whole instead, for scripts."""
    console = make_console(stderr=err)
    if in_terminal(err):
        text = "\n".join(textwrap.fill(line, console.width, break_long_words=False, break_on_hyphens=False)
                         for line in text.split("\n"))
    console.print(text, markup=False, highlight=False, emoji=False, overflow="ignore", crop=False)
