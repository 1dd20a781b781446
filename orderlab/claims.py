"""Which process trains which network of a study, so that two commands started at once (the same
`orderlab train` in two terminals, a `sweep --resume` while a `train` still runs) never train or
resume the same (architecture, seed) twice.

The process that plans a training (`train`, `sweep`, `train --resume`) claims the networks it is
going to train before it decides anew, with the claims held, what each needs (train, resume or
skip): whoever changes a network's runs holds its claim, so that decision cannot go stale. It keeps
them until it returns; a sweep's workers train under their main process's claims.

For a SQLite store on this machine's disk, a claim is a POSIX record lock on one byte of a file per
study beside the database (``.orderlab-claims/``): the kernel releases it when the process ends,
however it ends (SIGKILL, out of memory), so no claim is ever left behind. A tracking server
(http) gets no claims: every claim is granted, as before; run one planning process per study there.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import struct
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from orderlab.errors import counted

try:
    import fcntl
except ImportError:             # Windows: no claims
    fcntl = None  # type: ignore[assignment]

CLAIMS_DIR = ".orderlab-claims"

Network = tuple[str, int]
Plan = TypeVar("Plan")

# POSIX record locks belong to the process, and closing any descriptor of a file drops all of the
# process's locks on it: one descriptor per file per process, closed only when it holds none.
_FILES: dict[Path, list] = {}           # path -> [fd, set of offsets this process holds]
_LOCK = threading.Lock()


def _offset(arch: str, seed: int) -> int:
    """The byte a network's claim locks: 62 bits of a hash (record locks reach far past the end of
    a file, so the file stays empty)."""
    return int.from_bytes(hashlib.sha256(f"{arch}\0{int(seed)}".encode()).digest()[:8], "big") >> 2


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True             # another user's live process
    return True


def _holder(fd: int, offset: int) -> int | None:
    """The pid holding ``offset`` (Linux's struct flock), or None when not known."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("@hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0))
        l_type, _, _, _, pid = struct.unpack("@hhqqi4x", got)
        return pid if l_type != fcntl.F_UNLCK and pid > 0 else None
    except OSError:
        return None


class Claims:
    """This process's claims on networks of one study; ``with Claims(store, study) as claims``."""

    def __init__(self, store, study: str):
        self.study = study
        self.path: Path | None = None
        if fcntl is not None and store.uri.startswith("sqlite:///"):
            from orderlab.store import sqlite_path
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", study)[:60]
            digest = hashlib.sha256(study.encode()).hexdigest()[:12]
            # Resolved: one process reaching the store by two paths must still use one descriptor.
            self.path = Path(os.path.realpath(sqlite_path(store.uri).parent)) / CLAIMS_DIR / f"{safe}-{digest}.lock"
        self.held: set[Network] = set()
        self._declared: set[str] = set()    # architectures whose settings this process declared

    def __enter__(self) -> "Claims":
        return self

    def __exit__(self, *exc) -> None:
        self.release(list(self.held))
        if self._declared:
            def withdraw(table: dict) -> dict:
                for a in self._declared:
                    e = table.get(a)
                    if e:
                        e["pids"] = [p for p in e.get("pids", []) if p != os.getpid()]
                return {a: e for a, e in table.items() if e.get("pids")}
            self._settings_update(withdraw)
            self._declared = set()

    # -- the settings an architecture is being trained with ------------------------------------
    # Two commands started at once on other seeds of one architecture both see a study without its
    # runs, and the check of a new seed against the architecture's runs passes for both: each
    # planning process declares the settings it trains an architecture with, and a live declaration
    # with other settings refuses the later one (a dead process's declaration counts for nothing;
    # its runs, if any, are checked as runs).

    def declare(self, settings: dict[str, dict]) -> dict[str, tuple[int, dict]]:
        """Declare ``settings`` (architecture -> its settings, JSON-able) as this process's; returns,
        for each architecture another live process declared with other settings, (its pid, its
        settings) and declares nothing then."""
        mine = {a: json.loads(json.dumps(s, default=str)) for a, s in settings.items()}
        conflicts: dict[str, tuple[int, dict]] = {}

        def update(table: dict) -> dict:
            # an entry: the settings, and the live processes training the architecture with them
            for e in table.values():
                e["pids"] = [p for p in e.get("pids", []) if p == os.getpid() or _alive(p)]
            table = {a: e for a, e in table.items() if e["pids"]}
            for a, s in mine.items():
                e = table.get(a)
                if e and e.get("settings") != s and set(e["pids"]) - {os.getpid()}:
                    conflicts[a] = (min(set(e["pids"]) - {os.getpid()}), e["settings"])
            if conflicts:
                return table
            for a, s in mine.items():
                e = table.get(a)
                if e and e.get("settings") == s:
                    e["pids"] = sorted(set(e["pids"]) | {os.getpid()})
                else:                           # none live, or only this process's own
                    table[a] = {"settings": s, "pids": [os.getpid()]}
                self._declared.add(a)
            return table
        self._settings_update(update)
        return conflicts

    def _settings_update(self, change: Callable[[dict], dict]) -> None:
        """Read, change and write the study's settings file under a lock on its claims file's byte 0."""
        if self.path is None:
            return
        target = self.path.with_suffix(".settings.json")
        with _LOCK:
            # The claims' own descriptor where there is one: closing another descriptor of the file
            # would drop every claim this process holds on it.
            entry = _FILES.get(self.path)
            try:
                if entry is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = entry[0] if entry is not None else os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError:
                return          # as for claims: a store folder this user cannot write gets none
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, 0, os.SEEK_SET)      # waits: the update takes microseconds
                try:
                    table = json.loads(target.read_text()) if target.exists() else {}
                except (OSError, ValueError):
                    table = {}
                new = change(dict(table))
                if new != table:
                    tmp = target.with_suffix(f".{os.getpid()}.tmp")
                    tmp.write_text(json.dumps(new))
                    os.replace(tmp, target)
            except OSError:
                pass            # a filesystem without record locks: no declarations, as no claims
            finally:
                if entry is None:
                    os.close(fd)        # drops the lock on byte 0 with it
                else:
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0, os.SEEK_SET)
                    except OSError:
                        pass

    def take(self, networks: Iterable[Network]) -> dict[Network, str]:
        """Claim ``networks``; returns those another process (or another planner in this one) holds,
        each with who holds it, for a message."""
        networks = [(str(a), int(s)) for a, s in networks if (str(a), int(s)) not in self.held]
        if self.path is None:
            self.held.update(networks)
            return {}
        busy: dict[Network, str] = {}
        with _LOCK:
            entry = _FILES.get(self.path)
            if entry is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
                except OSError as e:
                    from orderlab.store import StoreError
                    raise StoreError(f"cannot open the study's claims file {self.path} ({e.strerror}); make "
                                     f"the store's folder writable for this user") from None
                entry = _FILES[self.path] = [fd, set()]
            fd, mine = entry
            for net in networks:
                off = _offset(*net)
                if off in mine:
                    busy[net] = f"another training in this process (pid {os.getpid()})"
                    continue
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, off, os.SEEK_SET)
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        # A filesystem without record locks (NFS without lockd, some FUSE mounts):
                        # no claims there, as for a tracking server (the store's own lock does the same).
                        for o in mine:
                            fcntl.lockf(fd, fcntl.LOCK_UN, 1, o, os.SEEK_SET)
                        mine.clear()
                        self._close_if_unused()
                        self.path = None
                        self.held.update(networks)
                        return {}
                    pid = _holder(fd, off)
                    busy[net] = f"another orderlab process (pid {pid})" if pid else "another orderlab process"
                    continue
                mine.add(off)
                self.held.add(net)
            self._close_if_unused()
        return busy

    def release(self, networks: Iterable[Network]) -> None:
        networks = [n for n in networks if n in self.held]
        self.held.difference_update(networks)
        if self.path is None:
            return
        with _LOCK:
            entry = _FILES.get(self.path)
            if entry is None:
                return
            fd, mine = entry
            for net in networks:
                off = _offset(*net)
                if off in mine:
                    fcntl.lockf(fd, fcntl.LOCK_UN, 1, off, os.SEEK_SET)
                    mine.discard(off)
            self._close_if_unused()

    def _close_if_unused(self) -> None:
        entry = _FILES.get(self.path)
        if entry is not None and not entry[1]:
            os.close(entry[0])
            del _FILES[self.path]


