"""`orderlab reproduce`: the paper's experiments from recipe files, ending with one report of verdicts."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from orderlab.errors import OrderlabError
from orderlab.terminal import say


def register(app: typer.Typer) -> None:

    @app.command(rich_help_panel="Analyse")
    def reproduce(
        scale: str = typer.Option("demo", "--scale", help="demo (3–5 min on 2 CPU cores) or paper (100 networks "
                                  "per architecture: a GPU or a cluster)."),
        only: List[str] = typer.Option(None, "--only", help="Run only this recipe (repeatable; see --list)."),
        recipe: List[Path] = typer.Option(None, "--recipe", help="Your own recipe file (repeatable) instead of "
                                          "the built-in ones (see docs/paradigms.md)."),
        out: Optional[str] = typer.Option(None, "--out", "--output", "-o", help="Report folder (default reproduce-SCALE)."),
        list_: bool = typer.Option(False, "--list", help="List the recipes and their studies, train nothing."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where datasets live."),
        download: bool = typer.Option(False, "--download", help="Download missing datasets."),
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                                   help="MLflow store (default sqlite:///./mlruns/mlflow.db)."),
        study_reports: bool = typer.Option(True, "--study-reports/--summary-only",
                                           help="Also write `orderlab report` of every study (figures)."),
        log_reports: bool = typer.Option(True, "--log/--no-log", help="Log each study's report to MLflow as its "
                                         "report run (as `orderlab report` does), so the MLflow UI shows the "
                                         "figures."),
        threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: 1 at "
                                              "demo scale, whose small networks train fastest so)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    ) -> None:
        """Run the paper's experiments (recipes/*.toml) as studies and write one report with a verdict per claim.

        Networks already finished in the store with the same settings are reused."""
        from orderlab.reproduce import reproduce as run, select_recipes
        from orderlab.studydata import folder_option
        folder = None if out is None else folder_option(out, "-o/--out")
        if threads is not None and threads < 1:
            raise OrderlabError(f"--threads must be at least 1 (got {threads})")
        if list_:
            for r in select_recipes(scale, only, recipe):
                say(f"{r.name}: {r.title}  ({r.path})")
                for p in r.studies:
                    say(f"    {p.study}: {', '.join(p.archs)} x seeds {p.seeds} on {p.dataset}")
                if r.left_out:
                    say(f"    not at --scale {scale}: {', '.join(r.left_out)}")
            return
        try:
            path = run(scale, only, recipe, folder, tracking_uri=tracking_uri, device=device,
                       data_dir=str(data_dir) if data_dir else None, download=download, quiet=quiet,
                       study_reports=study_reports, threads=threads, log_reports=log_reports,
                       log=say)
        except KeyboardInterrupt:
            say("interrupted: finished networks are kept; run the same command to go on", err=True)
            raise typer.Exit(130) from None
        typer.echo(f"report: {path}")
