"""The TUI's adapter to the store: the only place in app/ that reads studies.

Everything here runs in background workers (never on the UI thread). The source keeps the
records it has read, keyed by run id and checkpoint count, so a poll of a live study re-reads
only the records of networks that recorded a new checkpoint, and rebuilds the stack and its
analysis only when something changed.

mlflow (through :mod:`orderlab.store`) and the analysis modules are imported on first use, in the
worker, so the interface paints before they load.
"""
from __future__ import annotations

import shlex
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from orderlab.errors import OrderlabError

EXAMPLES_RECHECK_S = 30.0
# A record that could not be read is tried again when its run records a checkpoint, when its file
# changes (local stores), and at least this often (remote stores, whose files cannot be watched).
RECORD_RECHECK_S = 30.0

# Which networks the analysis takes (key a cycles through them):
#   most  - the networks that give the most data, networks x common checkpoints (a running network
#           that has just started waits until it catches up, instead of cutting every curve short;
#           finished networks are always taken)
#   all   - every recorded network, on the checkpoints they all share
#   finished - finished networks only
MODES = ("most", "all", "finished")
MODE_TEXT = {"most": "networks with the most checkpoints", "all": "every network, common checkpoints",
             "finished": "finished networks only"}


def choose_networks(runs: list[Any], mode: str) -> tuple[list[Any], list[Any]]:
    """Split recorded runs into (analysed, waiting) for ``mode``.

    ``most`` keeps every finished run (it will never catch up, so waiting for it would hide it for
    good: a learner recorded once an epoch beside nets recorded every quarter epoch) and, of the
    running ones, those with at least c checkpoints, for the c that maximises runs x shared
    checkpoints (fewest of any kept run), preferring two runs or more (agreement needs a pair),
    then more runs. A running network with only its untrained checkpoint waits while another has
    trained ones: it would pair the untrained network's favourite class with what was learned.
    """
    if mode == "finished":
        keep = [r for r in runs if r.status == "FINISHED"]
    elif mode == "all" or not runs:
        keep = list(runs)
    else:
        done = [r for r in runs if r.status == "FINISHED"]
        live = [r for r in runs if r.status != "FINISHED"]
        floor = min((r.checkpoints for r in done), default=None)
        best = None
        trained = any(r.checkpoints > 1 for r in runs)
        cands = {r.checkpoints for r in live if r.checkpoints > 1 or not trained}
        for c in sorted(cands, reverse=True) + [None]:   # None: no live run
            n = len(done) + (sum(1 for r in live if r.checkpoints >= c) if c is not None else 0)
            bounds = [x for x in (c, floor) if x is not None]
            shared = min(bounds) if bounds else 0
            score = (n >= 2, n * shared, n)
            if best is None or score > best[0]:
                best = (score, c)
        c = best[1]
        keep = [r for r in runs if r.status == "FINISHED" or (c is not None and r.checkpoints >= c)]
    ids = {r.run_id for r in keep}
    return keep, [r for r in runs if r.run_id not in ids]


def ended_early_text(networks: list[Any], planned: bool) -> str:
    """What became of networks that all ended early, by their statuses: "every network went stale"
    of one stale network beside a planned one read "every network failed, was killed or went stale"
    (``planned``: others have no run yet, so these are the networks that started)."""
    verbs = {"FAILED": "failed", "KILLED": "was killed", "STALE": "went stale"}
    said = [v for k, v in verbs.items() if any(r.status == k for r in networks)]
    how = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " or " + said[-1]
    who = ("the one network that started" if len(networks) == 1 else "every network that started") if planned \
        else ("the one network" if len(networks) == 1 else "every network")
    return f"{who} {how}"


class SourceError(OrderlabError):
    """The store cannot be read right now (missing, locked, server down); the TUI retries."""


class StoreMissing(SourceError):
    """No SQLite store at the path (yet, or any more): cheap to look for again, no back-off."""


class StudyMissing(SourceError):
    """The store holds no study of that name (yet: `tui --study` started before `train`): looked for
    again at the refresh rate, no back-off."""


