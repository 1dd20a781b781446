"""`orderlab sweep`: a study as many runs, run in parallel by an executor.

* ``local``: worker processes on this machine (spawned, each with its share of the CPU threads;
  several may share one GPU). A worker keeps its dataset in memory between tasks.
* ``ray``: each task is a Ray task with its resource request (``num_cpus``, ``num_gpus``), on a
  cluster (``--ray-address``) or on a Ray instance started here.

A task is one network, or one vectorised ensemble of up to ``--ensemble`` networks. Whatever
ends a task (success, an exception, a dead worker), the sweep then reads the task's runs from the
store: a network not FINISHED is retried once (resumed from its last saved state, in the same
run), and what still fails is listed with its reason in the summary. Running the same sweep
again skips the networks already FINISHED and resumes the interrupted ones; ``--resume STUDY``
resumes every interrupted run of a study and starts the networks its sweeps and trains planned (each keeps
its plan in the study once planning is done) but never reached, where their settings still fit
the study.

The main process creates the study before any worker starts, so workers only join it.
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from orderlab.errors import OrderlabError, counted
from orderlab.trainer.api import data_options, network_runs, plan_record, running_elsewhere
from orderlab.trainer.progress import metrics_text, progress_bars

EXECUTORS = ("local", "ray")


@dataclass
class Task:
    id: int
    kind: str                                 # "train" (new networks) | "resume" (existing runs)
    arch: str = ""
    seeds: list[int] = field(default_factory=list)   # train: what to train; resume: what run_ids are, to name them
    run_ids: list[str] = field(default_factory=list)
    attempt: int = 1
    force: bool = False                       # resume runs left RUNNING by a worker known to be gone
    cfg: dict | None = None                   # train: the settings of the sweep that planned it, if not this one's

    @property
    def size(self) -> int:
        return len(self.seeds) if self.kind == "train" else len(self.run_ids)

    @property
    def label(self) -> str:
        """The networks, as the user names them: "mlp/s3", "mlp/s0..s7 (x8)", "resume cnn/s2"."""
        seeds = sorted(self.seeds)
        if seeds:
            s = f"s{seeds[0]}" if len(seeds) == 1 else f"s{seeds[0]}..s{seeds[-1]} (x{len(seeds)})"
            what = f"{self.arch}/{s}"
        else:
            what = counted(len(self.run_ids), "run")
        return ("resume " if self.kind == "resume" else "") + what + (f" [try {self.attempt}]" if self.attempt > 1 else "")


@dataclass
class SweepOptions:
    executor: str = "local"
    workers: int | None = None
    gpus_per_run: float = 0.0
    cpus_per_run: float = 1.0
    ray_address: str | None = None
    retries: int = 1


@dataclass
class Outcome:
    name: str                                 # arch/sSEED
    run_id: str | None
    status: str                               # FINISHED | FAILED | KILLED | STALE | NOT STARTED
    error: str | None = None
    attempts: int = 1


@dataclass
class SweepResult:
    study: str
    outcomes: list[Outcome]
    skipped: list[str]                        # networks already FINISHED before this sweep
    seconds: float
    left: list[str] = field(default_factory=list)   # networks another command runs or has claimed
    resume: bool = False                      # `sweep --resume STUDY`
    # sweep plans that could not be read or whose networks were not started, and why: shown even
    # under --quiet (networks a script expected would otherwise go untrained without a word)
    plan_notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "FINISHED"]


# ---------------------------------------------------------------------- the worker side

_DATA: dict[tuple, tuple] = {}
_STUDY: dict[tuple, object] = {}


def _data(cfg):
    """(dataset, device data), loaded once per worker process and data configuration."""
    key = (cfg.dataset, cfg.data_dir, cfg.train_subset, cfg.test_subset, cfg.data_seed, cfg.device)
    if key not in _DATA:
        from orderlab.trainer.data import load_dataset
        from orderlab.trainer.loop import make_device_data, resolve_device
        _DATA.clear()
        ds = load_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, train_subset=cfg.train_subset,
                          test_subset=cfg.test_subset, data_seed=cfg.data_seed)
        _DATA[key] = (ds, make_device_data(ds, resolve_device(cfg.device)))
    return _DATA[key]


def _context(cfg):
    """(dataset, study context, device data); the study exists already (the main process made it)."""
    ds, data = _data(cfg)
    key = (cfg.tracking_uri, cfg.study, id(ds), tuple(cfg.record_splits))
    if key not in _STUDY:
        from orderlab.trainer.run import prepare_study
        _STUDY.clear()
        _STUDY[key] = prepare_study(_store(cfg.tracking_uri), cfg.study, ds, cfg.record_splits)
    return ds, _STUDY[key], data


_RELAY: list = []                             # this worker's RelayedStore, if its store is relayed


def _store(uri: str | None):
    """The store a task writes to: the relay to the main process when it serves this URI."""
    from orderlab.store import Store
    if _RELAY and _RELAY[0].uri == uri:
        return _RELAY[0]
    return Store(uri)


def _relay_to(conn, uri: str) -> None:
    """Send this worker's store calls for ``uri`` to the main process over ``conn`` and wait for the
    answer (the main process sends nothing else while a task runs)."""
    from orderlab.store import RelayedStore
    counter = itertools.count()

    def call(name: str, args: tuple, kwargs: dict):
        cid = next(counter)
        try:
            conn.send(("store", cid, name, args, kwargs))
            while True:
                msg = conn.recv()
                if msg is None:           # the sweep is shutting down
                    raise EOFError
                if msg[0] == "store" and msg[1] == cid:
                    break
        except (EOFError, OSError):
            from orderlab.store import StoreError
            raise StoreError("the sweep's main process, which writes to the store for its workers, "
                             "has stopped") from None
        _, _, ok, value = msg
        if ok:
            return value
        raise value
    _RELAY[:] = [RelayedStore(uri, call)]


def _warm(cfg: dict | None) -> None:
    """What every task needs, loaded while the main process prepares the study: torch, the trainer,
    the MLflow client unless the store is relayed, and (for new networks) the dataset on the device.
    Failures surface in tasks."""
    try:
        import torch  # noqa: F401
        if not _RELAY:
            from mlflow.tracking import MlflowClient  # noqa: F401
        from orderlab.trainer import api, loop, run  # noqa: F401
        if cfg is not None:
            _data(_config(cfg))
    except Exception:  # noqa: BLE001
        pass


class _EventReporter:
    """A training reporter that forwards progress to the sweep's main process."""

    def __init__(self, send: Callable[[tuple], None] | None, task_id: int):
        self.send, self.task_id = send, task_id
        self._last = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def study_started(self, *a) -> None: ...

    def network_started(self, name: str, run_id: str) -> None:
        if self.send:
            self.send(("network", self.task_id, name, run_id))

    def network_progress(self, fraction: float, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        if self.send and (metrics or now - self._last > 0.5):
            self._last = now
            # with when it was sent: after Ctrl-C, the sweep tells progress made since from progress
            # that waited in the pipe (see LocalExecutor._drain)
            self.send(("progress", self.task_id, float(fraction), dict(metrics), time.time()))

    def network_finished(self, name: str, status: str, metrics: dict[str, float],
                         error: str | None = None) -> None:
        if self.send:        # the error follows as a message
            self.send(("finished", self.task_id, name, status))

    def message(self, text: str) -> None:
        if self.send:
            self.send(("message", self.task_id, text))


def execute_task(task: dict, cfg: dict, send: Callable[[tuple], None] | None = None,
                 threads: int | None = None) -> dict:
    """Run one task in this process (a local worker or a Ray task). Never raises except on Ctrl-C:
    what went wrong is returned, and the runs themselves carry their status and error."""
    import torch
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    c = _config(task.get("cfg") or cfg)
    reporter = _EventReporter(send, task["id"])
    try:
        if task["kind"] == "resume":
            from orderlab.trainer.resume import resume_runs
            run_ids = resume_runs(task["run_ids"], store=_store(c.tracking_uri), device=c.device,
                                  reporter=reporter, ensemble=c.ensemble, force=task.get("force", False))
        else:
            run_ids = _train(c, task["arch"], list(task["seeds"]), reporter)
        return {"run_ids": run_ids, "error": None, "imported_mlflow": "mlflow" in sys.modules}
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - reported to the main process, which retries
        return {"run_ids": [], "error": f"{type(e).__name__}: {e}"}


def _train(cfg, arch: str, seeds: list[int], reporter) -> list[str]:
    from orderlab.trainer.api import frozen_gc, resolve_hparams, train_solo
    from orderlab.trainer.models import get_arch
    ds, ctx, data = _context(cfg)
    spec = get_arch(arch)
    hps = {arch: resolve_hparams(spec, cfg, ds.augment_default)}
    jobs = [(arch, spec, s) for s in seeds]
    with frozen_gc():
        if cfg.ensemble > 1 and len(seeds) > 1:
            from orderlab.trainer.ensemble import train_ensembles
            return train_ensembles(cfg, ctx, jobs, hps, data, reporter)
        return train_solo(cfg, ctx, jobs, hps, data, reporter)


def _worker_main(slot: int, env: dict[str, str], threads: int, conn, warm_cfg: dict | None = None,
                 relay_uri: str | None = None) -> None:
    """A local worker process: warm up, then take tasks from its own pipe until it gets None. Store
    calls for ``relay_uri`` go to the main process over the same pipe."""
    os.environ.update(env)
    # SIGTERM (`timeout`, a scheduler, `kill` of the process group) stops a worker as Ctrl-C does: its
    # runs end KILLED through the main process, instead of the worker dying with them RUNNING.
    signal.signal(signal.SIGTERM, _interrupted)
    # The main process stops a worker with a signal of its own, so SIGINT keeps the sweep's
    # disposition: ignored in a sweep a script started in the background (`orderlab sweep … &`),
    # `kill -INT` of its process group stopped the workers while the sweep carried on, retrying
    # their networks as "died (exit code 0)". (Stopped with SIGINT, ignored there, they trained on.)
    signal.signal(STOP_SIGNAL, signal.default_int_handler)
    try:
        # It started with SIGINT blocked (LocalExecutor._start): a Ctrl-C while its interpreter
        # started up printed a traceback. One that came meanwhile is raised here, and handled below.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        if relay_uri:
            _relay_to(conn, relay_uri)
        _warm(warm_cfg)
        while True:
            item = conn.recv()
            if item is None:
                return
            task, cfg = item
            _IN_TASK[:] = [True]
            try:
                result = execute_task(task, cfg, conn.send, threads)
            finally:
                _IN_TASK[:] = []
            conn.send(("done", slot, task["id"], result))
    except KeyboardInterrupt:
        # Its runs are ended (KILLED): the main process, draining after Ctrl-C, need not wait for
        # this interpreter to close.
        try:
            conn.send(("stopped", slot))
        except (OSError, ValueError):
            pass
    except (EOFError, OSError):     # OSError: the main process is gone (reset pipe)
        return


DRAIN_SECONDS = 10.0      # after Ctrl-C, how long a sweep waits for its workers to end their runs
# how the main process stops a local worker as Ctrl-C would (SIGINT where there is no SIGUSR1)
STOP_SIGNAL = getattr(signal, "SIGUSR1", signal.SIGINT)


def _sent(msg: tuple) -> float:
    """When a worker sent a progress message (``time.time()``; 0: a message without it)."""
    return float(msg[4]) if len(msg) > 4 else 0.0


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C, with workers that had not ended their runs ``DRAIN_SECONDS`` later: ``unstopped`` names
    their tasks (those runs stay RUNNING and show as STALE once the workers are gone; ``sweep
    --resume`` continues them)."""

    def __init__(self, unstopped: list[str]):
        super().__init__(unstopped)
        self.unstopped = unstopped


_IN_TASK: list[bool] = []      # [True] while this worker trains: SIGTERM then ends its runs KILLED


def _interrupted(signum, frame) -> None:
    if _IN_TASK:
        raise KeyboardInterrupt
    os._exit(128 + signum)      # idle, warming up or exiting: nothing to end, so no exception anywhere


# ---------------------------------------------------------------------- executors

OnEvent = Callable[[tuple], None]
OnDone = Callable[[Task, dict], list[Task]]


class LocalExecutor:
    """Worker processes on this machine, each with its own pipe (no lock shared between workers, so
    a worker killed mid-message harms no other). A worker that dies (killed, out of memory) fails
    its current task (the sweep then retries it) and is replaced.

    With ``store`` (a local SQLite store) the workers relay their store calls to this process, which
    answers them between its other work: workers skip MLflow's start-up, and the SQLite file has one
    writer for the whole sweep. Other stores (a tracking server) are written by each worker."""

    def __init__(self, workers: int, threads: int, gpu_slots: list[str] | None = None, store=None):
        self.workers, self.threads, self.gpu_slots = max(1, workers), max(1, threads), gpu_slots or []
        self.store = store if store is not None and store.uri.startswith("sqlite:") else None
        self._ctx = None
        self._procs: dict[int, Any] = {}
        self._conns: dict[int, Any] = {}
        self._warm_cfg: dict | None = None

    def _start(self, slot: int) -> None:
        import multiprocessing as mp
        if self._ctx is None:
            self._ctx = mp.get_context("spawn")
        parent, child = self._ctx.Pipe(duplex=True)
        p = self._ctx.Process(target=_worker_main, daemon=True, name=f"orderlab-sweep-{slot}",
                              args=(slot, self._env(slot), self.threads, child, self._warm_cfg,
                                    self.store.uri if self.store is not None else None))
        # The worker inherits this thread's signal mask: with SIGINT blocked, a Ctrl-C during its
        # start-up imports waits for _worker_main, which ends its runs, rather than printing a
        # traceback from multiprocessing's spawn_main (or "Fatal Python error" from its site
        # import). Blocked, not ignored: nothing is lost, here or there. The resource tracker
        # first: starting it, multiprocessing unblocks SIGINT on its way (bpo-33613). And here the
        # Ctrl-C waits for the start to end (ctrl_c_after): the mask holds this thread only, and
        # an interrupt raised amid it left the worker without its start-up data ("EOFError: Ran
        # out of input" from spawn_main).
        from orderlab.trainer.run import ctrl_c_after
        block = hasattr(signal, "pthread_sigmask")
        if block:
            from multiprocessing import resource_tracker
            resource_tracker.ensure_running()
        with ctrl_c_after():
            was = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if block else None
            try:
                p.start()
            finally:
                if block:
                    signal.pthread_sigmask(signal.SIG_SETMASK, was)
        child.close()
        self._procs[slot], self._conns[slot] = p, parent

    def prestart(self, n: int, warm_cfg: dict | None) -> None:
        """Start (up to) ``n`` workers now, loading what tasks need while the caller prepares."""
        self._warm_cfg = warm_cfg
        for slot in range(min(self.workers, max(1, n))):
            self._start(slot)

    def shutdown(self) -> None:
        """Tell the workers to exit; a thread reaps them (an interpreter with torch and MLflow loaded
        takes about a second to exit, which the sweep need not wait for), terminating any that hang."""
        import threading
        for conn in self._conns.values():
            try:
                conn.send(None)
            except OSError:
                pass
        procs = list(self._procs.values())

        def reap() -> None:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=10)
        threading.Thread(target=reap, name="orderlab-sweep-reaper", daemon=True).start()
        self._procs.clear()
        self._conns.clear()

    def _answer(self, conn, msg: tuple) -> None:
        """Perform a worker's relayed store call and send back its result or its exception. Errors
        other than orderlab's own go back as StoreError with their type and message: an MLflow or
        SQLAlchemy exception object would make the worker import that library to read it."""
        import pickle
        from orderlab.store import StoreError
        _, cid, name, args, kwargs = msg
        try:
            reply = ("store", cid, True, getattr(self.store, name)(*args, **kwargs))
        except Exception as e:  # noqa: BLE001 - raised again in the worker, where the call was made
            if not isinstance(e, OrderlabError):
                e = StoreError(f"{type(e).__name__}: {e}")
            try:
                pickle.loads(pickle.dumps(e))
            except Exception:  # noqa: BLE001 - e.g. a subclass whose __init__ pickle cannot call again
                e = StoreError(f"{type(e).__name__}: {e}")
            reply = ("store", cid, False, e)
        try:
            conn.send(reply)
        except OSError:
            pass      # the worker died meanwhile: its sentinel says so
        except Exception as e:  # noqa: BLE001 - a result that does not pickle: the caller gets why
            conn.send(("store", cid, False, StoreError(f"{name} returned what cannot be sent to a worker "
                                                       f"({type(e).__name__}: {e})")))

    def _env(self, slot: int) -> dict[str, str]:
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}
        if self.gpu_slots:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu_slots[slot % len(self.gpu_slots)]
        return env

    def run(self, tasks: list[Task], cfg: dict, on_event: OnEvent, on_done: OnDone) -> None:
        from multiprocessing.connection import wait
        from orderlab.trainer.run import ctrl_c_after
        pending: deque[Task] = deque(tasks)
        procs, conns = self._procs, self._conns
        current: dict[int, Task] = {}
        outstanding, began = len(pending), time.time()
        start = self._start

        def finish(slot: int, result: dict) -> None:
            nonlocal outstanding
            task = current.pop(slot)
            more = on_done(task, result)
            pending.extend(more)
            outstanding += len(more) - 1

        def handle(slot: int, msg: tuple) -> None:
            if msg[0] == "done":
                if slot in current and current[slot].id == msg[2]:
                    finish(slot, msg[3])
            elif msg[0] == "store":
                self._answer(conns[slot], msg)
            elif msg[0] != "stopped":      # interrupted alone: it exits, and its task is retried
                on_event(msg)

        for slot in range(min(self.workers, max(1, len(pending)))):
            if slot not in procs:
                start(slot)
        try:
            while outstanding > 0:
                for slot in list(procs):
                    if slot not in current and pending:
                        current[slot] = pending.popleft()
                        on_event(("task", current[slot].id, procs[slot].pid))
                        try:
                            conns[slot].send((asdict(current[slot]), cfg))
                        except OSError:
                            # It died before its task reached it (killed while starting, out of
                            # memory): its sentinel fails the task, which is retried. Unguarded, the
                            # EPIPE ended the sweep with exit 1 and no word (Click takes an EPIPE
                            # for a closed stdout).
                            pass
                by_conn = {conns[s]: s for s in procs}
                by_sentinel = {procs[s].sentinel: s for s in procs}
                for ready in wait(list(by_conn) + list(by_sentinel), timeout=1.0):
                    slot = by_conn.get(ready)
                    if slot is not None:
                        try:
                            # Ctrl-C waits for the message's answer: a worker whose relayed store call
                            # lost its reply would wait for it forever, and never end its runs KILLED.
                            with ctrl_c_after():
                                handle(slot, ready.recv())
                        except (EOFError, OSError):
                            pass  # the worker is gone: its sentinel says so
                for slot, p in list(procs.items()):
                    if p.is_alive():
                        continue
                    try:
                        while conns[slot].poll():      # what it sent before dying
                            with ctrl_c_after():
                                handle(slot, conns[slot].recv())
                    except (EOFError, OSError):
                        pass
                    if slot in current:
                        finish(slot, {"run_ids": [], "error": f"worker process {p.pid} died (exit code "
                                                              f"{p.exitcode})", "dead_pid": p.pid})
                    conns.pop(slot).close()
                    del procs[slot]
                    if outstanding > 0 and pending:
                        start(slot)
        except KeyboardInterrupt:
            left, stopped = self._drain(DRAIN_SECONDS, busy=set(current))
            # A worker that died meanwhile (killed, out of memory) did not end its runs
            lost = [t for s, t in current.items() if s not in stopped and s not in left]
            if lost:
                from orderlab.store import Store
                try:
                    _end_lost_runs(self.store or Store(cfg["tracking_uri"]), cfg["study"], lost, began)
                except (Exception, KeyboardInterrupt):  # noqa: BLE001 - a server gone, a second Ctrl-C: its
                    pass                                # runs read STALE, and resume all the same
            if left:
                raise SweepInterrupted([current[s].label for s in left]) from None
            raise
        finally:
            self.shutdown()

    def _drain(self, seconds: float, busy: set[int]) -> tuple[list[int], set[int]]:
        """After Ctrl-C: answer the workers' last store calls when they are relayed (each marks its
        runs KILLED), until every worker of a ``busy`` slot has stopped (said so, or exited), for at
        most ``seconds``: idle workers have no run to end. Ctrl-C in a terminal reaches the workers too; a worker still
        reporting training progress did not get it (``kill -INT`` of this process alone, a
        notebook's interrupt), so it is sent on. Returns the busy slots whose workers had not stopped,
        and the slots whose workers said they had."""
        from multiprocessing.connection import wait

        from orderlab.trainer.run import ctrl_c_after
        # Also with a tracking server, whose workers end their runs themselves: the sweep's last line
        # reads their statuses back, and before they were written it said no network was training.
        started = time.monotonic()
        deadline = started + seconds
        began = time.time()                     # progress sent after this was made after the Ctrl-C
        interrupted: dict[int, float] = {}      # slot -> when it was sent STOP_SIGNAL (time.time())
        stopped: set[int] = set()
        while (set(self._procs) & busy) - stopped and time.monotonic() < deadline:
            for slot, p in list(self._procs.items()):
                if not p.is_alive():
                    del self._procs[slot]
                    self._conns.pop(slot).close()
            slots = {conn: slot for slot, conn in self._conns.items() if slot not in stopped}
            for conn in wait(list(slots), timeout=0.2):
                with ctrl_c_after():        # a second Ctrl-C must not cut a call from its answer either
                    try:
                        msg = conn.recv()
                    except Exception:  # noqa: BLE001 - gone, or a message cut by the interrupt
                        continue
                    if msg and msg[0] == "store" and self.store is not None:
                        self._answer(conn, msg)
                    elif msg and msg[0] in ("stopped", "done"):     # done: its task ended before it
                        stopped.add(slots[conn])                    # stopped (its runs are not RUNNING)
                    elif (msg and msg[0] == "progress" and _sent(msg) > began + 0.5
                          and _sent(msg) > interrupted.get(slots[conn], 0.0) + 2.0):
                        # Still training half a second after Ctrl-C: it did not get it. Progress sent
                        # before a Ctrl-C that did reach it must not send a second one into its
                        # clean-up (which then left its runs RUNNING, later STALE): the time it was
                        # sent counts, not when it is read here, which on a loaded machine can be
                        # seconds later. Again 2 s later if it still trains: Python drops an
                        # exception its handler raises inside a garbage-collector callback.
                        interrupted[slots[conn]] = time.time()
                        try:
                            os.kill(self._procs[slots[conn]].pid, STOP_SIGNAL)
                        except (OSError, KeyError):
                            pass
        return [slot for slot, p in self._procs.items() if slot in busy and slot not in stopped and p.is_alive()], stopped


class RayExecutor:
    """Each task a Ray task with its resource request; progress is read from the tracking store."""

    def __init__(self, address: str | None, workers: int | None, cpus_per_run: float, gpus_per_run: float,
                 store_uri: str, study: str):
        self.address, self.workers = address, workers
        self.cpus, self.gpus = cpus_per_run, gpus_per_run
        self.store_uri, self.study = store_uri, study

    def run(self, tasks: list[Task], cfg: dict, on_event: OnEvent, on_done: OnDone) -> None:
        try:
            import ray
        except ImportError:
            raise OrderlabError("--executor ray needs Ray: pip install 'orderlab[ray]' (or use --executor local)") \
                from None
        started = False
        if not ray.is_initialized():
            import logging
            # Ray's INFO lines ("Started a local Ray instance", "Connecting to existing Ray cluster")
            # would cut through the sweep's progress and --quiet; its warnings and errors still show.
            quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
            kw: dict[str, Any] = {**quiet, "include_dashboard": False}
            if self.address:
                kw = {"address": self.address, **quiet}
            else:
                # The local instance this sweep starts (and stops) enables token authentication
                # by default and warns that it did: nothing for the user to do.
                logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
                if self.workers:
                    kw["num_cpus"] = int(max(1, self.workers * self.cpus))
            try:
                ray.init(**kw)
            except Exception as e:  # noqa: BLE001 - a wrong address, a cluster down
                raise OrderlabError(f"cannot start or reach Ray ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                                    f"check --ray-address or use --executor local") from None
            started = True
        remote = ray.remote(_ray_task).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)
        threads = max(1, int(self.cpus))
        refs: dict[Any, Task] = {}
        # A task is shown as running once the store shows its networks training (_poll_progress):
        # submitted, it may wait for resources (with --workers 2, four tasks read "4 running").
        announced: set[int] = set()

        def submit(t: Task) -> None:
            ref = remote.remote(asdict(t), cfg, threads)
            refs[ref] = t

        began = time.time()     # runs with a sign of life since are this sweep's
        for t in tasks:
            submit(t)
        from orderlab.store import Store
        store = Store(self.store_uri)
        last_poll = 0.0
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
                for ref in done:
                    t = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 - a crashed worker or node
                        result = {"run_ids": [], "error": f"Ray task failed ({type(e).__name__}: "
                                                          f"{str(e).strip().splitlines()[-1][:300]})", "lost": True}
                    for more in on_done(t, result):
                        submit(more)
                if time.monotonic() - last_poll > 2.0:
                    last_poll = time.monotonic()
                    _poll_progress(store, self.study, list(refs.values()), on_event, announced)
        except KeyboardInterrupt:
            # Cancelling raises KeyboardInterrupt in each task, whose runs then end KILLED, as a local
            # worker's do; shutting Ray down at once killed the tasks before that (runs left STALE).
            for ref in refs:
                ray.cancel(ref)
            pending, deadline, second = list(refs), time.monotonic() + DRAIN_SECONDS, False
            try:
                while pending and time.monotonic() < deadline:
                    _, pending = ray.wait(pending, num_returns=len(pending),
                                          timeout=max(0.1, deadline - time.monotonic()))
            except KeyboardInterrupt:
                second = True   # a second Ctrl-C: stop waiting
            # A task whose worker died meanwhile ended without ending its runs, and Ray reports it
            # cancelled all the same; one reported over may still be ending them.
            ended = [t for r, t in refs.items() if r not in pending]
            unended = _end_lost_runs(store, self.study, ended, began, deadline if not second else 0.0)
            if pending or unended:
                raise SweepInterrupted([refs[r].label for r in pending] + [t.label for t in unended]) from None
            raise
        finally:
            if started:
                ray.shutdown()


def _ray_task(task: dict, cfg: dict, threads: int) -> dict:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return execute_task(task, cfg, None, threads)


def _holding_run(by_id: dict[str, Any], run_id: str) -> Any:
    """The run that holds ``run_id``'s network now (None: not in ``by_id``): a run that could not be
    continued had its network trained anew in a new run, which its superseded tag names."""
    from orderlab.store import TAG_SUPERSEDED
    r, seen = by_id.get(run_id), {run_id}
    while r is not None and r.tags.get(TAG_SUPERSEDED) in by_id.keys() - seen:
        seen.add(r.tags[TAG_SUPERSEDED])
        r = by_id[r.tags[TAG_SUPERSEDED]]
    return r


def _task_runs(t: Task, by_key: dict, by_id: dict) -> tuple[list[tuple[str, Any]], list[Any]]:
    """A task's runs in the store (``by_key``: network -> its run, ``by_id``: run id -> run): (run
    asked for, the run holding its network now) of a resume task, and the runs themselves (a train
    task's are found by network)."""
    held = [(i, r) for i in t.run_ids if (r := _holding_run(by_id, i)) is not None] if t.kind == "resume" else []
    rs = [r for _, r in held] if t.kind == "resume" else \
        [r for r in (by_key.get((t.arch, s)) for s in t.seeds) if r is not None]
    return held, rs


def _end_lost_runs(store, study: str, ended: list[Task], since: float, wait_until: float = 0.0) -> list[Task]:
    """After Ctrl-C, end KILLED the runs that tasks now over (``ended``) left unended because their
    worker died while it stopped (killed, out of memory; with Ray, its raylet or node gone): left
    RUNNING, they read STALE, as if the sweep itself had died. Only runs with a sign of life since
    ``since`` (time.time() at the sweep's start) are this sweep's: a resume task cancelled before it
    started leaves the STALE runs it was given as they were.

    A run whose process is not known to be gone (RUNNING in the store) is its worker's to end: Ray
    has reported a cancelled task over while its worker was still ending the run. It is waited for
    until ``wait_until`` (time.monotonic()); the tasks whose runs still are RUNNING then are
    returned, to be named with those that had not stopped. A second Ctrl-C stops the waiting."""
    from orderlab.store import TAG_HEARTBEAT
    if not ended:
        return []
    try:
        while True:
            runs = store.list_runs(study)
            by_key, by_id = network_runs(runs), {r.run_id: r for r in runs}
            held = [(t, r) for t in ended for r in _task_runs(t, by_key, by_id)[1]
                    if r.status in ("RUNNING", "STALE") and float(r.tags.get(TAG_HEARTBEAT, r.start_time)) >= since]
            if not any(r.status == "RUNNING" for _, r in held) or time.monotonic() >= wait_until:
                break
            time.sleep(0.25)
        for _, r in held:
            if r.status == "STALE":     # its process is gone
                store.end_run(r.run_id, "KILLED", error="interrupted (Ctrl-C or SIGTERM); its worker died before "
                                                        "it could end the run")
    except (Exception, KeyboardInterrupt):  # noqa: BLE001 - a store gone, a second Ctrl-C: such runs read
        return []                           # STALE, and `sweep --resume` continues them all the same
    return list({t.id: t for t, r in held if r.status == "RUNNING"}.values())


def _poll_progress(store, study: str, running: list[Task], on_event: OnEvent, announced: set[int]) -> None:
    """Progress of submitted Ray tasks, read from the runs' progress tags; a task is announced
    (``announced``, its bar shown) once one of its runs is RUNNING, not while it waits in Ray's
    queue (a resumed run is STALE or KILLED until its task takes it up)."""
    try:
        runs = store.list_runs(study)
    except Exception:  # noqa: BLE001 - a busy store: try again at the next poll
        return
    by_key = {(r.arch, r.seed): r for r in runs}
    by_id = {r.run_id: r for r in runs}
    for t in running:
        held, rs = _task_runs(t, by_key, by_id)
        if t.id not in announced and any(r.status == "RUNNING" for r in rs):
            announced.add(t.id)
            # said by the task's own process in a local sweep; a Ray task's messages stay with it
            for i, r in held:
                on_event(("message", t.id, f"resuming {r.name} (run {i[:8]}) from its last saved state"
                          if r.run_id == i else f"training {r.name} anew in run {r.run_id[:8]} (run "
                                                f"{i[:8]} could not be resumed)"))
            on_event(("task", t.id, None))
        if rs and t.id in announced:
            on_event(("progress", t.id, sum(r.progress for r in rs) / len(rs), {}))


# ---------------------------------------------------------------------- the sweep

# Any of these on Linux means a GPU may be there: NVIDIA's driver, WSL2, ROCm, Jetson.
GPU_DRIVER_FILES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg", "/dev/kfd", "/dev/nvhost-ctrl-gpu")


def _gpu_count() -> int:
    """CUDA GPUs visible here. On Linux with no GPU driver's files (NVIDIA's, WSL2's /dev/dxg, ROCm's
    /dev/kfd, Jetson's) that is 0 without importing torch: the import costs a CPU-only sweep's main
    process ~1.5 s of CPU while its workers start on the same cores."""
    if sys.platform.startswith("linux") and not any(map(os.path.exists, GPU_DRIVER_FILES)):
        return 0
    try:
        import torch
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def plan(cfg, store, ensemble: int, hps: dict[str, dict[str, Any]], claims
         ) -> tuple[list[Task], list[str], list[str], list[str]]:
    """Tasks for the networks of ``cfg`` not yet FINISHED in its study: new ones in groups of
    ``ensemble`` per architecture, interrupted ones resumed. Returns (tasks, skipped, busy, left):
    busy are messages about the networks ``left`` to another process, which runs or has claimed
    them. A run already there with other settings is refused (see
    :func:`~orderlab.trainer.api.sort_existing`, also for ``claims``)."""
    from orderlab.trainer.api import sort_existing
    ex = sort_existing(cfg, store, hps, "sweep them", claims)
    tasks: list[Task] = []
    for arch in cfg.archs:
        new, again = ex.new.get(arch, []), ex.resume.get(arch, [])
        for i in range(0, len(new), ensemble):
            tasks.append(Task(len(tasks), "train", arch=arch, seeds=new[i:i + ensemble]))
        for i in range(0, len(again), ensemble):
            ids = again[i:i + ensemble]
            tasks.append(Task(len(tasks), "resume", arch=arch, seeds=[ex.network_of[r][1] for r in ids], run_ids=ids))
    return tasks, ex.skipped, ex.left_alone(), ex.busy + ex.claimed


def resume_plan(store, study: str, cfg, claims
                ) -> tuple[list[Task], list[str], list[str], list[str], list[str]]:
    """`orderlab sweep --resume STUDY`: every STALE, KILLED or FAILED run of the study, and the
    networks a sweep into it planned but never started (:meth:`Store.write_sweep_plan`), trained
    with that sweep's settings on this command's device and ensemble size, once those settings pass
    the checks the sweep itself made (:func:`_unstarted`). Returns (tasks, networks already FINISHED,
    busy messages, networks left to others, notes on plans not read or not started). As in
    :func:`plan`, the networks are claimed and the study read again with the claims held; those
    another process has claimed are left to it."""
    from orderlab.store import ENDED_EARLY
    ensemble = max(1, cfg.ensemble)
    unstarted, notes = _unstarted(store, study, cfg, claims)

    def read():
        latest = network_runs(store.list_runs(study))
        todo = {n: r for n, r in latest.items() if r.status in ENDED_EARLY}
        fresh = {n: None for n in unstarted if n not in latest}
        return ({**todo, **fresh}, [r.name for r in latest.values() if r.status == "RUNNING"],
                sorted(r.name for r in latest.values() if r.status == "FINISHED"))
    from orderlab.claims import claim_plan, left_to_others
    (todo, running, finished), others = claim_plan(claims, read, lambda plan: set(plan[0]))
    messages, claimed = left_to_others(others, todo)
    todo = {n: r for n, r in todo.items() if n in claims.held}
    claims.release(claims.held - set(todo))
    tasks: list[Task] = []
    by_arch: dict[str, list[Any]] = {}
    for (arch, _), r in todo.items():
        if r is not None:
            by_arch.setdefault(arch, []).append(r)
    for arch, rs in by_arch.items():
        for i in range(0, len(rs), ensemble):
            group = rs[i:i + ensemble]
            tasks.append(Task(len(tasks), "resume", arch=arch, seeds=[r.seed for r in group],
                              run_ids=[r.run_id for r in group]))
    # never started: in groups of one plan's settings and one architecture
    by_settings: dict[tuple[str, str], tuple[dict, list[int]]] = {}
    for (arch, seed), r in todo.items():
        if r is None:
            settings = unstarted[(arch, seed)]
            by_settings.setdefault((arch, json.dumps(settings, sort_keys=True)), (settings, []))[1].append(seed)
    for (arch, _), (settings, seeds) in by_settings.items():
        seeds = sorted(seeds)
        for i in range(0, len(seeds), ensemble):
            tasks.append(Task(len(tasks), "train", arch=arch, seeds=seeds[i:i + ensemble],
                              cfg={**settings, "archs": [arch], "seeds": seeds[i:i + ensemble]}))
    return tasks, finished, running_elsewhere(running) + messages, running + claimed, notes


def _unstarted(store, study: str, cfg, claims) -> tuple[dict[tuple[str, int], dict], list[str]]:
    """The networks the study's sweep plans name that have no run, each with the settings to train
    it (a task's cfg), and notes on plans left alone. A plan's architecture is trained only as the
    sweep would have trained it: with the settings of the study's runs of that architecture
    (check_alike), of no other plan started here with other settings, and of no live command
    training it into the study with other settings (the settings declaration)."""
    from orderlab.errors import name_list
    from orderlab.trainer.api import _declare_settings, check_alike, peer_run, resolve_hparams
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.models import check_compatible, get_arch
    plans, unreadable = store.sweep_plans(study)
    notes = [f"plan {f} cannot be read: the networks it planned and never started are not started "
             f"(run the train or sweep command that planned them again to start them)" for f in unreadable]
    latest = network_runs(store.list_runs(study))
    wanted = []                                        # (plan file, plan, its architectures' unstarted seeds)
    for name, p in plans:
        archs = {a: [s for s in p["seeds"] if (a, s) not in latest] for a in p["archs"]}
        archs = {a: seeds for a, seeds in archs.items() if seeds}
        if archs:
            wanted.append((name, p, archs))
    if not wanted:
        return {}, notes
    live = sorted(r.name for r in latest.values() if r.status == "RUNNING")
    if claims.path is None and live:
        # No claims on this store (a tracking server): the sweep still running may yet start them.
        return {}, notes + [f"networks that sweeps into {study!r} planned and never started are not started while "
                            f"{name_list(live)} still run{'s' if len(live) == 1 else ''} (their sweep may start "
                            f"them): resume once it has ended"]
    out: dict[tuple[str, int], dict] = {}
    chosen: dict[str, dict] = {}                       # architecture -> settings started here
    datasets: dict[tuple, Any] = {}
    for name, plan, archs in wanted:
        settings = {**plan, "study": study, "tracking_uri": cfg.tracking_uri, "device": cfg.device,
                    "ensemble": cfg.ensemble, "quiet": True}
        for arch, seeds in archs.items():
            nets = name_list([f"{arch}/s{s}" for s in seeds])
            try:
                pcfg = _config({**settings, "archs": [arch], "seeds": seeds})
                key = (pcfg.dataset, pcfg.data_dir, pcfg.train_subset, pcfg.test_subset, pcfg.data_seed)
                if key not in datasets:
                    datasets[key] = load_dataset(pcfg.dataset, data_dir=pcfg.data_dir, download=pcfg.download,
                                                 train_subset=pcfg.train_subset, test_subset=pcfg.test_subset,
                                                 data_seed=pcfg.data_seed)
                ds = datasets[key]
                spec = get_arch(arch)
                check_compatible(spec, ds.kind, pcfg.dataset)
                hp = resolve_hparams(spec, pcfg, ds.augment_default)
                data = data_options(pcfg)
                if chosen.get(arch, {**data, **hp}) != {**data, **hp}:
                    raise OrderlabError(f"another plan of this study trains {arch} with other settings")
                peer = peer_run(latest, arch)
                if peer is not None:
                    check_alike(peer, hp, "start them", f"they are left out; train them with the study's settings "
                                                        f"(`orderlab runs {study}` lists them)", data)
                _declare_settings(pcfg, {arch: hp}, "start them", claims)
            except OrderlabError as e:
                notes.append(f"{nets}, planned by plan {os.path.basename(name)}, not started: "
                             f"{' '.join(str(e).split())}")
                continue
            chosen[arch] = {**data, **hp}
            for s in seeds:
                out.setdefault((arch, s), settings)
    return out, notes


class Sweep:
    """Runs a list of tasks with an executor, retries what failed once, and collects the outcomes."""

    def __init__(self, store, study: str, tasks: list[Task], retries: int, display):
        self.store, self.study, self.display, self.retries = store, study, display, retries
        self.next_id = max((t.id for t in tasks), default=-1) + 1
        self.tasks = {t.id: t for t in tasks}
        self.outcomes: dict[tuple[str, int], Outcome] = {}
        self.pid_of: dict[int, int] = {}

    def on_event(self, ev: tuple) -> None:
        if ev[0] == "task" and ev[2] is not None:
            self.pid_of[ev[1]] = ev[2]
        self.display.event(ev, self.tasks)

    def _runs_of(self, task: Task) -> tuple[list[Any], list[int]]:
        """The task's runs as the store sees them now, and (train tasks) the seeds with no run."""
        runs = self.store.list_runs(self.study)
        latest = network_runs(runs)
        found = _task_runs(task, latest, {r.run_id: r for r in runs})[1]
        return found, [] if task.kind == "resume" else [s for s in task.seeds if (task.arch, s) not in latest]

    def on_done(self, task: Task, result: dict) -> list[Task]:
        runs, missing = self._runs_of(task)
        err = result.get("error")
        again: list[Task] = []
        dead = result.get("dead_pid") is not None or result.get("lost")
        bad = []
        for r in runs:
            status = r.status
            if status == "RUNNING" and dead:
                status = "STALE"      # its process is gone: the run was left RUNNING
            self.outcomes[(r.arch, r.seed)] = Outcome(r.name, r.run_id, status, r.error or (err if status != "FINISHED"
                                                                                           else None), task.attempt)
            if status != "FINISHED":
                bad.append(r)
        for s in missing:
            self.outcomes[(task.arch, s)] = Outcome(f"{task.arch}/s{s}", None, "NOT STARTED",
                                                    err or "the task ended before the run was created", task.attempt)
        if task.attempt <= self.retries:
            if bad:
                again.append(Task(self.next_id, "resume", arch=bad[0].arch, seeds=[r.seed for r in bad],
                                  run_ids=[r.run_id for r in bad], attempt=task.attempt + 1, force=True))
                self.next_id += 1
            if missing:
                again.append(Task(self.next_id, "train", arch=task.arch, seeds=missing, attempt=task.attempt + 1,
                                  cfg=task.cfg))
                self.next_id += 1
            for t in again:
                self.tasks[t.id] = t
            if bad or missing:
                names = [r.name for r in bad] + [f"{task.arch}/s{s}" for s in missing]
                self.display.message(f"[yellow]retrying[/] {', '.join(names)}: {err or bad[0].error or bad[0].status}")
        self.display.task_done(task, runs, again)
        return again


def check_options(opts: SweepOptions, device: str) -> None:
    """Refuse executor options that cannot mean what they say, before anything is created."""
    import math
    if not 0 <= opts.gpus_per_run < math.inf:
        raise OrderlabError(f"--gpus-per-run must be a share of a GPU, 0 to 1 (got {opts.gpus_per_run:g})")
    if not 0 < opts.cpus_per_run < math.inf:
        raise OrderlabError(f"--cpus-per-run must be more than 0 (got {opts.cpus_per_run:g})")
    if opts.gpus_per_run > 1:
        raise OrderlabError(f"--gpus-per-run {opts.gpus_per_run:g}: a run trains on one GPU; give its share "
                            f"of one, at most 1 (0.25: four runs share a GPU)")
    if opts.gpus_per_run > 0 and device == "cpu":
        raise OrderlabError("--gpus-per-run asks for GPUs but --device cpu trains on the CPU; drop one of them")
    if opts.executor == "local":
        if opts.ray_address:
            raise OrderlabError("--ray-address is for --executor ray; add --executor ray or drop --ray-address")
        if device.startswith("cuda") and _gpu_count() == 0:
            raise OrderlabError(f"--device {device}: no CUDA GPU is visible here; use --device cpu or auto")
        if opts.gpus_per_run > 0 and _gpu_count() == 0:
            raise OrderlabError("--gpus-per-run: no CUDA GPU is visible here; drop it to train on the CPU, "
                                "or use --executor ray with a cluster that has GPUs")
    else:
        check_ray(opts.ray_address)
        own = _own_ray_instance(opts.ray_address)
        if own and opts.gpus_per_run > 0 and _gpu_count() == 0:
            # the Ray instance the sweep starts here would have no GPU to give: its tasks waited forever
            raise OrderlabError("--gpus-per-run: no CUDA GPU is visible here, so the local Ray instance this sweep "
                                "starts has none to give; drop it to train on the CPU, or add --ray-address of a "
                                "cluster that has GPUs")
        if own and device.startswith("cuda") and _gpu_count() == 0:
            raise OrderlabError(f"--device {device}: no CUDA GPU is visible here; use --device cpu or auto, or add "
                                f"--ray-address of a cluster that has GPUs")


def check_ray(address: str | None) -> None:
    """Ray importable and, for an address with a port, something listening there: ``ray.init`` would
    otherwise retry an unreachable cluster for minutes."""
    import importlib.util
    import socket
    if importlib.util.find_spec("ray") is None:
        raise OrderlabError("--executor ray needs Ray: pip install 'orderlab[ray]' (or use --executor local)")
    if address == "auto":
        address = _ray_auto_address()
    if not address or address.startswith("local"):
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        return      # Ray reports what it cannot parse itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise OrderlabError(f"no Ray cluster answers at {address} ({e.strerror or e}); start it (`ray start "
                            f"--head`), fix --ray-address, or drop it to start a local Ray instance") from None


