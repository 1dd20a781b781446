"""Resume interrupted network runs from their saved training state.

Every checkpoint saves the run's full training state (``state/state.pt``: model, optimiser,
schedule, RNG states, step = position in the data order; see :mod:`orderlab.trainer.loop`), and
the run's params hold everything needed to rebuild its configuration. Resuming reclaims the same
MLflow run, drops record checkpoints newer than the state (a kill can land between the record
and the state), and continues: on the CPU the result equals an uninterrupted run, bit for bit.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderlab.errors import OrderlabError
from orderlab.store import RunInfo, Store

_CFG_KEYS = ("dataset", "data_dir", "data_seed", "train_subset", "test_subset", "record_splits", "device")


def _value(text: str) -> Any:
    """An MLflow param (a string) back to the Python value it was logged from."""
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass
class ResumePlan:
    info: RunInfo
    cfg: Any                      # TrainConfig rebuilt from the run's params
    spec: Any                     # ArchSpec
    hp: dict[str, Any]


def plan_for(info: RunInfo, tracking_uri: str | None, device: str = "auto") -> ResumePlan:
    """Rebuild the configuration that trained ``info`` from its params."""
    from orderlab.trainer.api import TrainConfig, parse_splits
    from orderlab.trainer.models import get_arch
    p = {k: _value(v) for k, v in info.params.items()}
    missing = [k for k in ("arch", "seed", "dataset", "epochs", "record_every") if k not in p]
    if missing:
        raise OrderlabError(f"run {info.run_id} lacks the params {', '.join(missing)} needed to resume it "
                            f"(was it recorded by another tool?); train the network again instead")
    spec = get_arch(str(p["arch"]))
    hp = spec.hyperparameters()
    for key in list(hp) + ["augment", "record_every"]:
        if key in p:
            hp[key] = p[key]
    cfg = TrainConfig(study=info.study, archs=[str(p["arch"])], seeds=[int(p["seed"])], dataset=str(p["dataset"]),
                      epochs=float(p["epochs"]), record_every=float(p["record_every"]),
                      record_splits=parse_splits(str(p.get("record_splits", "train,test"))),
                      train_subset=p.get("train_subset"), test_subset=p.get("test_subset"),
                      data_seed=int(p.get("data_seed", 0) or 0), data_dir=None if p.get("data_dir") is None else info.params["data_dir"],
                      device=device if device != "auto" else str(p.get("device", "auto")),
                      tracking_uri=tracking_uri, quiet=True)
    return ResumePlan(info, cfg, spec, hp)


def _suggest(store: Store | None, *args: str) -> str:
    """A command naming the store the user named (see studydata.uri_option), or none."""
    from orderlab.studydata import suggest, suggest_for
    return suggest(store, *args) if store else suggest_for(None, *args)


def check_resumable(info: RunInfo, force: bool = False, store: Store | None = None) -> None:
    """Refuse finished runs, replaced ones, and (unless ``force``: the caller knows its process is
    gone) live ones."""
    from orderlab.store import TAG_KIND, TAG_SUPERSEDED
    if info.tags.get(TAG_KIND) != "network":
        raise OrderlabError(f"run {info.run_id} is not a network run of orderlab (a study's parent run?); "
                            f"list the resumable runs with `{_suggest(store, 'orderlab', 'runs', 'STUDY')}`")
    if info.status == "FINISHED":
        read = _suggest(store, "orderlab", "analyze", info.study)
        raise OrderlabError(f"run {info.run_id} ({info.name} in study {info.study!r}) already FINISHED: its record "
                            f"is complete, nothing to resume; `{read}` reads it")
    if info.tags.get(TAG_SUPERSEDED):
        raise OrderlabError(f"run {info.run_id} ({info.name}) was replaced by run {info.tags[TAG_SUPERSEDED]}, "
                            f"which trained its network anew; resume that one if it is unfinished")
    if info.status == "RUNNING" and not force:
        beat = float(info.tags.get("orderlab.heartbeat", info.start_time))
        raise OrderlabError(f"run {info.run_id} ({info.name}) is still RUNNING (pid {info.tags.get('orderlab.pid')} "
                            f"on {info.tags.get('orderlab.host')}, last sign of life {time.time() - beat:.0f}s ago); "
                            f"stop it first, or wait until `{_suggest(store, 'orderlab', 'runs', info.study)}` "
                            f"shows it STALE")


NO_STATE = "it saved no training state"       # why a run cannot continue that never saved one


def load_resume_point(store: Store, info: RunInfo, n_classes: int, tmp: Path):
    """(state, RecordWriter, None) to continue from, or (None, None, why) when the run cannot be
    continued (no training state saved yet, or its state or record unreadable)."""
    from orderlab.record import RecordWriter
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.loop import load_state
    try:
        path = store.state_file(info.run_id, STATE_FILENAME, tmp)
    except Exception as e:  # noqa: BLE001 - any failure to fetch it means: no state to continue from
        return None, None, f"its training state could not be fetched ({type(e).__name__}: {e})"
    if path is None:
        return None, None, NO_STATE
    try:
        state = load_state(path)
    except Exception as e:  # noqa: BLE001 - a damaged file (unpickling, zip or torch errors alike)
        return None, None, f"its training state is unreadable ({type(e).__name__}: {e})"
    try:
        rec = store.load_record(info)
    except Exception as e:  # noqa: BLE001
        return None, None, f"its record is unreadable ({' '.join(str(e).split())})"
    n = int(state.get("checkpoints", 0)) if isinstance(state, dict) else 0
    # The checkpoints the record had not published yet travel in the state (states saved before
    # orderlab published selectively carry none: their record holds every checkpoint).
    try:
        published, carried = state.get("unpublished", (n, [])) if isinstance(state, dict) else (0, [])
        published, carried = int(published), list(carried)
    except (TypeError, ValueError) as e:
        return None, None, f"its training state does not fit its record (unpublished checkpoints: {e})"
    if n < 1 or rec.n_checkpoints < published or published + len(carried) != n:
        return None, None, (f"its training state (checkpoint {n}) does not match its record "
                            f"({rec.n_checkpoints} checkpoints)")
    writer = RecordWriter.resume(tmp / "record.npz", rec, n_classes)
    writer.truncate(published)
    try:
        writer.extend(carried)
    except (ValueError, TypeError, AttributeError) as e:
        return None, None, f"its training state does not fit its record ({e})"
    return state, writer, None


def resume_runs(run_ids: list[str], *, tracking_uri: str | None = None, device: str = "auto", reporter=None,
                ensemble: int = 1, force: bool = False, store: Store | None = None) -> list[str]:
    """Resume ``run_ids`` (STALE, KILLED or FAILED); returns the runs that hold their networks now.
    A run that recorded nothing yet restarts from checkpoint 0 in the same run. A run that recorded
    checkpoints but cannot be continued (its training state or record missing or damaged) is left
    exactly as it is, marked superseded, and its network trained anew in a new run: nothing recorded
    is ever overwritten. With ``ensemble`` > 1, runs of one architecture and study saved at the same
    step continue together as vectorised ensembles."""
    from orderlab.trainer.api import stream_setting
    from orderlab.trainer.progress import Reporter
    stream_setting()                      # a bad ORDERLAB_STREAM_DATA: said before anything is touched
    reporter = reporter or Reporter()
    store = store or Store(tracking_uri, must_exist=True)
    infos = [store.get_run(r) for r in run_ids]
    for info in infos:
        check_resumable(info, force, store)
    plans = [plan_for(i, store.uri, device) for i in infos]
    done: list[str] = []
    # One dataset and study context per distinct data configuration.
    groups: dict[tuple, list[ResumePlan]] = {}
    for pl in plans:
        key = (pl.info.study,) + tuple(getattr(pl.cfg, k) for k in _CFG_KEYS)
        groups.setdefault(key, []).append(pl)
    from orderlab.trainer.api import frozen_gc
    with frozen_gc():
        for members in groups.values():
            done += _resume_group(store, members, reporter, ensemble)
    return done


def _resume_group(store: Store, plans: list[ResumePlan], reporter, ensemble: int) -> list[str]:
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.ensemble import fallback_reason
    from orderlab.trainer.run import prepare_study
    cfg0 = plans[0].cfg
    ds = load_dataset(cfg0.dataset, data_dir=cfg0.data_dir, train_subset=cfg0.train_subset,
                      test_subset=cfg0.test_subset, data_seed=cfg0.data_seed)
    ctx = prepare_study(store, cfg0.study, ds, cfg0.record_splits)
    data = None
    if any(pl.spec.kind == "torch" for pl in plans):
        from orderlab.trainer.loop import make_device_data, resolve_device
        data = make_device_data(ds, resolve_device(cfg0.device))
    reporter.study_started(cfg0.study, len(plans), cfg0.dataset, str(data.device) if data else "cpu")
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="orderlab-resume-") as tmp_root:
        points = []
        for i, pl in enumerate(plans):
            tmp = Path(tmp_root) / str(i)
            tmp.mkdir()
            store.remove_partial_files(pl.info.run_id, pl.info.artifact_uri)   # a killed writer's temporary files
            state, writer, why = (load_resume_point(store, pl.info, ds.n_classes, tmp) if pl.spec.kind == "torch"
                                  else (None, None, NO_STATE))
            if state is None and _trained_steps_recorded(store, pl.info):
                out.append(_train_anew(ctx, pl, why, ds, data, reporter))
                continue
            if state is None and pl.spec.kind == "torch" and why != NO_STATE:
                # restarts in its run, losing nothing; a state that was there but is not used: say why
                reporter.message(f"[yellow]{pl.info.arch}/s{pl.info.seed} (run {pl.info.run_id[:8]}) restarts from "
                                 f"the start: {why}[/] (it had recorded no trained checkpoint)")
            points.append((pl, state, writer))
        blockers: dict[str, str | None] = {}    # per architecture: the probe trains one step
        for batch in _ensemble_batches(points, ensemble):
            if len(batch) > 1:
                pl0 = batch[0][0]
                if pl0.info.arch not in blockers:
                    blockers[pl0.info.arch] = fallback_reason(pl0.info.arch, pl0.spec, ctx.dataset, data, pl0.hp,
                                                              ensemble, reporter)
                if blockers[pl0.info.arch] is None:
                    out += _resume_vectorised(ctx, batch, data, reporter)
                    continue
            for point in batch:
                out.append(_resume_alone(ctx, point, ds, data, reporter))
    return out


def _trained_steps_recorded(store: Store, info: RunInfo) -> bool:
    """Whether the run's record holds a checkpoint after training began, so that a run without a
    usable training state must be kept as it is (its network trained anew in a new run). A record of
    checkpoint 0 alone (the untrained network: killed before its first state was written) or none
    can restart in place, losing nothing, unless the run logged metrics of later checkpoints: those
    were recorded, but their record was not published yet, and the lost state carried it. The
    record and metrics decide, not the checkpoints tag, which names only what was published and is
    written every 2 s. A record that exists but cannot be read (damaged, or a download that failed)
    counts as trained: it is kept untouched."""
    try:
        rec = store.load_record(info)
    except Exception:  # noqa: BLE001 - absent (nothing to overwrite), or unreadable (keep it)
        return store.record_exists(info) is not False
    return any(int(s) > 0 for s in rec.step) or any(s > 0 for s in store.metric_steps(info.run_id, "epoch"))


def _where(state: dict | None, writer) -> str:
    """Where a resume starts, for a reader: the epoch of the checkpoint its state was
    saved at, as tables show progress, with the optimiser step (the state holds its record up to
    that checkpoint)."""
    if not state:
        return "the start"
    if writer is None or not writer.n_checkpoints:
        return f"step {state['step']}"
    return f"epoch {writer.last_epoch:g} (step {state['step']})"


def _resume_alone(ctx, point: tuple, ds, data, reporter) -> str:
    from orderlab.trainer.api import train_in_run, train_one
    from orderlab.trainer.run import NetworkRun
    pl, state, writer = point
    info = pl.info
    name = f"{info.arch}/s{info.seed}"
    reporter.message(f"resuming {name} (run {info.run_id[:8]}) from {_where(state, writer)}")
    run = NetworkRun(ctx, info.arch, info.seed, {}, float(pl.hp["epochs"]), run_id=info.run_id, writer=writer,
                     unflushed=state.get("metrics") if state else None)
    train_in_run(run, name, reporter, lambda: train_one(run, pl.spec, info.arch, info.seed, pl.hp, ds, data,
                                                        pl.cfg.record_splits, reporter.network_progress,
                                                        resume_state=state), failed="failed again")
    return info.run_id


def _train_anew(ctx, pl: ResumePlan, why: str, ds, data, reporter) -> str:
    """A run that recorded checkpoints but cannot be continued: its network is trained from the
    start in a new run with the same params, and the old run is kept untouched but for a tag
    naming its replacement (analysis takes one run per network; see store.one_run_per_network)."""
    from orderlab.trainer.api import train_in_run, train_one
    from orderlab.trainer.run import NetworkRun
    info = pl.info
    name = f"{info.arch}/s{info.seed}"
    reporter.message(f"[yellow]{name} (run {info.run_id[:8]}) cannot be resumed: {why}.[/] Its "
                     f"{info.checkpoints} recorded checkpoints are kept; training it anew in a new run")
    # The old run's params, but for how this training runs: alone (whatever ensemble the old run
    # trained in) and on the device this resume asked for.
    params = {k: v for k, v in info.params.items() if k != "ensemble"}
    params["device"] = pl.cfg.device
    run = NetworkRun(ctx, info.arch, info.seed, params, float(pl.hp["epochs"]))

    def train():
        ctx.store.supersede(info.run_id, run.run_id, why)
        return train_one(run, pl.spec, info.arch, info.seed, pl.hp, ds, data, pl.cfg.record_splits,
                         reporter.network_progress)
    train_in_run(run, name, reporter, train)
    return run.run_id


def _ensemble_batches(points: list[tuple], ensemble: int) -> list[list[tuple]]:
    """Group resume points that can continue as one vectorised ensemble (same architecture, same
    hyperparameters, same step); the rest continue one at a time."""
    if ensemble <= 1:
        return [[p] for p in points]
    buckets: dict[tuple, list[tuple]] = {}
    singles: list[list[tuple]] = []
    for p in points:
        pl, state, _ = p
        if pl.spec.kind != "torch":
            singles.append([p])
            continue
        key = (pl.info.arch, tuple(sorted((k, str(v)) for k, v in pl.hp.items())),
               int(state["step"]) if state else 0)
        buckets.setdefault(key, []).append(p)
    out = []
    for group in buckets.values():
        out += [group[i:i + ensemble] for i in range(0, len(group), ensemble)]
    return out + singles


def _resume_vectorised(ctx, batch: list[tuple], data, reporter) -> list[str]:
    from orderlab.trainer.ensemble import train_group
    pl0 = batch[0][0]
    states = [s for _, s, _ in batch]
    fresh = any(s is None for s in states)
    seeds = [pl.info.seed for pl, _, _ in batch]
    reporter.message(f"resuming {len(batch)} {pl0.info.arch} networks together from "
                     f"{'the start' if fresh else _where(states[0], batch[0][2])}")
    return train_group(pl0.cfg, ctx, pl0.info.arch, pl0.spec, seeds, pl0.hp, data, reporter,
                       run_ids=[pl.info.run_id for pl, _, _ in batch],
                       resume_states=None if fresh else states,
                       writers=None if fresh else [w for _, _, w in batch])


def _interrupted_line(tally, info) -> str:
    """What an interrupted `train --resume` leaves behind, by the status the run really got."""
    status = tally.ended.get(info.name)
    if status == "FINISHED":       # the interrupt came as the finished run was being closed
        return f"interrupted as {info.name} finished: it is recorded FINISHED; nothing is left to resume"
    if status is None:
        return (f"interrupted before {info.name} restarted: the run is as it was ({info.status}); resume it "
                f"with `orderlab train --resume {info.run_id}`")
    now = tally.run_ids.get(info.name, info.run_id)     # a run that could not resume is trained anew in another
    return (f"interrupted: {info.name} is marked {status}, its recorded checkpoints kept; resume it again with "
            f"`orderlab train --resume {now}`")


def resume_run(run_id: str, *, tracking_uri: str | None = None, quiet: bool = False, device: str = "auto") -> str:
    """`orderlab train --resume RUN_ID`."""
    from orderlab.trainer.api import stream_setting
    from orderlab.trainer.progress import Reporter, RichReporter, Tally
    from orderlab.claims import Claims
    stream_setting()
    reporter = Tally(Reporter() if quiet else RichReporter())
    store = Store(tracking_uri, must_exist=True)     # a run to resume lives in a store: never make one
    info = store.get_run(run_id)
    try:
        with Claims(store, info.study) as claims, reporter:
            busy = claims.take([(info.arch, info.seed)])
            if busy:
                raise OrderlabError(f"{info.name} of study {info.study!r} is being trained or resumed by "
                                    f"{busy[(info.arch, info.seed)]}; wait for it to end, then see "
                                    f"`{_suggest(store, 'orderlab', 'runs', info.study)}`")
            # read again with the claim held (resume_runs does), so no other command can change it meanwhile
            ids = resume_runs([info.run_id], device=device, reporter=reporter, store=store)
    except KeyboardInterrupt:
        import typer

        from orderlab.terminal import say
        say(_interrupted_line(reporter, info), err=True)
        raise typer.Exit(130) from None
    now = ids[0] if ids else info.run_id
    info = store.get_run(now)
    if not quiet:
        from orderlab.terminal import say
        say(f"run {now} ({info.name} in study {info.study!r}): {info.status}, {info.checkpoints} checkpoints")
    if info.status != "FINISHED":
        raise OrderlabError(f"run {now} ({info.name}) ended {info.status}: {info.error or 'see the log above'}; "
                            f"fix the cause, then resume it again with `orderlab train --resume {now}`")
    return now