@dataclass
class RecordProblem:
    """A network whose record cannot be read: it is left out of the analysis and the TUI says why."""

    run_id: str
    name: str                                  # arch/sSEED (study:arch/sSEED when comparing studies)
    reason: str                                # a few words starting with "record" (no path, no advice)
    detail: str = ""                           # the whole message: the file and what to do
    path: str = ""                             # the file, where known


@dataclass
class _Failure:
    checkpoints: int                           # the run's checkpoint count when its record failed
    count: int                                 # failed reads in a row
    confirmed: bool                            # shown as unreadable (not a moment's glitch)
    problem: RecordProblem
    signature: Any                             # the local file's stat then (a change: read again)
    at: float                                  # time.monotonic() of the read


def _file_signature(path: str) -> Any:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _reason(error: Exception, path: Any) -> str:
    """The error in a few words for the warning over the views: without the file's path and the
    advice after "; " (the runs table's detail line gives the whole message), e.g. "record is
    corrupt or not an orderlab record (...)" or "record file does not exist"."""
    text = " ".join(str(error).split())
    if path is not None:
        text = text.replace(f" {path}", "").replace(str(path), "the file")
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth <= 0 and text.startswith("; ", i):
            text = text[:i]
            break
    if not text.startswith("record"):
        text = f"record cannot be fetched: {text}"        # a remote store's download failed
    return text


def _detail(error: Exception) -> str:
    return " ".join(str(error).split())


@dataclass
class Analysis:
    """Whole-study results, computed once per new stack (in the worker)."""

    archs: list[str]
    curves: dict[str, dict[str, Any]]          # analysis.metrics.group_curves
    order: dict[str, Any]                      # analysis.metrics.order_correlation
    accessibility: dict[str, Any]              # arch -> float [N]
    learned_at: dict[str, Any]                 # arch -> median learned-at epoch [N] (nan: never)
    halves: tuple[Any, Any] | None = None      # one architecture: accessibility of two halves of it
    access_all: Any = None                     # accessibility over every network [N]
    tied: dict[str, float] = field(default_factory=dict)   # analysis.summary.tied_at_top


@dataclass
class CheckpointResult:
    """What the heatmap and histogram views show at one checkpoint."""

    version: int
    checkpoint: int
    at: str                                    # its position for a reader ("epoch 0.256–0.286")
    arch_names: list[str]
    arch_matrix: Any                           # [A, A]
    net_labels: list[str]
    net_arch: list[str]
    net_matrix: Any                            # [n, n]
    observed: Any                              # correct-count histogram [n+1]
    independent: Any                           # its independence counterpart [n+1]
    bimodality: dict[str, float]


NO_CHECKPOINT = "no network has recorded a checkpoint yet"      # StudyData.problem before any checkpoint


@dataclass
class PlannedNetwork:
    """A network a train or sweep planned that has no run yet, as the Runs table lists it beside
    the runs (the fields it reads of a run)."""
    study: str
    arch: str
    seed: int
    resume: str                                # the command that starts it if its command stopped
    status: str = "PLANNED"
    epoch: float = 0.0
    epochs: float = 0.0
    progress: float = 0.0
    checkpoints: int = 0
    train_acc: float | None = None
    test_acc: float | None = None
    error: str | None = None
    stages: bool = False

    @property
    def run_id(self) -> str:                   # the table's row key: no run id, no clash with one
        return f"planned:{self.study}:{self.arch}/s{self.seed}"

    @property
    def name(self) -> str:
        return f"{self.arch}/s{self.seed}"


@dataclass
class StudyData:
    """One poll of a study (or of two studies compared on the same data)."""

    studies: tuple[str, ...]
    split: str
    runs: list[Any]                            # orderlab.store.RunInfo, with .study set
    version: int                               # changes whenever ``stack`` changes
    stack: Any = None                          # analysis.stack.Stack, None before any checkpoint
    analysis: Analysis | None = None
    examples: dict | None = None               # thumbnails of the first study (record.load_examples)
    left_out: list[str] = field(default_factory=list)
    unreadable: list[RecordProblem] = field(default_factory=list)   # recorded, record unreadable
    waiting: list[str] = field(default_factory=list)   # recorded, not analysed in this mode
    starting: list[str] = field(default_factory=list)  # running, no checkpoint recorded yet
    planned_rows: list["PlannedNetwork"] = field(default_factory=list)   # planned by a train or sweep, no run yet
    resume: list[str] = field(default_factory=list)    # the commands that start them (one per study)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None                 # why there is nothing to analyse (yet)
    dataset: str = ""

    @property
    def title(self) -> str:
        return " + ".join(self.studies)

    @property
    def planned(self) -> list[str]:
        """The planned networks' names ("study:mlp/s2" when studies are compared)."""
        return [f"{r.study}:{r.name}" if len(self.studies) > 1 else r.name for r in self.planned_rows]


