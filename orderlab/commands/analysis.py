"""`orderlab analyze`, `orderlab report`, `orderlab examples`: the agreement analysis of studies."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import List, Optional

import typer

from orderlab.errors import OrderlabError, counted, epoch_text
from orderlab.terminal import say

URI_OPTION = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                          help="MLflow store or server (default sqlite:///./mlruns/mlflow.db).")
INTERRUPTED_OPTION = typer.Option(
    False, "--include-interrupted", help="Also take networks that stopped before finishing (KILLED, FAILED, "
    "STALE) as they stand; by default they are left out, and named.")
ALIGN_HELP = ("common (default): analyse the checkpoints all networks share (a live study's runs may be at "
              "different points); strict: refuse networks whose checkpoints differ.")
SPLITS = ("test", "train")


def _check(split: str | None, align: str) -> None:
    if split is not None and split not in SPLITS:
        raise OrderlabError(f"unknown split {split!r}; use test or train")
    if align not in ("strict", "common"):
        raise OrderlabError(f"bad --align {align!r}: use strict or common")


def load_stacks(store, studies: list[str], splits: list[str] | None, align: str = "common",
                archs: list[str] | None = None, other_split: str = "use --split {split}, which all {n} recorded",
                arch_option: bool = False, left_out: list[str] | None = None, interrupted: bool = False) -> dict:
    """split -> Stack of the given studies (several studies of the same data are stacked together;
    different data is refused). ``splits=None``: every split all networks recorded; ``left_out``
    (a list) then gets a note for each split only some of them recorded. ``other_split`` and
    ``arch_option`` (the command has --arch): what the message suggests when some network lacks a
    split (see :func:`orderlab.studydata.check_split`). Networks that stopped before finishing are
    left out (with a note on each stack) unless ``interrupted``."""
    from orderlab.analysis.stack import Stack
    from orderlab.studydata import (check_same_data, check_split, leave_out_interrupted, load_records, no_network_yet,
                                    runs_of_archs, suggest, unrecorded_notes, unstarted_note)
    twice = sorted({s for s in studies if studies.count(s) > 1})
    if twice:
        raise OrderlabError(f"study {', '.join(map(repr, twice))} is named more than once; name each study once "
                            f"(its networks would count twice)")
    # with --arch, only those architectures' records are read (studies left without any dropped)
    runs = runs_of_archs(store, studies, archs) if archs else None
    loaded, notes = [], []
    for study in studies:
        mine = runs[study] if runs is not None else store.list_runs(study)
        pairs = load_records(store, study, mine)
        if not pairs and runs is None:
            raise no_network_yet(store, study, mine)
        if pairs:
            loaded.append((study, pairs))
            # a study still training: what is analysed is what has been recorded so far
            pending = unstarted_note(store, study, mine, archs)
            notes += [pending] if pending else []
            notes += unrecorded_notes(store, study, mine, pairs, named=len(studies) > 1)
    if not loaded:      # --arch: their runs were found, yet no record could be read (the store let them go)
        raise OrderlabError(f"no record of architecture {', '.join(archs)} can be read in {', '.join(studies)}; "
                            f"`{suggest(store, 'orderlab', 'runs', 'STUDY')}` shows their runs")
    if not interrupted:         # after --arch: only the networks asked for are named
        loaded = [(study, leave_out_interrupted(store, study, pairs, notes)) for study, pairs in loaded]
    if len(loaded) > 1:
        loaded = _count_copies_once(loaded, notes)
    if left_out is not None:            # said once, with the command's other notes, not on every split
        left_out.extend(notes)
        notes = []
    if splits is None:
        recs = [rec for _, pairs in loaded for _, rec in pairs]
        splits = [s for s in SPLITS if all(s in rec.splits for rec in recs)]
        for s in SPLITS:
            k = sum(s in rec.splits for rec in recs)
            if 0 < k < len(recs) and left_out is not None:
                left_out.append(f"the {s} split is left out: only {k} of the {len(recs)} networks recorded it "
                                f"(`--split {s}` names the others and what to do)")
        if not splits:
            raise OrderlabError("the networks share no recorded split (test or train); train them with the "
                                "same --record-splits")
    out = {}
    for split in splits:
        check_split(loaded, split, other_split=other_split, arch_option=arch_option, store=store)
        parts = [Stack.from_records([(r.stack_info, rec) for r, rec in pairs], split, align=align, study=study)
                 for study, pairs in loaded]
        if len(parts) > 1:
            check_same_data(store, parts)
        st = parts[0] if len(parts) == 1 else Stack.concat(parts, align=align)
        if len(studies) > 1:        # named as asked, also where a study's networks all counted from another
            st.study, st.studies = "+".join(studies), tuple(studies)
        if archs:
            st = st.select(sum((list(st.arch_index(a)) for a in archs), []))
        st.warnings[:0] = notes
        out[split] = st
    return out


def _count_copies_once(loaded: list, notes: list[str]) -> list:
    """Drop a later study's copies of networks an earlier study holds (same architecture, seed, data
    and training settings), with a note: pooled twice, copies agree (nearly) perfectly and make the
    networks look far more alike than independent ones. Records of different data are no copies
    (and are refused further on). Networks drawn from one seed but trained otherwise are kept, with
    a note (``store.siblings_across``)."""
    from orderlab.errors import name_list
    from orderlab.store import copies_across
    rec_of = {r.run_id: rec for _, pairs in loaded for r, rec in pairs}
    study_of = {r.run_id: study for study, pairs in loaded for r, _ in pairs}

    def same_data(a, b) -> bool:
        ra, rb = rec_of[a.run_id], rec_of[b.run_id]
        shared = set(ra.splits) & set(rb.splits)
        return bool(shared) and all(ra.splits[s].fingerprint == rb.splits[s].fingerprint for s in shared)
    from orderlab.store import siblings_across
    from orderlab.studydata import sibling_note

    def note_siblings(kept: list) -> list:
        # among the networks analysed: a copy dropped below is not one of them
        note = sibling_note([(a, b, d) for a, b, d in siblings_across([r for r, _ in pairs] for _, pairs in kept)
                             if same_data(a, b)])
        if note:
            notes.append(note)
        return kept
    copies = [(c, o) for c, o in copies_across([r for r, _ in pairs] for _, pairs in loaded) if same_data(c, o)]
    if not copies:
        return note_siblings(loaded)
    dropped = {c.run_id for c, _ in copies}
    by_pair: dict[tuple[str, str], list[str]] = {}
    for c, o in copies:
        by_pair.setdefault((study_of[c.run_id], study_of[o.run_id]), []).append(c.name)
    for (copy_study, first), names in by_pair.items():
        notes.append(f"{len(names)} network{'s' if len(names) != 1 else ''} of study {copy_study!r} "
                     f"({name_list(names)}) {'are' if len(names) != 1 else 'is'} the same as in study {first!r} "
                     f"(same architecture, seed, data and training settings: not independent networks); each is "
                     f"counted once, from {first!r}")
    out = [(study, [(r, rec) for r, rec in pairs if r.run_id not in dropped]) for study, pairs in loaded]
    return note_siblings([(study, pairs) for study, pairs in out if pairs])


def _fmt(x, spec: str = ".3f") -> str:
    from orderlab.errors import unsigned_zero
    return "–" if x is None else unsigned_zero(format(x, spec))


def _ci(lo, hi) -> str:
    return "" if lo is None or hi is None else f" [dim][{_fmt(lo, '.2f')}, {_fmt(hi, '.2f')}][/dim]"


TABLE_ROWS = 12      # checkpoints the over-training tables show at most (plus the one --checkpoint marks)


CURVE_COLUMNS = ("accuracy", "TPA", "95% interval", "independent", "Jaccard", "TV", "Sarle")


def _curve_table(g: dict, unit: str, epochs: list, rows: list[int], chosen: int,
                 independent: str = "independent", columns: tuple[str, ...] = CURVE_COLUMNS):
    """One group's curves over training at the checkpoints ``rows``, ``chosen`` marked; ``columns``:
    those of CURVE_COLUMNS to show, after the position."""
    from rich.table import Table
    t = Table()
    # --no-intervals leaves every bound null: no interval column rather than a column of dashes
    if not any(v is not None for v in g["tpa_lo"]):
        columns = tuple(c for c in columns if c != "95% interval")
    # each architecture's own positions (a learner's stages, a network's epochs); both, in a
    # header of two lines that leaves the other headers whole at 80 columns
    t.add_column(g.get("unit", unit).replace("/", "/\n"), justify="right")
    for col in columns:
        # the interval ("0.93–0.99") in 9 columns, its header on two lines: at 80 columns Rich
        # gave it 10 and cut "independent" to "independe…"
        t.add_column(independent if col == "independent" else col, justify="right",
                     max_width=9 if col == "95% interval" else None)
    at = g.get("epoch") or epochs          # its own positions (another batch size records apart)
    for e in rows:
        lo, hi = g["tpa_lo"][e], g["tpa_hi"][e]
        cells = {"accuracy": _fmt(g["accuracy"][e]), "TPA": _fmt(g["tpa"][e]),
                 "95% interval": "–" if lo is None or hi is None else f"{lo:.2f}–{hi:.2f}",
                 "independent": _fmt(g["tpa_independent"][e]), "Jaccard": _fmt(g["jaccard"][e]),
                 "TV": _fmt(g["bimodality_tv"][e], ".2f"), "Sarle": _fmt(g["sarle"][e], ".2f")}
        t.add_row(epoch_text(at[e]) + (" ◂" if e == chosen else ""), *(cells[c] for c in columns))
    return t


def _curve_tables(g: dict, unit: str, epochs: list, rows: list[int], chosen: int, console) -> list:
    """The group's curve table, or two where one does not fit: with an interval column and positions
    such as "0.512 ◂", one column too many for 80, Rich cut "independent" to "independe…" (its
    header then goes on two lines); under about 75, it cut every interval to "0.13–0…" (the
    agreement columns then go to a second table, under the first); under about 50, it cut the
    first table's (then each table holds the columns that fit beside the position)."""
    from orderlab.terminal import natural_width

    def table(columns=CURVE_COLUMNS, independent="indep.\nTPA"):
        return _curve_table(g, unit, epochs, rows, chosen, independent=independent, columns=columns)

    def fits(t) -> bool:
        return natural_width(console, t) <= console.width
    t = table(independent="independent")
    if fits(t):
        return [t]
    t = table()
    if fits(t):
        return [t]
    halves = [table(CURVE_COLUMNS[:4]), table(CURVE_COLUMNS[4:])]
    if all(map(fits, halves)):
        return halves
    # --no-intervals: no interval column to give a table of its own
    columns = [c for c in CURVE_COLUMNS if c != "95% interval" or any(v is not None for v in g["tpa_lo"])]
    tables, cols = [], []
    for c in columns:
        if cols and not fits(table((*cols, c))):
            tables.append(table(tuple(cols)))
            cols = []
        cols.append(c)
    return tables + [table(tuple(cols))]