def _own_ray_instance(address: str | None) -> bool:
    """Whether ``ray.init`` will start a Ray instance on this machine: ``local``, or no address with
    no cluster named by RAY_ADDRESS or left by `ray start` (ray.init joins those). False when that
    cannot be told (Ray's private lookup moved): only a sure local instance is refused GPUs."""
    if address:
        return address.startswith("local")
    try:
        from ray._private.services import get_ray_address_from_environment
        return get_ray_address_from_environment(None, None) is None
    except Exception:  # noqa: BLE001
        return False


def _ray_auto_address() -> str | None:
    """The cluster ``--ray-address auto`` finds (RAY_ADDRESS, else the last `ray start` on this
    machine), refused now when there is none: ray.init said so only after the study was made. Asks
    Ray's own lookup (private: where it moved, Ray is left to say it at ray.init)."""
    try:
        from ray._private.services import get_ray_address_from_environment
    except ImportError:
        return None
    try:
        found = get_ray_address_from_environment("auto", None)
    except ConnectionError:
        raise OrderlabError("--ray-address auto: no Ray cluster is running here (nor named by RAY_ADDRESS); "
                            "start one (`ray start --head`), give its address, or drop --ray-address to start "
                            "a local Ray instance") from None
    except Exception:  # noqa: BLE001 - Ray's lookup changed: ray.init reports what it finds
        return None
    return found if isinstance(found, str) and found != "auto" else None