class StudySource:
    """Reads studies for the TUI; safe to call from several worker threads (one lock)."""

    def __init__(self, tracking_uri: str | None = None):
        self._uri_arg = tracking_uri
        self.uri: str | None = None
        self._store = None
        self._seen = False                                  # connected once (a store that goes is news)
        self._lock = threading.RLock()
        self._records: dict[str, tuple[int, Any]] = {}     # run id -> (checkpoints, Record)
        self._recheck = False                   # read every record anew at the next poll (`r`)
        self._ended_progress: dict = {}      # Store.recorded_progress's reads, kept across reconnections
        self._failures: dict[str, _Failure] = {}           # run id -> its record's last failed read
        self._examples: dict[str, tuple[float, dict | None]] = {}
        self._examples_damaged: dict[str, str | None] = {}     # a note when the examples file is damaged
        self._downloads: tempfile.TemporaryDirectory | None = None   # records of remote stores
        self._built: dict[tuple, tuple[int, Any, Analysis | None, list[str]]] = {}
        self._version = 0
        self.reads = 0                                      # records read from the store (tests)

    # -- connection ---------------------------------------------------------
    def uri_option(self) -> str:
        """`` --tracking-uri URI`` for the commands the TUI suggests, by the command line's rule
        (:func:`orderlab.studydata.uri_option`), also while there is no store yet."""
        from orderlab.studydata import unopened_store, uri_option
        store = self._store or unopened_store(self._uri_arg)
        return "".join(f" {shlex.quote(a)}" for a in uri_option(store))

    def store(self):
        """The :class:`orderlab.store.Store`, created on first use (in a worker)."""
        with self._lock:
            if self.uri is None:
                from orderlab.store import resolve_tracking_uri
                # As the user wrote it (the screen shows it); Store() makes a SQLite path absolute.
                self.uri = self._uri_arg or resolve_tracking_uri(None)
            if self.uri.startswith("sqlite:///"):
                # A viewer never creates a store (Store() would): wait for `orderlab train` to
                # make it, and notice when it is deleted or moved (an open connection would not).
                from orderlab.store import sqlite_path
                db = str(sqlite_path(self.uri))
                if not os.path.exists(db):
                    self._store = None
                    raise StoreMissing(f"the store {db} has gone (deleted or moved)" if self._seen else
                                      f"no store at {db} yet; start one with `orderlab train"
                                      f"{self.uri_option()} …` (this "
                                      f"screen updates by itself) or pass --tracking-uri")
            if self._store is None:
                from orderlab.store import Store
                self._store = Store(self.uri, named=self._uri_arg is not None, ended_progress=self._ended_progress)
                self._seen = True
            return self._store

    def reset(self) -> None:
        """Forget the connection after an error, so the next poll reconnects."""
        with self._lock:
            self._store = None

    def recheck(self) -> None:
        """Read every record anew at the next poll (`r`): a record is otherwise read again only
        when its run records more checkpoints, so a finished network's file damaged after it was
        read went unnoticed until the TUI was started again. The copies read before stay: a running
        network's one failed read keeps its last (see :meth:`_failed`)."""
        with self._lock:
            self._recheck = True

    def _guard(self, fn, *args, **kwargs):
        """Run a store call; turn any failure into a one-line SourceError and reconnect next time."""
        from orderlab.store import NoSuchStudy
        try:
            return fn(*args, **kwargs)
        except SourceError:
            self.reset()
            raise
        except NoSuchStudy as e:
            raise StudyMissing(" ".join(str(e).split())) from None
        except OrderlabError as e:
            raise SourceError(" ".join(str(e).split())) from None
        except Exception as e:  # noqa: BLE001 - any store failure must reach the user as a message
            self.reset()
            text = " ".join(str(e).split())[:200]
            raise SourceError(f"cannot read the store {self.uri or ''} ({type(e).__name__}: {text}); "
                              f"retrying") from None

    # -- reading --------------------------------------------------------------
    def list_studies(self) -> list[Any]:
        with self._lock:
            return self._guard(lambda: self.store().list_studies())

    def _read(self, r: Any) -> tuple[Any, RecordProblem | None]:
        """Read ``r``'s record from the store: (record, None) or (None, why it cannot be read)."""
        from orderlab.record import RecordError, check_owner, load_record
        from orderlab.store import StoreError
        from orderlab.studydata import record_fix
        self.reads += 1
        try:
            # Local stores give the record's own path; remote ones download it here.
            path = self.store().record_file(r.run_id, r.artifact_uri,
                                            cache_dir=os.path.join(self._download_dir(), r.run_id))
        except StoreError as e:
            if "stopped answering" in str(e):
                raise                   # the server is down, not this record: the poll fails and retries
            return None, RecordProblem(r.run_id, r.name, _reason(e, None), _detail(e))
        try:
            rec = load_record(path)
            check_owner(rec, path, r.run_id, r.arch, r.seed)     # not a file copied from another run
            return rec, None
        except RecordError as e:
            # the runs table's detail line (which names the network): the problem and its fix, as
            # `orderlab analyze` gives them
            detail = f"record {e.problem}; {record_fix(self.store(), r, e.problem)}" if e.problem else _detail(e)
            return None, RecordProblem(r.run_id, r.name, _reason(e, path), detail, str(path))
        except Exception as e:  # noqa: BLE001 - one damaged file must not stop the poll of the others
            why = f"record cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:200]})"
            return None, RecordProblem(r.run_id, r.name, why, f"{why}: {path}", str(path))

    def _failed(self, r: Any, problem: RecordProblem) -> bool:
        """Note a failed read of ``r``'s record; returns whether it now counts as unreadable.

        The trainer replaces a local record atomically and publishes it before the run's checkpoint
        tag, so a local read fails only on a damaged or missing file. A remote store may still be
        receiving the file, though; so a running network's record counts as unreadable only when
        two reads in a row fail (one poll apart), and until then its last good record stands in.
        A finished (or otherwise ended) run's record is final: one failure counts.
        """
        old = self._failures.get(r.run_id)
        count = old.count + 1 if old is not None else 1
        confirmed = count >= 2 or r.status != "RUNNING"
        self._failures[r.run_id] = _Failure(r.checkpoints, count, confirmed, problem,
                                            _file_signature(problem.path) if problem.path else None,
                                            time.monotonic())
        return confirmed

    def _still_unreadable(self, r: Any) -> bool:
        """Whether ``r``'s record is known unreadable and nothing suggests it changed since."""
        f = self._failures.get(r.run_id)
        if f is None or not f.confirmed:
            return False
        if r.checkpoints != f.checkpoints or time.monotonic() - f.at >= RECORD_RECHECK_S:
            return False
        return not f.problem.path or _file_signature(f.problem.path) == f.signature

    def _records_for(self, runs: list[Any], tried: dict[str, tuple[Any, RecordProblem | None]]
                     ) -> tuple[list[tuple[Any, Any]], set[str]]:
        """(run, record) for runs with checkpoints, and the runs whose record turned out unreadable.

        A record is re-read only when its count grew; ``tried`` keeps this poll's reads, so a
        record is read at most once a poll."""
        out, unreadable = [], set()
        for r in runs:
            if r.checkpoints <= 0:
                continue
            cached = self._records.get(r.run_id)
            if cached is None or cached[0] != r.checkpoints or self._recheck:
                if r.run_id not in tried:
                    tried[r.run_id] = self._read(r)
                    rec, problem = tried[r.run_id]
                    if problem is None:
                        self._failures.pop(r.run_id, None)
                    elif self._failed(r, problem):
                        unreadable.add(r.run_id)
                rec, problem = tried[r.run_id]
                if problem is not None:
                    f = self._failures.get(r.run_id)
                    if cached is None or f is None or f.confirmed:
                        continue        # not readable (yet): the next poll tries again
                    rec = cached[1]     # a running network's record failed once: keep the last one
                # The trainer publishes the record before the tag; never cache a shorter one as current.
                elif rec.n_checkpoints >= r.checkpoints:
                    self._records[r.run_id] = (r.checkpoints, rec)
                cached = (r.checkpoints, rec)
            out.append((r, cached[1]))
        return out, unreadable

    def _download_dir(self) -> str:
        if self._downloads is None:
            self._downloads = tempfile.TemporaryDirectory(prefix="orderlab-tui-")
        return self._downloads.name

    def examples(self, study: str) -> dict | None:
        """The study's thumbnails. Once found they are kept; while a study has none, the store is
        asked again at most every EXAMPLES_RECHECK_S (the trainer writes them when it starts)."""
        have = self._examples.get(study)
        if have is not None and (have[1] is not None or time.monotonic() - have[0] < EXAMPLES_RECHECK_S):
            return have[1]
        from orderlab.record import RecordError
        damaged = None
        try:
            ex = self.store().load_examples(study)
        except RecordError:
            from orderlab.studydata import examples_fix
            ex = None
            # the notes line has room for the gist and the command, not the file's path
            damaged = (f"the study's examples file is damaged: no pictures or class names; "
                       f"{examples_fix(self.store(), study)} writes it anew")
        self._examples[study] = (time.monotonic(), ex)
        self._examples_damaged[study] = damaged
        return ex

    def _recorded_progress(self, store, r) -> None:
        """A run that stopped early shows what its record holds (Store.recorded_progress: its progress
        tags, written every 2 s, lag behind a process that was killed)."""
        r.checkpoints, r.epoch, r.train_acc, r.test_acc = store.recorded_progress(r)

    def load(self, studies: tuple[str, ...], split: str = "test", mode: str = "most") -> StudyData:
        """Runs, stack and analysis of ``studies`` (one, or several on the same data)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._lock:
            return self._guard(self._load, tuple(studies), split, mode)

    def _load(self, studies: tuple[str, ...], split: str, mode: str) -> StudyData:
        store = self.store()
        runs: list[Any] = []
        from orderlab.store import ENDED_EARLY
        for s in studies:
            for r in store.list_runs(s):
                r.study = s
                runs.append(r)
                if r.status in ENDED_EARLY:
                    self._recorded_progress(store, r)
        from orderlab.store import one_run_per_network
        # One run per (architecture, seed) of each study: a network trained anew after its run could
        # not be resumed leaves the old run behind, which must not count as a second network.
        networks = [r for s in studies for r in one_run_per_network(x for x in runs if x.study == s)]
        # runs that stopped early stay in the runs table but are left out of the analysis
        recorded = [r for r in networks if r.status not in ENDED_EARLY and r.checkpoints > 0]
        # Networks whose record cannot be read are left out, and the networks analysed are chosen
        # among the others (a record found unreadable while reading: choose again without it).
        unreadable = {r.run_id for r in recorded if self._still_unreadable(r)}
        tried: dict[str, tuple[Any, RecordProblem | None]] = {}
        while True:
            keep, waiting = [], []
            for st in studies:                  # each study keeps its own networks when comparing
                k, w = choose_networks([r for r in recorded if r.study == st and r.run_id not in unreadable],
                                       mode)
                keep += k
                waiting += w
            pairs, more = self._records_for(keep, tried)
            if not more:
                break
            unreadable |= more
        self._recheck = False
        for r, rec in pairs:
            if r.status == "RUNNING" and rec.n_checkpoints > r.checkpoints:
                # the record just read for the analysis is ahead of the progress tags (written every
                # 2 s): the Runs table showed a fast training some checkpoints behind the status line
                r.checkpoints, r.epoch = rec.n_checkpoints, float(rec.epoch[-1])
                for name, attr in (("train", "train_acc"), ("test", "test_acc")):
                    if name in rec.splits:
                        setattr(r, attr, rec.splits[name].last_accuracy())
        left_out = [f"{r.name} ({r.status.lower()})" for r in networks if r.status in ENDED_EARLY]
        examples = self.examples(studies[0])
        from orderlab.store import TAG_DATASET
        datasets = sorted({r.tags.get(TAG_DATASET, "") for r in runs} - {""})
        data = StudyData(studies=studies, split=split, runs=runs, version=0, examples=examples,
                         left_out=left_out, dataset=", ".join(datasets))
        for r in recorded:
            if r.run_id in unreadable:
                p = self._failures[r.run_id].problem
                name = f"{r.study}:{r.name}" if len(studies) > 1 else r.name
                data.unreadable.append(RecordProblem(r.run_id, name, p.reason, p.detail, p.path))
        # A network that has just started has no checkpoint to align yet: named, not silently left out.
        data.starting = [f"{r.study}:{r.name}" if len(studies) > 1 else r.name
                         for r in networks if r.status not in ENDED_EARLY and r.checkpoints == 0]
        # Networks a train or sweep planned that have no run yet: the analysis covers only those
        # recorded so far, and the Runs table lists them, status planned.
        from orderlab.studydata import no_network_yet, suggest, unstarted_networks
        resumes = []
        for s in studies:
            mine = unstarted_networks(store, s, [r for r in runs if r.study == s])
            resumes += [suggest(store, "orderlab", "sweep", "--resume", s)] if mine else []
            data.planned_rows += [PlannedNetwork(s, a, int(sd), resumes[-1]) for a, sd in mine]
        data.resume = resumes
        if waiting:
            from orderlab.errors import counted
            # named with their study when two are compared, as every other list of networks is
            data.waiting = [f"{r.study + ':' if len(studies) > 1 else ''}{r.name} at "
                            f"{counted(r.checkpoints, 'checkpoint')}" for r in waiting]
        if not pairs:
            data.problem = ("no record can be read (see the warning above); nothing to analyse" if unreadable
                            else "no finished network yet (a: include running ones)" if mode == "finished" and runs
                            else f"{ended_early_text(networks, bool(data.planned))} (see Runs); nothing to analyse"
                            if runs and len(left_out) == len(networks)
                            else NO_CHECKPOINT if runs
                            # what the command line says (planned, made by a command that stopped
                            # early, or empty: `train --arch NAME`, without which it is refused)
                            else str(no_network_yet(store, studies[0], [])))
            return data
        # Networks that did not record this split (another --record-splits) are left out and named;
        # the first one's error would otherwise stand for the whole study ("split 'test' was not
        # recorded") though others did record it.
        lacking = [(r, rec) for r, rec in pairs if split not in rec.splits]
        if lacking:
            pairs = [(r, rec) for r, rec in pairs if split in rec.splits]
            names = [f"{r.study}:{r.name}" if len(studies) > 1 else r.name for r, _ in lacking]
            if not pairs:
                other = "/".join(sorted({s for _, rec in lacking for s in rec.splits}))
                data.problem = (f"no network here recorded the {split} split ({', '.join(names[:4])}"
                                f"{' …' if len(names) > 4 else ''}: only {other}); t: switch split")
                return data
            data.left_out += [f"{n} (no {split} split)" for n in names]
        # the records used (one kept from an earlier poll when a read failed has fewer checkpoints
        # than its run's count: keyed by that count, the build from it was reused once read whole)
        key = (studies, split, tuple((r.run_id, rec.n_checkpoints) for r, rec in pairs))
        built = self._built.get(key)
        if built is None:
            try:
                stack = self._stack(studies, split, pairs, self.store())
            except OrderlabError as e:
                data.problem = " ".join(str(e).split())
                return data
            self._version += 1
            analysis = self._analyse(stack)
            # While networks train, one ahead of the others is no news (the alignment note names the
            # networks that set the limit), nor that finished ones ended further on; the notes line
            # has room for what matters.
            from orderlab.analysis.stack import ARCH_HINT, SHORT_OF_END, UNEVEN_ENDS
            live = any(r.status == "RUNNING" for r, _ in pairs)
            # the commands' --arch has no counterpart here
            built = (self._version, stack, analysis,
                     [w.replace(ARCH_HINT, "") for w in stack.warnings
                      if not (live and (SHORT_OF_END in w or UNEVEN_ENDS in w))])
            self._built = {key: built}          # only the latest build is worth keeping
        data.version, data.stack, data.analysis, data.notes = built[0], built[1], built[2], list(built[3])
        if self._examples_damaged.get(studies[0]):
            data.notes.append(self._examples_damaged[studies[0]])
        return data

    @staticmethod
    def _stack(studies: tuple[str, ...], split: str, pairs: list[tuple[Any, Any]], store):
        import numpy as np
        from orderlab.analysis.stack import Stack
        stacks = []
        for s in studies:
            mine = [(r.stack_info, rec) for r, rec in pairs if r.study == s]
            if not mine:
                continue
            st = Stack.from_records(mine, split, align="common", study=s)
            if len(studies) > 1:
                # Two studies may share architecture names; keep their networks apart.
                st.trained_arch, st.arch = st.arch, np.array([f"{s}:{a}" for a in st.arch])
            stacks.append(st)
        if len(stacks) == 1:
            return stacks[0]
        from orderlab.studydata import check_same_data
        check_same_data(store, stacks)          # names the data options that differ
        stack = Stack.concat(stacks)
        # Compared side by side, each study keeps its own networks; copies of one network in two
        # studies would agree perfectly across them, which the user must be told.
        from orderlab.errors import name_list
        from orderlab.store import copies_across
        copies = copies_across([r for r, _ in pairs if r.study == s] for s in studies)
        from orderlab.store import siblings_across
        from orderlab.studydata import sibling_note
        note = sibling_note(siblings_across([r for r, _ in pairs if r.study == s] for s in studies))
        if note:
            stack.warnings.append(note)
        if copies:
            firsts = ", ".join(dict.fromkeys(o.study for _, o in copies))
            stack.warnings.append(f"{name_list([f'{c.study}:{c.name}' for c, _ in copies])} "
                                  f"{'are' if len(copies) > 1 else 'is'} the same as in {firsts} (same seed, data "
                                  f"and training settings): copies agree across the studies")
        return stack

    @staticmethod
    def _analyse(stack) -> Analysis:
        import numpy as np
        from orderlab.analysis import metrics as M
        archs = stack.archs
        curves = M.group_curves(stack, bootstrap=0)     # no intervals: the live view must stay cheap
        order = M.order_correlation(stack)
        # A single network is its own two halves: its diagonal is 1 by construction, not a result.
        for i, a in enumerate(order["archs"]):
            if stack.arch_index(a).size == 1:
                for key in ("spearman", "overlap"):
                    order[key][i, i] = np.nan
        access, learned = {}, {}
        for a in archs:
            idx = stack.arch_index(a)
            access[a] = M.accessibility(stack, networks=idx)
            learned[a] = M.typical_learned_at(M.learned_at(stack, networks=idx))
        halves = None
        if len(archs) == 1 and stack.n_networks >= 2:
            h1, h2 = M.half_splits(stack, 1)[0][archs[0]]
            halves = (M.accessibility(stack, networks=h1), M.accessibility(stack, networks=h2))
        from orderlab.analysis.summary import tied_at_top
        return Analysis(archs=archs, curves=curves, order=order, accessibility=access, learned_at=learned,
                        halves=halves, access_all=M.accessibility(stack),
                        tied=tied_at_top(stack, order.get("q", 0.2), access))

    # -- per checkpoint ---------------------------------------------------------
    @staticmethod
    def checkpoint(stack, version: int, checkpoint: int) -> CheckpointResult:
        """Heatmaps and histogram at one checkpoint (pure computation, no store access)."""
        from orderlab.analysis import metrics as M
        names, am = M.architecture_agreement(stack, checkpoint)
        nm = M.pairwise_agreement(stack, checkpoint, measure="tpa")
        obs, ind = M.correct_count_histogram(stack, checkpoint)
        bim = M.bimodality(stack, checkpoint)
        labels = [f"{a}/s{s}" for a, s in zip(stack.arch, stack.seed)]
        return CheckpointResult(version=version, checkpoint=checkpoint, at=stack.at(checkpoint),
                                arch_names=list(names), arch_matrix=am, net_labels=labels,
                                net_arch=[str(a) for a in stack.arch], net_matrix=nm, observed=obs,
                                independent=ind, bimodality=dict(bim))
