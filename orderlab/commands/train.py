"""`orderlab train`, `orderlab demo`, `orderlab archs`, `orderlab datasets`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from orderlab.commands import console
from orderlab.errors import OrderlabError, counted
from orderlab.terminal import say

DEMO_STUDY = "demo-digits"


def _record_every(value: str) -> float:
    try:
        if "/" in value:
            a, b = value.split("/")
            return float(a) / float(b)
        return float(value)
    except (ValueError, ZeroDivisionError):
        raise OrderlabError(f"bad --record-every {value!r}: give epochs as a number, e.g. 1, 0.25 or 1/4") from None


def register(app: typer.Typer) -> None:

    # (help given here: --help keeps a docstring's line breaks, which cut this paragraph mid-sentence)
    @app.command(rich_help_panel="Train", help=(
        "Train networks and record every example's correctness into MLflow.\n\nRunning the same command again "
        "completes the study: networks already FINISHED are skipped, interrupted ones resumed, and a network "
        "already there with other settings is refused."))
    def train(
        ctx: typer.Context,
        arch: List[str] = typer.Option(None, "--arch", "-a", help="Architecture (repeatable): mlp, cnn, st-vgg, "
                                       "resnet18, densenet, vgg, tv:NAME, … (see `orderlab archs`)."),
        dataset: str = typer.Option("digits", "--dataset", "-d", help="Dataset (see `orderlab datasets`)."),
        seeds: str = typer.Option("0-3", "--seeds", "-s", help="Seeds: a range 0-99, a list 0,3,7, one 5 "
                                  "or a mix 0-4,10 (a seed named twice counts once). A seed fixes a network's "
                                  "initialisation and data order."),
        study: Optional[str] = typer.Option(None, "--study", help="Study name (default: DATASET-ARCHS)."),
        epochs: Optional[float] = typer.Option(None, "--epochs", "-e", help="Epochs (default: per architecture)."),
        optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd or adam (AdamW: decoupled weight decay); default: per architecture."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default: per architecture)."),
        momentum: Optional[float] = typer.Option(None, "--momentum", help="SGD momentum (Nesterov); AdamW has none."),
        weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Weight decay (SGD: L2; AdamW: decoupled)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Batch size."),
        augment: Optional[bool] = typer.Option(None, "--augment/--no-augment",
                                               help="Random crop/flip, image data only (default: on for natural images)."),
        record_every: str = typer.Option("1", "--record-every", help="Record correctness every N epochs "
                                         "(fractions such as 0.25 allowed); checkpoint 0 is the untrained net."),
        record_splits: str = typer.Option("train,test", "--record-splits", help="Splits to record: train,test."),
        train_subset: Optional[int] = typer.Option(None, "--train-subset", help="Class-balanced train subset size."),
        test_subset: Optional[int] = typer.Option(None, "--test-subset", help="Class-balanced test subset size."),
        data_seed: int = typer.Option(0, "--data-seed", help="Seed of the subsets (shared by the study)."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where datasets live "
                                                "(default ~/.cache/orderlab/data)."),
        download: bool = typer.Option(False, "--download", help="Download missing datasets (torchvision)."),
        ensemble: int = typer.Option(1, "--ensemble", "-k", help="Train K seeds at once as one vectorised model."),
        resume: Optional[str] = typer.Option(None, "--resume", help="Continue an interrupted run by its run id "
                                             "(or any beginning of it that no other network's id shares)."),
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                                   help="MLflow store or server (default sqlite:///./mlruns/mlflow.db)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no summary: errors "
                                    "only, and an interrupt's line (for scripts)."),
    ) -> None:
        if resume is not None:
            ignored = options_given(ctx, except_for=("resume", "tracking_uri", "quiet", "device"))
            if ignored:
                raise OrderlabError(f"--resume continues a run with the settings it was started with; drop "
                                    f"{', '.join(ignored)} (only --device, --tracking-uri and --quiet go with it)")
            if not resume.strip():
                from orderlab.studydata import suggest_for
                runs = suggest_for(tracking_uri, "orderlab", "runs", "STUDY")
                raise OrderlabError(f"--resume needs a run id; `{runs}` lists them")
            from orderlab.trainer.resume import resume_run
            resume_run(resume.strip(), tracking_uri=tracking_uri, quiet=quiet, device=device)
            return
        from orderlab.trainer.api import TrainConfig, parse_seeds
        archs = list(arch or [])
        if not archs:
            raise OrderlabError("no architecture given; add --arch NAME (see `orderlab archs`)")
        cfg = TrainConfig(
            study=study if study is not None
            else f"{dataset.replace(':', '-').replace('/', '-')}-{'-'.join(archs)}".replace("/", "-"),
            archs=archs, seeds=parse_seeds(seeds), dataset=dataset, epochs=epochs, optimizer=optimizer, lr=lr,
            momentum=momentum, weight_decay=weight_decay, batch_size=batch_size, augment=augment,
            record_every=_record_every(record_every), record_splits=tuple(record_splits.split(",")),
            train_subset=train_subset, test_subset=test_subset, data_seed=data_seed, device=device,
            data_dir=str(data_dir) if data_dir else None, download=download, tracking_uri=tracking_uri,
            quiet=quiet, ensemble=ensemble)
        _run_training(cfg)

    @app.command(rich_help_panel="Train")
    def demo(
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                                   help="MLflow store (default sqlite:///./mlruns/mlflow.db)."),
        seeds: str = typer.Option("0-7", "--seeds", help="Seeds per architecture."),
        epochs: float = typer.Option(4, "--epochs", help="Epochs per network."),
        out: str = typer.Option("orderlab-report", "--out", "--output", "-o", help="Where to write the report."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    ) -> None:
        """The main job: mlp and cnn x 8 seeds on digits, recorded every quarter epoch, then the agreement summary."""
        from orderlab.studydata import folder_option
        from orderlab.trainer.api import TrainConfig, parse_seeds
        folder = folder_option(out, "-o/--out")     # before training: a file in the way wastes it
        cfg = TrainConfig(study=DEMO_STUDY, archs=["mlp", "cnn"], seeds=parse_seeds(seeds), dataset="digits",
                          epochs=epochs, record_every=0.25, device="auto", tracking_uri=tracking_uri, quiet=quiet,
                          # demo has no --study: its study is always demo-digits
                          mismatch_fix=f"{DEMO_STUDY!r} holds an earlier demo; rerun `orderlab demo` with the "
                                       f"settings it had, or run it into another store with "
                                       f"--tracking-uri sqlite:///OTHER/mlflow.db")
        _run_training(cfg)
        _demo_summary(cfg, folder)

    @app.command(rich_help_panel="Train")
    def archs() -> None:
        """List the architectures and learners."""
        from orderlab.trainer.models import arch_specs
        rows = []
        for s in arch_specs():
            hp = s.hyperparameters() if s.kind == "torch" else s.defaults
            shown = ("optimizer", "lr", "batch_size", "epochs") if s.kind == "torch" else ("epochs",)  # no optimizer
            d = ", ".join(f"{k}={v}" for k, v in hp.items() if k in shown)
            rows.append((s.name, s.kind, "/".join(s.inputs), d, s.description))
        rows.append(("tv:NAME", "torch", "image", "", "any torchvision classification model (weights=None)"))
        _listing(("architecture", "kind", "inputs", "defaults", "description"), rows)

    @app.command(rich_help_panel="Train")
    def datasets() -> None:
        """List the datasets."""
        from orderlab.trainer.data import dataset_specs
        _listing(("dataset", "description"),
                 [(s.name + (f":{s.arg_help or 'PATH'}" if s.takes_arg else ""), s.description) for s in dataset_specs()])


def _listing(heads: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """`archs` and `datasets`: a table where it fits whole; narrower (an 80-column terminal cut the
    names a user types, "…,n=30…", and squeezed descriptions to 17 columns), one entry per name:
    the name and its details on one line, the description under it, indented."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    from orderlab.terminal import in_terminal, natural_width
    out = console()
    t = Table(*heads, box=None)
    t.columns[0].no_wrap = True
    for r in rows:
        t.add_row(*r)
    if natural_width(out, t) <= out.width:
        out.print(t)
        return
    for name, *details, description in rows:
        out.print(Text.assemble((name, "bold"), *(f"  {d}" for d in details if d)))
        # wrapped under its indent in a terminal; in a pipe or a file whole on its line
        out.print(Padding(Text(description), (0, 0, 0, 4), expand=False) if in_terminal() else f"    {description}",
                  markup=False)
        out.print()


