"""Snapshot tests (pytest-textual-snapshot) of each screen and view at 80x24 and 120x40.

Deterministic by construction: fixed run ids and synthetic data (see test_tui_helpers), a
relative store URI, a fixed clock shown in UTC, and no polling while the picture is taken.
Update after a deliberate change of the interface with ``pytest tests/test_tui_snapshots.py
--snapshot-update`` and look at the new pictures (snapshot_report.html) before committing them.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from test_tui_helpers import ALPHA, empty_db, study_ready, tui_store, wait_for  # noqa: F401

pytestmark = pytest.mark.xdist_group("tui")

SMALL, LARGE = (80, 24), (120, 40)


@pytest.fixture
def rel_uri(tui_store, monkeypatch):
    """The shared store by a relative URI (the screen shows it), in UTC (the screen shows a time)."""
    root = Path(tui_store[len("sqlite:///"):]).parents[1]
    monkeypatch.chdir(root)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield "sqlite:///mlruns/mlflow.db"
    monkeypatch.undo()
    time.tzset()


def snapshot(snap_compare, uri, size, keys=(), study=ALPHA):
    from orderlab.app.app import OrderlabApp
    app = OrderlabApp(uri, study=study, refresh=3600, clock=lambda: 0.0)

    async def run_before(pilot):
        if study:
            await wait_for(pilot, lambda: study_ready(pilot.app), what="the study")
        else:
            await wait_for(pilot, lambda: len(pilot.app.known_studies) == 4, what="the studies")
        for k in keys:
            await pilot.press(k)
        await pilot.pause(0.2)

    return snap_compare(app, terminal_size=size, run_before=run_before)


def test_studies_80x24(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, SMALL, study=None)


def test_runs_80x24(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, SMALL)


def test_agreement_120x40(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, LARGE, ["2"])


def test_agreement_80x24(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, SMALL, ["2"])


def test_heatmap_120x40(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, LARGE, ["3"])


def test_heatmap_80x24_early_checkpoint(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, SMALL, ["3", "home", "right_square_bracket"])


def test_histogram_120x40(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, LARGE, ["4"])


def test_order_120x40(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, LARGE, ["5"])


def test_examples_80x24(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, SMALL, ["6"])


def test_help_80x24(snap_compare, rel_uri):
    assert snapshot(snap_compare, rel_uri, SMALL, ["question_mark"])