def claim_plan(claims: Claims, read: Callable[[], Plan], networks: Callable[[Plan], set[Network]]
               ) -> tuple[Plan, dict[Network, str]]:
    """Claim the networks the plan ``read()`` trains or resumes, then read it again with the claims
    held (again if that read names networks not claimed yet: another command's work ended meanwhile).
    Returns the last plan and the networks another planner holds, with who holds them. The caller
    keeps what ``claims.held`` covers."""
    plan, others = read(), {}
    for _ in range(20):     # each round claims or refuses a network not seen before, or claims one refused
        want = networks(plan) - claims.held - others.keys()
        if not want:
            # Once more for those refused: a holder that ended meanwhile left its networks to us.
            want = networks(plan) & others.keys()
            busy = claims.take(sorted(want)) if want else {}
            if want <= busy.keys():
                break
            for net in want - busy.keys():
                del others[net]
            others.update(busy)
        else:
            others.update(claims.take(sorted(want)))
        plan = read()
    for net in networks(plan) - claims.held - others.keys():      # the study kept changing: say so, never drop
        others[net] = "another command, whose runs kept changing while this one planned"
    return plan, others


def left_to_others(others: dict[Network, str], planned: Iterable[Network]) -> tuple[list[str], list[str]]:
    """The networks of ``planned`` that ``others`` hold: one message per holder, and their names."""
    planned = set(planned)
    by_whom: dict[str, list[str]] = {}
    for (arch, seed), who in sorted(others.items()):
        if (arch, seed) in planned:
            by_whom.setdefault(who, []).append(f"{arch}/s{seed}")
    messages = [f"{counted(len(names), 'network')} claimed by {who}, which trains or resumes them: {', '.join(names)}; "
                f"left to it" for who, names in by_whom.items()]
    return messages, [name for names in by_whom.values() for name in names]