def run_sweep(cfg, opts: SweepOptions, *, resume_study: str | None = None, display=None) -> SweepResult:
    """Plan, execute and summarise a sweep. ``cfg`` is a TrainConfig (archs and seeds, or unused
    with ``resume_study``)."""
    from orderlab.store import Store
    from orderlab.trainer.api import check_for_data, check_options_used, is_new_study, parse_splits, validate
    if opts.executor not in EXECUTORS:
        raise OrderlabError(f"unknown executor {opts.executor!r}; use local or ray")
    if opts.workers is not None and opts.workers < 1:
        raise OrderlabError(f"--workers must be at least 1 (got {opts.workers})")
    check_options(opts, cfg.device)
    from orderlab.trainer.api import stream_setting
    stream_setting()                      # also for --resume, whose settings skip validate()
    display = display or SilentDisplay()
    t0 = time.monotonic()
    store = Store(cfg.tracking_uri, must_exist=resume_study is not None)    # a study to resume: never make a store
    cfg.tracking_uri = store.uri          # absolute: workers may run elsewhere (another cwd, another node)
    skipped: list[str] = []
    plan_notes: list[str] = []
    executor = None
    dispatched = False
    from orderlab.claims import Claims
    # This process claims the sweep's networks for as long as it runs; its workers train under them.
    claims = Claims(store, resume_study or cfg.study)
    try:
        if resume_study:
            cfg.study = resume_study
            tasks, skipped, busy, left, plan_notes = resume_plan(store, resume_study, cfg, claims)
            # a plan written before the tags were (or interrupted before they were set) lists them now
            store.plan_archs(resume_study, sorted({t.arch for t in tasks if t.arch}))
        else:
            from orderlab.trainer.data import load_dataset
            from orderlab.trainer.models import get_arch
            from orderlab.trainer.run import prepare_study
            validate(cfg)
            new = is_new_study(store, cfg.study)
            cfg.record_splits = parse_splits(cfg.record_splits)
            if opts.executor == "local":
                # Workers start now and load torch, MLflow and the data while the study is prepared here
                # (before get_arch, whose first call imports torch here: ~1.3 s). A bad architecture
                # still fails below, and the workers are told to exit.
                n_max = len(cfg.archs) * -(-len(cfg.seeds) // max(1, cfg.ensemble))
                executor = make_executor(opts, cfg, store, n_max)
                executor.prestart(n_max, _cfg_dict(cfg))
            specs = [get_arch(a) for a in cfg.archs]
            check_options_used(cfg, specs)
            ds = load_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download,
                              train_subset=cfg.train_subset, test_subset=cfg.test_subset, data_seed=cfg.data_seed,
                              strict_subsets=new)
            hps = check_for_data(cfg, specs, ds, store)
            # The study (and its thumbnails) exist before any task runs: workers only join it.
            prepare_study(store, cfg.study, ds, cfg.record_splits,
                          params={**data_options(cfg), "n_train": len(ds.y_train), "n_test": len(ds.y_test)})
            del ds
            tasks, skipped, busy, left = plan(cfg, store, max(1, cfg.ensemble), hps, claims)
            # kept once planning accepted the settings (a sweep refused for settings the study's runs
            # contradict must leave no plan for `sweep --resume` to train)
            store.write_sweep_plan(cfg.study, plan_record(cfg))
            store.plan_archs(cfg.study, cfg.archs)      # listed with the study before their networks start
        n_networks = sum(t.size for t in tasks)
        for line in busy:
            display.message(f"[yellow]{line}[/]")
        if skipped and not resume_study:      # a resume only ever looks at the unfinished ones
            display.message(f"{counted(len(skipped), 'network')} already FINISHED in study {cfg.study!r}; skipped")
        sweep = Sweep(store, cfg.study, tasks, opts.retries, display)
        display.start(cfg.study, n_networks, len(tasks), opts)
        try:
            if tasks:
                executor = executor or make_executor(opts, cfg, store, len(tasks))
                dispatched = True
                executor.run(tasks, _cfg_dict(cfg), sweep.on_event, sweep.on_done)
        finally:
            display.stop()
    except KeyboardInterrupt as e:
        # whether any network could have started: the command's last line says what was left, and
        # an interrupt before (while MLflow was still being imported) can leave the store unreadable
        e.dispatched = dispatched
        raise
    finally:
        if isinstance(executor, LocalExecutor):
            executor.shutdown()
        claims.release(list(claims.held))
    return SweepResult(cfg.study, sorted(sweep.outcomes.values(), key=lambda o: o.name), skipped,
                       time.monotonic() - t0, left, resume=bool(resume_study), plan_notes=plan_notes)