def options_given(ctx, except_for: tuple[str, ...]) -> list[str]:
    """The options typed on the command line (not defaults, not environment) but for ``except_for``."""
    return [f"--{p.name.replace('_', '-')}" for p in ctx.command.params
            if p.name not in except_for and getattr(ctx.get_parameter_source(p.name), "name", "") == "COMMANDLINE"]


def interrupted_line(tally) -> str:
    """What an interrupted `train` leaves behind, by the statuses its runs really got."""
    from orderlab.errors import kept_clause, name_list
    killed, finished, failed, stale = (tally.with_status(s) for s in ("KILLED", "FINISHED", "FAILED", "STALE"))
    # STALE: failed where the store could not take its end (a tracking server that stopped answering)
    done = kept_clause(len(finished), "before it") + "".join(
        f"; {name_list(n)} {s} (see `orderlab runs`)" for n, s in ((failed, "FAILED"), (stale, "STALE")) if n)
    if killed:
        return (f"interrupted: {name_list(killed)} marked KILLED, recorded checkpoints kept{done}; run the same "
                f"command again to resume and go on")
    if finished or failed or stale:
        ended = ", ".join(f"{name_list(n)} {s}" for n, s in ((finished, "FINISHED"), (failed, "FAILED"),
                                                              (stale, "STALE")) if n)
        return (f"interrupted between networks, after {ended} (kept as recorded); run the same command again to "
                f"train the rest")
    return "interrupted before any network started: no network was recorded; run the same command again to start"


