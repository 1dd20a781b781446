"""Polling the store without blocking and without overlap.

A screen asks for a poll; one background worker reads the store and posts a message; when the
screen has handled it, the next poll is scheduled ``refresh`` seconds later. A request made while
a poll is in flight is remembered and run right after it, so polls never overlap. Changing what
to read (``restart=True``) bumps the sequence number, so the answer in flight is dropped.
A screen that is not on top stops polling and polls again at once when it comes back.
"""
from __future__ import annotations

from textual.screen import Screen
from textual.timer import Timer


class PollingScreen(Screen):
    """Base of the screens that follow the store. Subclasses implement :meth:`start_fetch`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seq = 0
        self.in_flight = False
        self._again = False
        self._timer: Timer | None = None
        self._paused = False
        self.polls = 0                       # completed polls (tests and the status line)
        self.failures = 0                    # consecutive failed polls
        self.last_ok: float | None = None         # the app's clock at the last poll that worked

    def start_fetch(self, seq: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def failed(self, seq: int, error: Exception):
        """The message for a failed poll (called in the worker)."""
        from orderlab.app.messages import PollFailed
        from orderlab.app.source import StoreMissing, StudyMissing
        # A store not made yet, or a study not made yet (`tui --study` started before `train`), is
        # cheap to look for again and is looked for at the refresh rate: the training's first
        # checkpoints are what the user is waiting to see. A store that fails to answer backs off.
        return PollFailed(seq, " ".join(str(error).split()) or type(error).__name__,
                          backoff=not isinstance(error, (StoreMissing, StudyMissing)))

    def poll_now(self, restart: bool = False) -> None:
        if restart:
            self.seq += 1
        if self.in_flight:
            self._again = True
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.in_flight = True
        self.start_fetch(self.seq)

    def poll_done(self, seq: int, ok: bool, backoff: bool = True) -> bool:
        """Call when a poll's message arrives; returns whether its result is current."""
        self.in_flight = False
        self.polls += 1
        current = seq == self.seq
        if current:
            self.failures = 0 if ok or not backoff else self.failures + 1
            if ok:
                self.last_ok = self.app.clock()
        if self._again or not current:
            self._again = False
            self.call_later(self.poll_now)
        else:
            self._schedule()
        return current

    def _interval(self) -> float:
        base = float(getattr(self.app, "refresh_s", 2.0))
        # Back off while the store does not answer, up to 15 s (a server restarting).
        return base if self.failures == 0 else min(15.0, base * (2 ** min(self.failures - 1, 3)))

    def retrying(self) -> str:
        """What a failed poll's message ends with: when the next poll comes, and how to ask for it now
        (with two digits below 10 s: ``--refresh 0.2`` retries every 0.2s, not every 0s)."""
        s = self._interval()
        return f"retrying every {s:.0f}s (r: now)" if s >= 9.5 else f"retrying every {float(f'{s:.2g}'):g}s (r: now)"

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self._interval(), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.is_current:
            self.poll_now()
        else:
            self._paused = True

    def on_screen_resume(self) -> None:
        if self._paused:
            self._paused = False
            self.poll_now()