def _print_analysis(js: dict) -> None:
    import numpy as np
    from orderlab.terminal import make_console
    from rich.table import Table
    console = make_console()
    epochs = js["epoch"]
    unit = js.get("unit", "epoch")
    chosen = js["checkpoint"]["index"]
    n_c = len(epochs)
    # every checkpoint while the tables stay short; else evenly spaced ones and the report's early and
    # middle ones (small data is learned within the first of many epochs: spaced evenly, the rows
    # jumped from the untrained networks to learned ones), and the table says so
    picked = {int(i) for i in js.get("checkpoints", {}).values()}
    rows = sorted({int(round(x)) for x in np.linspace(0, n_c - 1, min(n_c, TABLE_ROWS))} | {chosen} | picked)
    counts = ", ".join(f"{g['n']} {a}" for a, g in js["groups"].items())
    console.print(f"[bold]{js['study']}[/bold] · {js['split']} split · {js['n_examples']} examples · "
                  f"{counted(js['n_networks'], 'network')} ({counts}) · {counted(n_c, 'checkpoint')}")
    from orderlab.analysis.summary import one_network_note
    single = one_network_note([a for a, g in js["groups"].items() if g["n"] == 1])
    for w in js["warnings"]:
        if w != single:             # said under each such architecture's table
            console.print(f"[yellow]note: {w}[/yellow]")
    groups = dict(js["groups"])
    if "all" in js:
        groups["all networks"] = js["all"]
    for arch, g in groups.items():
        # titles and captions on lines of their own: a table's title wraps at the table's width
        title = f"{arch} ({counted(g['n'], 'network')}) over training"
        console.print(title, markup=False)
        for t in _curve_tables(g, unit, epochs, rows, chosen, console):
            console.print(t)
        if g["n"] == 1:
            console.print(f"[yellow]note: {one_network_note([arch])}[/yellow]")
    if len(rows) < n_c:
        console.print(f"[dim]{len(rows)} of the {n_c} checkpoints shown: evenly spaced, and those a third and two "
                      f"thirds of the way from the untrained to the final accuracy; `--checkpoint {unit.upper()}` "
                      f"marks another (◂), `--json` gives every one.[/dim]")
    console.print("[dim]TPA: share of examples all networks get right / mean accuracy; independent (indep. TPA): "
                  "the same for networks erring independently; TV: distance of the correct-count histogram from "
                  "independence; "
                  "Sarle above 0.56 leans bimodal, but a skewed histogram (high accuracy, or independent networks) scores "
                  "high too: read it with TV.[/dim]")
    aa = js["architecture_agreement"]
    t = Table()
    title = f"architecture agreement (mean pairwise TPA; κ in brackets) at {js['checkpoint']['at']}"
    t.add_column("")
    for a in aa["archs"]:
        t.add_column(a, justify="right")
    for i, a in enumerate(aa["archs"]):
        t.add_row(a, *[_fmt(aa["tpa"][i][j]) + f" [dim]({_fmt(aa['kappa'][i][j], '.2f')})[/dim]"
                       for j in range(len(aa["archs"]))])
    console.print(title, markup=False)
    console.print(t)
    oc = js["order_correlation"]
    ci = "; 95% interval" if oc.get("spearman_lo") is not None else ""   # --no-intervals: null
    for key, title in (("spearman", f"learning order: Spearman ρ of accessibility (half-groups{ci})"),
                       ("overlap", f"learning order: overlap of the first {oc['q'] * 100:.0f}% learned "
                                   f"(unrelated orders: {oc['q']:.2f}{ci})")):
        t = Table()
        t.add_column("")
        for a in oc["archs"]:
            t.add_column(a, justify="right")
        for i, a in enumerate(oc["archs"]):
            cells = []
            for j in range(len(oc["archs"])):
                if i == j and js["groups"].get(a, {}).get("n") == 1:
                    cells.append("– [dim](1 network)[/dim]")      # its own half: 1 by construction
                    continue
                lo = oc[f"{key}_lo"][i][j] if ci else None
                hi = oc[f"{key}_hi"][i][j] if ci else None
                cells.append(_fmt(oc[key][i][j]) + ("" if lo is None or hi is None else f" [dim]{_fmt(lo, '.2f')}–{_fmt(hi, '.2f')}[/dim]"))
            t.add_row(a, *cells)
        console.print(title, markup=False)
        console.print(t)


