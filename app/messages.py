"""Messages that background workers post to the screens (one module, as in Posting).

Every result carries the sequence number of the request that produced it, so a screen can drop
a stale answer (the user changed split or study while the worker was reading).
"""
from __future__ import annotations

from typing import Any

from textual.message import Message


class StudiesLoaded(Message):
    def __init__(self, seq: int, studies: list[Any], uri: str | None) -> None:
        super().__init__()
        self.seq, self.studies, self.uri = seq, studies, uri


class StudyLoaded(Message):
    def __init__(self, seq: int, data: Any) -> None:
        super().__init__()
        self.seq, self.data = seq, data


class PollFailed(Message):
    """A poll could not read the store; ``error`` is one line for the user. ``backoff``: poll
    less often until it answers (a server down), or not (a store file not there yet)."""

    def __init__(self, seq: int, error: str, backoff: bool = True) -> None:
        super().__init__()
        self.seq, self.error, self.backoff = seq, error, backoff


class CheckpointReady(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class CheckpointFailed(Message):
    def __init__(self, version: int, checkpoint: int, error: str) -> None:
        super().__init__()
        self.version, self.checkpoint, self.error = version, checkpoint, error