def _run_training(cfg) -> list[str]:
    from orderlab.trainer.api import train_study
    from orderlab.trainer.progress import Reporter, RichReporter, Tally
    reporter = Tally(Reporter() if cfg.quiet else RichReporter())
    from orderlab.store import resolve_tracking_uri, sqlite_path
    uri = resolve_tracking_uri(cfg.tracking_uri)
    # a store made by this command is said so: a mistyped --tracking-uri would go unnoticed
    new = uri.startswith("sqlite:///") and not sqlite_path(uri).exists()
    try:
        with reporter:
            run_ids = train_study(cfg, reporter)
    except KeyboardInterrupt:
        say(interrupted_line(reporter), err=True)
        raise typer.Exit(130) from None
    from orderlab.store import Store
    from orderlab.studydata import suggest
    store = Store(cfg.tracking_uri)
    runs = [store.get_run(r) for r in run_ids if r]     # None: a run the store refused to make
    if not cfg.quiet:
        say(f"recorded {counted(len(run_ids), 'network')} in study {cfg.study!r} ({'new ' if new else ''}store "
            f"{store.uri})")
    failed = [r for r in runs if r.status != "FINISHED"]
    # networks whose run could not even be made (the store refused it): their error was printed above
    made = {r.name for r in runs}
    unstarted = [n for n, s in reporter.ended.items() if s == "FAILED" and n not in made]
    said = []
    if failed:      # the networks' own errors (not the input's): exit 1, as a sweep with failures does
        first = failed[0]
        said.append(f"{counted(len(failed), 'network')} did not finish: {', '.join(f'{r.name} {r.status}' for r in failed)}"
                    f" ({first.name}: {first.error or 'no error recorded'}); see "
                    f"`{suggest(store, 'orderlab', 'runs', cfg.study)}`")
    if unstarted:   # no run to look at: the error is the one the trainer reported
        said.append(f"{counted(len(unstarted), 'network')} could not start a run in the store: {', '.join(unstarted)} "
                    f"({reporter.errors.get(unstarted[0]) or 'no error recorded'})")
    if said:
        say("; ".join(said) + "; fix the cause and run the same command again to resume or start them",
            err=True)
        raise typer.Exit(1)
    return run_ids


def _demo_summary(cfg, out_dir: Path) -> None:
    """Print the agreement summary, write the report and log it as the study's report run."""
    from orderlab.analysis.summary import agreement_summary
    from orderlab.commands.analysis import publish_report
    from orderlab.store import Store, one_run_per_network
    from orderlab.studydata import load_stack
    store = Store(cfg.tracking_uri)
    out = console()
    runs = {r.name: r for r in one_run_per_network(store.list_runs(cfg.study))}
    wanted = [f"{a}/s{s}" for a in cfg.archs for s in cfg.seeds]
    pending = [n for n in wanted if n not in runs or runs[n].status == "RUNNING"]
    if pending:     # left to another command (two demos at once): say what this summary covers
        out.print(f"[yellow]{len(pending)} of the demo's {len(wanted)} networks are still being trained by another "
                  f"command ({', '.join(pending[:4])}{', …' if len(pending) > 4 else ''}): this summary covers what "
                  f"is recorded so far; run `orderlab demo` again once they finish[/]")
    stacks = {s: load_stack(store, cfg.study, s, align="common") for s in cfg.record_splits}
    for line in agreement_summary(stacks["test"]):
        out.print(line)
    md = publish_report(store, cfg.study, stacks, out_dir, title=f"orderlab demo: {cfg.study}")
    out.print(f"report: {md}  (also logged to MLflow as the study's report run: `orderlab ui`)")