def write_report_files(stacks: dict, out: Path, examples, title: str, option: str = "-o/--out",
                       notes: list[str] = (), examples_damaged: bool = False) -> list[Path]:
    """``write_report`` into ``out`` all at once: the files are made in a hidden folder inside it and
    moved in when all are written, so a failure leaves neither part of a report nor a folder made for
    it (an earlier report there stays as it was); the system's refusals become one-line errors.
    Returns the files written, report.md first."""
    import shutil
    import tempfile
    from orderlab.analysis.report import write_report
    from orderlab.studydata import check_report_folder, make_folders, output_error, remove_folders
    out = Path(out)
    check_report_folder(out, option)

    def error(e: OSError, where: Path | None = None) -> OrderlabError:
        return output_error(out, e, option, where, what="the report to ")
    made = make_folders(out, error)
    stage, ok = None, False
    try:
        stage = Path(tempfile.mkdtemp(prefix=".orderlab-report-", dir=out))
        staged = write_report(stacks, stage, examples, title=title, notes=notes, examples_damaged=examples_damaged)
        written = sorted(f.name for f in stage.iterdir())
        for name in written:
            os.replace(stage / name, out / name)
        # An earlier report in this folder may cover a split this one does not: its files (the
        # names a report gives, for that split) would sit beside a report.md that does not show them.
        from orderlab.analysis.report import REPORT_FILES
        for other in set(SPLITS) - set(stacks):
            for pattern in REPORT_FILES:
                old = out / pattern.format(split=other)
                try:
                    if old.is_file() and old.name not in written:
                        old.unlink()
                except OSError:
                    pass        # the report itself is in place; a stale file left is no failure
        ok = True
        return [out / staged.name] + [out / n for n in written if n != staged.name]
    except OSError as e:
        raise error(e) from None
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if not ok:
            remove_folders(made)


