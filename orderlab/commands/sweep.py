"""`orderlab sweep`: train a study as many runs in parallel (local worker processes or Ray)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from orderlab.errors import OrderlabError, counted, kept_clause
from orderlab.terminal import say


# What `sweep --resume STUDY` takes: where and how to run, never what to train.
RESUME_OPTIONS = ("resume", "executor", "workers", "gpus_per_run", "cpus_per_run", "ray_address", "ensemble",
                  "device", "tracking_uri", "quiet")


def register(app: typer.Typer) -> None:

    @app.command(rich_help_panel="Train")
    def sweep(
        ctx: typer.Context,
        arch: List[str] = typer.Option(None, "--arch", "-a", help="Architecture (repeatable), as for `train`."),
        dataset: str = typer.Option("digits", "--dataset", "-d", help="Dataset (see `orderlab datasets`)."),
        seeds: str = typer.Option("0-3", "--seeds", "-s", help="Seeds: a range 0-99, a list 0,3,7, one 5 "
                                  "or a mix 0-4,10 (a seed named twice counts once)."),
        study: Optional[str] = typer.Option(None, "--study", help="Study name (default: DATASET-ARCHS)."),
        executor: str = typer.Option("local", "--executor", help="local (worker processes here) or ray."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Runs at once (default: one per CPU "
                                              "core (per --cpus-per-run cores); with CUDA GPUs one per GPU, or "
                                              "per GPU share with --gpus-per-run)."),
        gpus_per_run: float = typer.Option(0.0, "--gpus-per-run", help="GPU share of one run, e.g. 0.25: four "
                                           "runs share a GPU (Ray: the task's num_gpus)."),
        cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="CPU cores of one run (Ray: num_cpus)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="A Ray cluster (e.g. auto or "
                                                  "ray://HOST:10001); default: start a local Ray instance."),
        ensemble: int = typer.Option(1, "--ensemble", "-k", help="Each task trains K seeds as one vectorised model."),
        resume: Optional[str] = typer.Option(None, "--resume", help="Resume every interrupted run of this study "
                                             "(STALE, KILLED or FAILED) and start the networks its sweeps and trains "
                                             "planned but never reached, with their settings."),
        epochs: Optional[float] = typer.Option(None, "--epochs", "-e", help="Epochs (default: per architecture)."),
        optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd or adam (AdamW: decoupled weight decay); default: per architecture."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
        momentum: Optional[float] = typer.Option(None, "--momentum", help="SGD momentum (Nesterov); AdamW has none."),
        weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Weight decay (SGD: L2; AdamW: decoupled)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Batch size."),
        augment: Optional[bool] = typer.Option(None, "--augment/--no-augment", help="Random crop/flip (image data only)."),
        record_every: str = typer.Option("1", "--record-every", help="Record correctness every N epochs."),
        record_splits: str = typer.Option("train,test", "--record-splits", help="Splits to record."),
        train_subset: Optional[int] = typer.Option(None, "--train-subset", help="Class-balanced train subset size."),
        test_subset: Optional[int] = typer.Option(None, "--test-subset", help="Class-balanced test subset size."),
        data_seed: int = typer.Option(0, "--data-seed", help="Seed of the subsets."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N (on each worker)."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where datasets live (on each worker)."),
        download: bool = typer.Option(False, "--download", help="Download missing datasets (torchvision)."),
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                                   help="MLflow store or server; every worker must reach it "
                                                        "(a server for clusters)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars; the summary only."),
    ) -> None:
        """Train a study as many runs in parallel; failed runs are retried once, then listed."""
        from orderlab.commands.train import _record_every
        from orderlab.trainer.api import TrainConfig, parse_seeds
        from orderlab.trainer.sweep import DRAIN_SECONDS, RichDisplay, SilentDisplay, SweepOptions, run_sweep
        archs = list(arch or [])
        if resume and archs:
            raise OrderlabError("--resume STUDY resumes that study's interrupted runs; drop --arch "
                                "(or rerun the original sweep command, which also resumes them)")
        if resume:
            from orderlab.commands.train import options_given
            ignored = options_given(ctx, except_for=RESUME_OPTIONS)
            if ignored:
                raise OrderlabError(f"--resume continues each run with the settings it was started with; drop "
                                    f"{', '.join(ignored)} (only where and how to run go with it: "
                                    f"{', '.join('--' + o.replace('_', '-') for o in RESUME_OPTIONS[1:])})")
        if not resume and not archs:
            raise OrderlabError("no architecture given; add --arch NAME (see `orderlab archs`)")
        name = study or f"{dataset.replace(':', '-').replace('/', '-')}-{'-'.join(archs)}".replace("/", "-")
        cfg = TrainConfig(
            study=resume or name, archs=archs, seeds=parse_seeds(seeds) if not resume else [],
            dataset=dataset, epochs=epochs, optimizer=optimizer, lr=lr, momentum=momentum,
            weight_decay=weight_decay, batch_size=batch_size, augment=augment,
            record_every=_record_every(record_every), record_splits=tuple(record_splits.split(",")),
            train_subset=train_subset, test_subset=test_subset, data_seed=data_seed, device=device,
            data_dir=str(data_dir) if data_dir else None, download=download, tracking_uri=tracking_uri,
            quiet=True, ensemble=ensemble)
        if ensemble < 1:
            raise OrderlabError(f"--ensemble must be at least 1 (got {ensemble})")
        opts = SweepOptions(executor=executor, workers=workers, gpus_per_run=gpus_per_run,
                            cpus_per_run=cpus_per_run, ray_address=ray_address)
        display = SilentDisplay() if quiet else RichDisplay()
        began = time.time()
        try:
            result = run_sweep(cfg, opts, resume_study=resume, display=display)
        except KeyboardInterrupt as e:
            from orderlab.studydata import suggest_for
            unstopped = getattr(e, "unstopped", [])
            if unstopped:
                say(f"interrupted: the worker{'s' if len(unstopped) > 1 else ''} training {', '.join(unstopped)} had not stopped after "
                    f"{DRAIN_SECONDS:g} s, so those networks stay RUNNING and show as STALE once the "
                    f"workers are gone; any others that were training are marked KILLED; continue all of them with "
                    f"`{suggest_for(tracking_uri, 'orderlab', 'sweep', '--resume', cfg.study)}`", err=True)
            else:
                say(_interrupted_line(cfg, tracking_uri, began, bool(resume), getattr(e, "dispatched", True)),
                    err=True)
            raise typer.Exit(130) from None
        for note in result.plan_notes:        # on stderr, --quiet or not: networks left untrained
            say(f"warning: {note}", err=True)
        _summary(result, tracking_uri)
        if result.failed:
            raise typer.Exit(1)


def _interrupted_line(cfg, tracking_uri: str | None, began: float, resuming: bool, dispatched: bool = True) -> str:
    """What an interrupted sweep left, read back from the store: the runs its workers marked KILLED
    and those that finished meanwhile (an interrupt can land as a run is being closed: FINISHED).
    ``tracking_uri``: as the user gave it, for the command suggested (the sweep made
    ``cfg.tracking_uri`` absolute); ``dispatched``: whether the sweep had handed any network to its workers."""
    import warnings
    from orderlab.errors import name_list
    from orderlab.studydata import suggest_for
    # --resume continues the interrupted runs and starts those the sweep never reached, once the
    # sweep kept its plan (it does when planning is done); before that, only the command itself can
    again = f"continue with `{suggest_for(tracking_uri, 'orderlab', 'sweep', '--resume', cfg.study)}`"
    try:
        with warnings.catch_warnings():     # MLflow's import, cut short by the interrupt, warns when retried
            warnings.simplefilter("ignore")
            from orderlab.store import Store
            store = Store(cfg.tracking_uri)
        if not store.has_study(cfg.study):
            return "interrupted before the study was made: nothing was recorded; run the same command again"
        if not resuming and not any(set(cfg.archs) <= set(p["archs"]) and set(cfg.seeds) <= set(p["seeds"])
                                    for _, p in store.sweep_plans(cfg.study)[0]):
            again = "run the same sweep command again to go on"
        # this sweep's networks (a new sweep knows them; a resume, those of the study), ended since it began
        ours = None if resuming else {f"{a}/s{s}" for a in cfg.archs for s in cfg.seeds}
        runs = store.list_runs(cfg.study)
        ended = [r for r in runs if r.end_time is not None and r.end_time >= began - 1
                 and (ours is None or r.name in ours)]
        # every network of the sweep finished before the interrupt took (short networks, or a
        # SIGTERM to the sweep's process alone, which lets running ones end): nothing to continue
        finished_names = {r.name for r in runs if r.status == "FINISHED"}
        if ours is not None:
            complete = ours <= finished_names
        else:
            from orderlab.studydata import unstarted_networks
            complete = bool(runs) and {r.name for r in runs} <= finished_names and \
                not unstarted_networks(store, cfg.study, runs)
    except Exception:  # noqa: BLE001 - the store unreadable now: say what a sweep does on Ctrl-C
        if not dispatched:      # e.g. while MLflow was being imported: no network had started
            return "interrupted before any network started: nothing was trained; run the same command again"
        return f"interrupted: running networks are marked KILLED; {again}"
    killed = sorted(r.name for r in ended if r.status == "KILLED")
    finished = [r for r in ended if r.status == "FINISHED"]
    done = kept_clause(len(finished), "in this sweep")
    if killed:
        return f"interrupted: {name_list(killed)} marked KILLED, recorded checkpoints kept{done}; {again}"
    if complete:
        n = len(ours) if ours is not None else len(finished_names)
        return (f"interrupted as the sweep ended: {'its network is' if n == 1 else f'all {n} of its networks are'} "
                f"recorded FINISHED; nothing is left to resume")
    return f"interrupted while no network was being trained{done}; {again}"


def _summary(result, tracking_uri: str | None = None) -> None:
    from orderlab.studydata import suggest_for
    from orderlab.terminal import make_console
    from rich.table import Table
    console = make_console()
    if result.resume and not result.outcomes:
        left = (f"; {len(result.left)} left to other commands ({', '.join(result.left[:5])}"
                f"{', …' if len(result.left) > 5 else ''})") if result.left else ""
        # networks left to other commands may be interrupted ones they hold, and plans not started
        # name networks never started: "none" only without either
        none = "" if result.left or result.plan_notes else ", none STALE, KILLED, FAILED or never started"
        if result.plan_notes:
            left += (f"; {len(result.plan_notes)} plan note{'s' if len(result.plan_notes) > 1 else ''} above: "
                     f"networks planned and not started")
        console.print(f"sweep {result.study}: nothing to resume; {counted(len(result.skipped), 'network')} FINISHED"
                      f"{none}{left}")
        return
    ok = [o for o in result.outcomes if o.status == "FINISHED"]
    if result.failed:
        t = Table("network", "run id", "status", "tries", "why", title=f"failed in sweep {result.study}")
        for o in result.failed:
            t.add_row(o.name, (o.run_id or "-")[:12], o.status, str(o.attempts), (o.error or "")[:200])
        console.print(t)
    rate = len(ok) / result.seconds * 60 if result.seconds > 0 else 0.0
    again = [o.name for o in ok if o.attempts > 1]     # why their first try failed was said as it happened
    retried = (f" ({len(again)} on a second try: {', '.join(again[:5])}{', …' if len(again) > 5 else ''})"
               if again else "")
    console.print(f"sweep {result.study}: {len(ok)} finished{retried}, {len(result.failed)} failed, "
                  f"{len(result.skipped)} already done"
                  + (f", {len(result.left)} left to other commands ({', '.join(result.left[:5])}"
                     f"{', …' if len(result.left) > 5 else ''})" if result.left else "")
                  + f"; {result.seconds:.1f}s" + (f" ({rate:.1f} networks/min)" if ok else "")
                  + (f"; retry with `{suggest_for(tracking_uri, 'orderlab', 'sweep', '--resume', result.study)}`"
                     if result.failed else ""))
