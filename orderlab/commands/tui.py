"""`orderlab tui`: the terminal interface (Textual loads inside the command)."""
from __future__ import annotations

import math
from typing import Optional

import typer

from orderlab.errors import OrderlabError


def register(app: typer.Typer) -> None:

    @app.command(rich_help_panel="Look")
    def tui(
        tracking_uri: Optional[str] = typer.Option(
            None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
            help="MLflow store or server (default sqlite:///./mlruns/mlflow.db)."),
        study: Optional[str] = typer.Option(None, "--study", help="Open this study directly."),
        compare: Optional[str] = typer.Option(None, "--compare", help="With --study: compare it with this "
                                              "study of the same data (the heatmap spans both)."),
        split: str = typer.Option("test", "--split", help="test or train (t switches inside)."),
        refresh: float = typer.Option(2.0, "--refresh", help="Seconds between polls of the store."),
    ) -> None:
        """Browse studies in the terminal: runs, agreement, heatmaps, histograms, order, examples; live."""
        if split not in ("train", "test"):
            raise OrderlabError(f"bad --split {split!r}: use train or test")
        if not 0 < refresh < math.inf:
            raise OrderlabError(f"--refresh must be a positive number of seconds (got {refresh})")
        if compare and not study:
            raise OrderlabError("--compare needs --study (the study to compare it with)")
        if compare and compare == study:
            raise OrderlabError(f"--compare {compare} names the study itself; name another study of the same data")
        if tracking_uri:
            # The TUI waits for a store that is missing or a server that is down; a URI of a form
            # MLflow cannot use never starts working.
            from orderlab.store import uri_form_problem
            problem = uri_form_problem(tracking_uri)
            if problem:
                raise OrderlabError(problem)
        from orderlab.app.app import OrderlabApp
        tui_app = OrderlabApp(tracking_uri, study, refresh=refresh, split=split, compare=compare, exit_on_signal=True)
        tui_app.run()
        if tui_app.return_code == OrderlabApp.TERMINATED:
            typer.echo("interrupted", err=True)
            raise typer.Exit(OrderlabApp.TERMINATED)