def publish_report(store, study: str, stacks: dict, out: Path, title: str, log: bool = True,
                   notes: list[str] | None = None) -> Path:
    """Write the report into ``out`` and (``log``) log it and the TPA curves as the study's report
    run, which replaces the previous report's run. ``notes`` go under the report's header and, with
    a note on the study's examples file when it is damaged, to stderr (also when the report was
    written but could not be logged, whose error then comes last)."""
    from orderlab.analysis.report import report_metrics
    from orderlab.studydata import study_examples
    notes = [] if notes is None else notes
    examples, damaged = study_examples(store, study, "the report has no example grid")
    if damaged:
        notes.append(damaged)
    try:
        md, *files = write_report_files(stacks, out, examples, title=title, notes=notes, examples_damaged=bool(damaged))
        if log:       # only the report's own files: the folder may hold anything else of the user's
            try:
                # what the report covers, for the MLflow UI (a report of one split or architecture
                # replaces a whole one, and its run would not say so otherwise)
                first = next(iter(stacks.values()))
                covers = {"splits": ",".join(stacks), "archs": ",".join(first.archs), "networks": first.n_networks,
                          "checkpoints": first.n_checkpoints, "studies": first.study or study}
                store.log_report(study, [md, *files], [(report_metrics(st, with_epoch=i == 0),
                                                        range(st.n_checkpoints)) for i, st in enumerate(stacks.values())],
                                 covers)
            except Exception as e:  # noqa: BLE001 - the artifact store (disk, permissions, a server): files are written
                from orderlab.store import ReadOnlyStore, logging_failure
                why = logging_failure(e)
                if why is None:
                    raise
                if isinstance(e, ReadOnlyStore):     # an archived store: nothing to fix
                    raise OrderlabError(f"wrote the report to {out}; the store {store.uri} is read-only, so it is not "
                                        f"logged as the study's report run; pass --no-log to write the files only"
                                        ) from None
                raise OrderlabError(f"wrote the report to {out} but could not log it to MLflow ({why}); the previous "
                                    f"report run stays; fix the store (disk space, permissions, server) and run report "
                                    f"again, or pass --no-log") from None
        return md
    finally:
        for note in notes:
            say(f"note: {note}", err=True)