def _cfg_dict(cfg) -> dict:
    """The TrainConfig as plain data for the workers (pickled to processes or Ray tasks)."""
    d = asdict(cfg)
    d["record_splits"] = list(cfg.record_splits)
    d["quiet"] = True
    return d


def _config(d: dict):
    """The TrainConfig of plain data (:func:`_cfg_dict`'s, or a sweep plan's); fields this orderlab
    does not know (a plan kept by another version) are left out."""
    from dataclasses import fields
    from orderlab.trainer.api import TrainConfig
    known = {f.name for f in fields(TrainConfig)}
    kw = {k: v for k, v in d.items() if k in known}
    if "record_splits" in kw:
        kw["record_splits"] = tuple(kw["record_splits"])
    return TrainConfig(**kw)


def make_executor(opts: SweepOptions, cfg, store, n_tasks: int):
    if opts.executor == "ray":
        return RayExecutor(opts.ray_address, opts.workers, opts.cpus_per_run, opts.gpus_per_run, store.uri, cfg.study)
    gpus = _gpu_count() if cfg.device in ("auto", "cuda") or cfg.device.startswith("cuda") else 0
    cores = os.cpu_count() or 1
    if opts.workers is not None:
        workers = opts.workers
    elif gpus and opts.gpus_per_run > 0:
        workers = max(1, int(gpus / opts.gpus_per_run + 1e-9))
    elif gpus:
        workers = gpus
    else:
        workers = max(1, int(cores / opts.cpus_per_run))
    workers = min(workers, n_tasks)
    threads = max(1, int(opts.cpus_per_run)) if opts.workers is None else max(1, cores // workers)
    slots = [str(i) for i in range(gpus)] if gpus > 1 and not cfg.device.startswith("cuda:") else []
    return LocalExecutor(workers, threads, slots, store)


# ---------------------------------------------------------------------- progress display

class SilentDisplay:
    def start(self, study: str, n_networks: int, n_tasks: int, opts: SweepOptions) -> None: ...

    def stop(self) -> None: ...

    def event(self, ev: tuple, tasks: dict[int, Task]) -> None: ...

    def task_done(self, task: Task, runs: list[Any], again: list[Task]) -> None: ...

    def message(self, text: str) -> None: ...


class RichDisplay(SilentDisplay):
    """One bar for the whole sweep (networks done) and one per running task."""

    def __init__(self) -> None:
        from orderlab.terminal import make_console
        self.console = make_console(stderr=True)
        self.progress = progress_bars(self.console)
        self.bars: dict[int, Any] = {}
        self.fraction: dict[int, float] = {}
        self.done = 0
        self.failed = 0
        self.total = 0
        self.overall = None

    def start(self, study: str, n_networks: int, n_tasks: int, opts: SweepOptions) -> None:
        self.total = n_networks
        if not n_tasks:         # nothing to train: the summary says why, no empty bar
            return
        self.console.print(f"[bold]sweep[/] {study}: {counted(n_networks, 'network')} in {counted(n_tasks, 'task')}, "
                           f"executor {opts.executor}")
        self.progress.start()
        self.overall = self.progress.add_task("sweep", total=max(1, n_networks), info="")

    def stop(self) -> None:
        self.progress.stop()

    def _refresh(self, tasks: dict[int, Task]) -> None:
        running = sum(self.fraction.get(i, 0.0) * tasks[i].size for i in self.bars if i in tasks)
        self.progress.update(self.overall, completed=min(self.total, self.done + running),
                             info=f"{self.done}/{self.total} done, {len(self.bars)} running"
                                  + (f", [red]{self.failed} failed[/]" if self.failed else ""))

    def event(self, ev: tuple, tasks: dict[int, Task]) -> None:
        kind, tid = ev[0], ev[1]
        if kind == "task" and tid in tasks and tid not in self.bars:
            self.bars[tid] = self.progress.add_task(tasks[tid].label, total=1000, info="")
        elif kind == "progress" and tid in self.bars:
            self.fraction[tid] = ev[2]
            m = ev[3]
            info = metrics_text(m)
            self.progress.update(self.bars[tid], completed=int(ev[2] * 1000), **({"info": info} if info else {}))
        elif kind == "message":
            self.console.print(ev[2])
        self._refresh(tasks)

    def task_done(self, task: Task, runs: list[Any], again: list[Task]) -> None:
        bar = self.bars.pop(task.id, None)
        if bar is not None:
            self.progress.remove_task(bar)
        self.fraction.pop(task.id, None)
        ok = sum(r.status == "FINISHED" for r in runs)
        self.done += ok
        if not again:
            self.failed += task.size - ok
        self.progress.update(self.overall, completed=min(self.total, self.done),
                             info=f"{self.done}/{self.total} done" + (f", [red]{self.failed} failed[/]"
                                                                      if self.failed else ""))

    def message(self, text: str) -> None:
        self.console.print(text)