def register(app: typer.Typer) -> None:

    @app.command(rich_help_panel="Analyse")
    def analyze(
        studies: List[str] = typer.Argument(..., metavar="STUDY", help="Study name; several studies of the same data are "
                                            "analysed as one set of networks."),
        split: str = typer.Option("test", "--split", help="test or train."),
        checkpoint: Optional[float] = typer.Option(None, "--checkpoint", "-c", help="Epoch (a learner's: stage) of "
                                                   "the checkpoint for the agreement matrix (nearest recorded; default: the last)."),
        arch: Optional[List[str]] = typer.Option(None, "--arch", "-a", help="Only these architectures (repeatable)."),
        align: str = typer.Option("common", "--align", help=ALIGN_HELP),
        no_intervals: bool = typer.Option(False, "--no-intervals", help="Skip the jackknife intervals (faster)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object (schema: docs/analysis.md)."),
        include_interrupted: bool = INTERRUPTED_OPTION,
        tracking_uri: Optional[str] = URI_OPTION,
    ) -> None:
        """Agreement of a study's networks: accuracy, TPA against independent TPA over training, the
        architecture agreement matrix and the order correlations."""
        _check(split, align)
        if checkpoint is not None and not math.isfinite(checkpoint):
            raise OrderlabError(f"--checkpoint must be an epoch (a finite number), got {checkpoint}; leave it out "
                                f"for the last checkpoint")
        from orderlab.analysis.summary import analysis_json
        from orderlab.store import Store
        store = Store(tracking_uri, must_exist=True)
        stack = load_stacks(store, studies, [split], align, arch, arch_option=True,
                            interrupted=include_interrupted)[split]
        c = stack.checkpoint_index(checkpoint)
        js = analysis_json(stack, c, intervals=not no_intervals)
        first, last = float(stack.epoch[0]), float(stack.epoch[-1])
        if checkpoint is not None and not first - 1e-9 <= checkpoint <= last + 1e-9:
            js["warnings"].insert(0, f"--checkpoint {checkpoint:g} is outside the recorded {stack.units} ({first:g} "
                                     f"to {last:g}); the agreement matrix is at the nearest, {stack.at(c)}")
        elif checkpoint is not None and not stack.recorded_near(c, checkpoint):
            # between two checkpoints (or on one that other networks lack and aligning dropped)
            from orderlab.analysis.stack import positions_text
            js["warnings"].insert(0, f"--checkpoint {checkpoint:g} is not a checkpoint every network recorded "
                                     f"({positions_text(stack.epoch)}); the agreement matrix is at the nearest, "
                                     f"{stack.at(c)}")
        if json_out:
            typer.echo(json.dumps(js))
        else:
            _print_analysis(js)

    @app.command(rich_help_panel="Analyse")
    def report(
        study: str = typer.Argument(..., metavar="STUDY", help="Study name."),
        out: str = typer.Option(..., "--out", "--output", "-o", help="Folder for the figures and report.md."),
        split: Optional[str] = typer.Option(None, "--split", help="Only this split (default: every recorded one)."),
        arch: Optional[List[str]] = typer.Option(None, "--arch", "-a", help="Only these architectures (repeatable): "
                                                 "their own checkpoints, when the study's architectures differ."),
        align: str = typer.Option("common", "--align", help=ALIGN_HELP),
        log: Optional[bool] = typer.Option(None, "--log/--no-log", help="Also log the report and TPA curves to "
                                           "MLflow as the study's report run, replacing the previous report's run "
                                           "(default: yes, but not with --arch)."),
        include_interrupted: bool = INTERRUPTED_OPTION,
        tracking_uri: Optional[str] = URI_OPTION,
    ) -> None:
        """Figures (PNG) and a Markdown summary of a study's agreement, also logged to MLflow."""
        _check(split, align)
        from orderlab.studydata import folder_option
        out = folder_option(out, "-o/--out")
        from orderlab.store import Store
        store = Store(tracking_uri, must_exist=True)
        left_out: list[str] = []
        stacks = load_stacks(store, [study], [split] if split else None, align, arch, arch_option=bool(arch),
                             other_split="leave out --split: the report then covers {split}, which all {n} recorded",
                             left_out=left_out, interrupted=include_interrupted)
        # A report of some architectures does not replace the study's report run unless asked to.
        by_default = log is None
        log = not arch if by_default else log
        title = f"orderlab report: {study}" + (f" ({', '.join(arch)})" if arch else "")
        md = publish_report(store, study, stacks, out, title=title, log=log, notes=left_out)
        typer.echo(f"report: {md}")
        if log:
            say(f"logged as the report run of study {study!r} (artifacts under report/, TPA metrics per "
                f"architecture; it replaces the previous report's run)")
        elif arch and by_default:   # (a report of some architectures leaves the study's report run as it was)
            say("files only: a report of some architectures is not logged to MLflow unless --log is given "
                "(it would replace the study's report run)")

    @app.command(rich_help_panel="Analyse")
    def examples(
        studies: List[str] = typer.Argument(..., metavar="STUDY", help="Study name (several: analysed together)."),
        easiest: Optional[int] = typer.Option(None, "--easiest", help="The N most accessible examples (default 10)."),
        hardest: Optional[int] = typer.Option(None, "--hardest", help="The N least accessible examples."),
        cls: Optional[str] = typer.Option(None, "--class", help="Only this class (number or name)."),
        split: str = typer.Option("test", "--split", help="test or train."),
        arch: Optional[List[str]] = typer.Option(None, "--arch", "-a", help="Only these architectures (repeatable)."),
        align: str = typer.Option("common", "--align", help=ALIGN_HELP),
        json_out: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
        include_interrupted: bool = INTERRUPTED_OPTION,
        tracking_uri: Optional[str] = URI_OPTION,
    ) -> None:
        """The easiest or hardest examples: id, label, accessibility and learned-at per architecture."""
        _check(split, align)
        if easiest is not None and hardest is not None:
            raise OrderlabError("give --easiest N or --hardest N, not both")
        n = hardest if hardest is not None else easiest if easiest is not None else 10
        if n < 1:
            raise OrderlabError(f"the number of examples must be at least 1 (got {n})")
        from orderlab.analysis.summary import example_rows, resolve_class, tie_note
        from orderlab.store import Store
        store = Store(tracking_uri, must_exist=True)
        stack = load_stacks(store, studies, [split], align, arch, arch_option=True,
                            interrupted=include_interrupted)[split]
        from orderlab.studydata import study_examples
        ex, damaged = study_examples(store, studies[0], "labels are shown as numbers")
        if damaged:
            say(f"note: {damaged}", err=True)
        names = ex.get("class_names") if ex else None
        chosen = resolve_class(cls, names)
        rows = example_rows(stack, n, hardest=hardest is not None, cls=chosen, class_names=names)
        stored = (ex or {}).get("splits", {}).get(split) or {}
        if "text" in stored:            # a text dataset: the texts themselves (the study keeps the first 2,000)
            text_of = {int(e): str(t) for e, t in zip(stored["example_id"], stored["text"])}
            for r in rows:
                r["text"] = text_of.get(r["example_id"])
        # networks left out, grids that differ: on stderr, --json too
        from orderlab.analysis.stack import own_grid_notes
        for w in own_grid_notes(stack):
            say(f"note: {w}", err=True)
        if json_out:
            typer.echo(json.dumps(rows))
            return
        from orderlab.terminal import make_console
        from rich.table import Table
        kind = "hardest" if hardest is not None else "easiest"
        tie = tie_note(rows, kind)
        # the class as the table's label column shows it (a number typed may have been an index)
        shown = None if chosen is None else names[chosen] if names and 0 <= chosen < len(names) else str(chosen)
        title = (f"{kind} {len(rows)} examples of {', '.join(studies)} ({split} split"
                 f"{', class ' + shown if shown is not None else ''})")
        own = [[str(r["rank"]), str(r["example_id"]), r["class"], f"{r['accessibility']:.3f}"] for r in rows]
        per = {a: [f"{r['archs'][a]['accessibility']:.2f} · " + ("never" if r["archs"][a]["learned_at"] is None
                                                               else epoch_text(r['archs'][a]['learned_at']))
                   for r in rows] for a in stack.archs}
        console = make_console()
        # Columns that fit the terminal: many architectures continue in further tables (rank and
        # example id repeated), rather than squeezing every column to "0.…".
        heads = ("rank", "example id", "label", "access.")

        def width(head: str, cells: list[str]) -> int:
            return max([len(head), *map(len, cells)]) + 3
        base = [width(h, [c[i] for c in own]) for i, h in enumerate(heads)]
        parts: list[list[str]] = [[]]
        room = console.width - 1 - sum(base)
        for a in stack.archs:
            w = width(a, per[a])
            if parts[-1] and w > room:
                parts.append([])
                room = console.width - 1 - sum(base[:2])
            parts[-1].append(a)
            room -= w
        for k, archs_here in enumerate(parts):
            last = k == len(parts) - 1
            t = Table()
            cols = heads if k == 0 else heads[:2]
            for col in cols:
                t.add_column(col, justify="right", no_wrap=True)
            for a in archs_here:
                t.add_column(a, justify="right", no_wrap=True)
            for i in range(len(rows)):
                t.add_row(*own[i][:len(cols)], *(per[a][i] for a in archs_here))
            console.print(title if k == 0 else f"continued ({k + 1} of {len(parts)})", markup=False)
            console.print(t)
            if last:
                console.print("per architecture: accessibility · learned at" + (f"\n{tie}" if tie else ""),
                              markup=False)
        if "text" in stored:
            from rich.markup import escape
            console.print("texts:")
            room = max(20, console.width - 12)
            for r in rows:
                text = " ".join((r["text"] or "").split())
                shown_text = (escape(text if len(text) <= room else text[:room - 1] + "…") if r["text"] is not None
                              else "[dim](not stored: the study keeps the first 2,000 texts of a split)[/dim]")
                console.print(f"{r['rank']:>4}  {r['example_id']:>5}  {shown_text}", overflow="ellipsis",
                              no_wrap=True)
        console.print("[dim]accessibility: mean over the networks of the share of their trained checkpoints at which "
                      "they get the example right; learned "
                      f"at: median over the architecture's networks of the {stack.unit} from which the example stays "
                      "right (never: half or more of them never keep it right).[/dim]")
