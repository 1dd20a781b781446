"""Reading a study's records out of the store as one :class:`~orderlab.analysis.stack.Stack`,
and the plain-array export format of `orderlab export`."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from orderlab.analysis.stack import Stack
from orderlab.errors import OrderlabError, counted, epoch_text, name_list
from orderlab.record import Record, RecordError
from orderlab.store import ENDED_EARLY, RunInfo, Store, one_run_per_network, param_equals, resolve_tracking_uri

SPLITS = ("train", "test")


def load_stack(store: Store, study: str, split: str = "test", *, align: str = "strict",
               keep_predicted: bool = False, runs: Sequence[RunInfo] | None = None,
               interrupted: bool = False, archs: Sequence[str] | None = None) -> Stack:
    """All recorded networks of ``study`` on ``split`` (runs with no checkpoint yet are skipped;
    interrupted ones too unless ``interrupted``, see :func:`leave_out_interrupted`); ``archs``:
    only those architectures, aligned among themselves."""
    if split not in SPLITS:
        raise OrderlabError(f"unknown split {split!r}; use train or test")
    if archs:       # only their records are read: another architecture's damaged record is no concern
        runs = runs_of_archs(store, [study], archs, {study: runs} if runs is not None else None)[study]
    runs = store.list_runs(study) if runs is None else runs
    pairs = load_records(store, study, runs)
    if not pairs:
        raise no_network_yet(store, study, runs)
    notes: list[str] = unrecorded_notes(store, study, runs, pairs)
    if not interrupted:
        pairs = leave_out_interrupted(store, study, pairs, notes)
    check_split([(study, pairs)], split, store=store)
    infos = [(r.stack_info, rec) for r, rec in pairs]
    st = Stack.from_records(infos, split, align=align, keep_predicted=keep_predicted, study=study)
    st.warnings[:0] = notes
    return st


def unstarted_networks(store: Store, study: str, runs: Sequence[RunInfo],
                       archs: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """The (architecture, seed) of each network the study's trains and sweeps planned
    (``Store.sweep_plans``) that has no run among ``runs`` yet (``archs``: of those architectures
    only), sorted. Empty where the plans cannot be read: this only ever feeds a note."""
    try:
        parent = store.study_parent(study)
    except Exception:  # noqa: BLE001 - a note only: no parent run (deleted, another tool's), a server's hiccup
        return []
    return sorted(n for n in store.unstarted_on(parent, runs) if not archs or n[0] in archs)


def no_network_yet(store: Store, study: str, runs: Sequence[RunInfo]) -> OrderlabError:
    """The refusal of a study that holds no recorded network, with what to do about it: it told a
    study whose networks were training, or planned by an interrupted sweep, to `train --study`
    (without the --arch that needs)."""
    head = f"study {study!r} has no recorded network yet"
    if any(r.status == "RUNNING" for r in runs):
        return OrderlabError(f"{head}: its networks are training and have recorded no checkpoint; try again "
                             f"once they have")
    resume = suggest(store, "orderlab", "sweep", "--resume", study)
    if unstarted_networks(store, study, runs):
        return OrderlabError(f"{head}: networks are planned for it with no run (the command that planned them "
                             f"stopped, or is starting them); `{resume}` starts them")
    if runs:
        return OrderlabError(f"{head}: its networks stopped before their first checkpoint; `{resume}` trains "
                             f"them anew")
    from orderlab.store import StoreError
    try:
        store.study_parent(study)
    except StoreError as e:         # made by a command that stopped before it planned anything
        return e
    return OrderlabError(f"{head}; train one with `{suggest(store, 'orderlab', 'train', '--arch', 'NAME', '--study', study)}`")


def unstarted_note(store: Store, study: str, runs: Sequence[RunInfo], archs: Sequence[str] | None = None) -> str | None:
    """A note naming the networks planned for ``study`` that have no run yet
    (:func:`unstarted_networks`): an analysis of a study still training covers only the networks
    recorded so far, and the listing of its runs shows none of the rest. None when every planned
    network has a run."""
    missing = unstarted_networks(store, study, runs, archs)
    if not missing:
        return None
    names = name_list([f"{a}/s{sd}" for a, sd in missing])
    one = len(missing) == 1
    what = f"{len(missing)} more network{'' if one else 's'} planned for study {study!r} ({names}) "
    if any(r.status == "RUNNING" for r in runs):
        return what + f"{'has' if one else 'have'} not started yet: what is shown covers the networks recorded so far"
    return what + (f"{'has' if one else 'have'} no run: if the command that planned "
                   f"{'it' if one else 'them'} has stopped, `{suggest(store, 'orderlab', 'sweep', '--resume', study)}` "
                   f"starts {'it' if one else 'them'} (or says why not)")


def unrecorded_notes(store: Store, study: str, runs: Sequence[RunInfo], pairs: Sequence[tuple[RunInfo, Record]],
                     named: bool = False) -> list[str]:
    """Notes naming the networks of ``runs`` that have recorded no checkpoint, which no analysis
    can hold: those still running (not in it until they record one) and those that stopped first
    (nothing to include, even with --include-interrupted; `sweep --resume` trains them anew).
    ``pairs``: the records read of ``runs`` (:func:`load_records`; a killed network whose progress
    tag lags its record is among them). ``named``: networks named with their study (studies compared)."""
    read = {r.run_id for r, _ in pairs}
    nets = [r for r in one_run_per_network(runs) if r.checkpoints == 0 and r.run_id not in read]
    stopped = [r for r in nets if r.status in ENDED_EARLY]
    running = [r for r in nets if r.status == "RUNNING"]

    def name(r: RunInfo) -> str:
        return f"{study}:{r.name}" if named else r.name
    notes = []
    if running:
        one = len(running) == 1
        notes.append(f"{name_list([name(r) for r in running])} {'has' if one else 'have'} recorded no checkpoint yet: "
                     f"not in the analysis until {'it does' if one else 'they do'}")
    if stopped:
        one = len(stopped) == 1
        notes.append(f"left out {counted(len(stopped), 'network')} that stopped before recording any checkpoint: "
                     f"{name_list([f'{name(r)} ({r.status})' for r in stopped])}; "
                     f"`{suggest(store, 'orderlab', 'sweep', '--resume', study)}` trains {'it' if one else 'them'} "
                     f"from the start")
    return notes


def runs_of_archs(store: Store, studies: Sequence[str], archs: Sequence[str],
                  runs: dict[str, Sequence[RunInfo]] | None = None) -> dict[str, list[RunInfo]]:
    """Each study's runs of ``archs`` (from ``runs``, or the store), found before any record is
    read: a command kept to some architectures never reads, nor fails on, another's records. A
    study with no recorded network, or an architecture no study has recorded, is refused, naming
    the architectures they have."""
    # the runs that stand for their networks, as the records are then read (a run superseded by its
    # network's new run, not yet recorded, has a record that is never read)
    found = {s: one_run_per_network(runs[s] if runs is not None else store.list_runs(s)) for s in studies}
    for s in studies:
        if not any(r.checkpoints > 0 for r in found[s]):
            raise no_network_yet(store, s, found[s])
    have = list(dict.fromkeys(r.arch for s in studies for r in found[s] if r.checkpoints > 0))
    unknown = [a for a in archs if a not in have]
    if unknown:
        raise OrderlabError(f"no network of architecture {', '.join(unknown)} in "
                            f"{', '.join(studies)} (architectures: {', '.join(have)})")
    return {s: [r for r in found[s] if r.arch in archs] for s in studies}


def leave_out_interrupted(store: Store, study: str, pairs: list[tuple[RunInfo, Record]],
                          notes: list[str]) -> list[tuple[RunInfo, Record]]:
    """The networks that did not stop by finishing (KILLED, FAILED, STALE) are left out, as the TUI
    leaves them out: with ``--align common`` one network killed early would cut every curve back
    to its last checkpoint. ``notes`` gets a line naming them and the fix; running networks stay
    (a live study is analysed as it trains). None left: an error naming the fix."""
    kept = [(r, rec) for r, rec in pairs if r.status not in ENDED_EARLY]
    gone = [r for r, _ in pairs if r.status in ENDED_EARLY]
    if not gone:
        return pairs
    resume = f"`{suggest(store, 'orderlab', 'sweep', '--resume', study)}`"
    # the record's last epoch: the progress tag, written every 2 s, lags behind a killed process
    last = {r.run_id: float(rec.epoch[-1]) if len(rec.epoch) else r.epoch for r, rec in pairs}
    names = name_list([f"{r.name} ({r.status} at {'stage' if r.stages else 'epoch'} {epoch_text(last[r.run_id])} of "
                       f"{epoch_text(r.epochs)})" for r in gone])
    if not kept:
        raise OrderlabError(f"every network of study {study!r} to analyse stopped before finishing ({names}); resume "
                            f"them with {resume}, or pass --include-interrupted to analyse them as they stand")
    notes.append(f"left out {counted(len(gone), 'network')} that stopped before finishing: {names}; resume them with "
                 f"{resume}, or pass --include-interrupted to include them as they stand")
    return kept


# -- records that cannot be read ----------------------------------------------

def load_records(store: Store, study: str, runs: Sequence[RunInfo] | None = None
                 ) -> list[tuple[RunInfo, Record]]:
    """``store.load_records(study, runs)``, except that a missing or damaged record raises a
    :class:`RecordError` naming the network, its run and study, and a fix that works for its run."""
    try:
        return store.load_records(study, list(runs) if runs is not None else None)
    except RecordError as e:
        if e.problem is None:
            raise
        run = _run_of_record(store, study, e, runs)
        if run is None:
            raise
        raise RecordError(record_problem(store, run, e.problem), path=e.path, problem=e.problem) from None


def _run_of_record(store: Store, study: str, err: RecordError, runs: Sequence[RunInfo] | None) -> RunInfo | None:
    """The run whose record raised ``err``: by its folder in a local artifact store, else by reading
    each record again (only on this error path)."""
    candidates = list(runs) if runs is not None else store.list_runs(study)
    if err.path is not None:
        for r in candidates:
            if r.run_id in err.path.parts:
                return r
    for r in candidates:
        if r.checkpoints == 0:
            continue
        try:
            store.load_record(r)
        except RecordError:
            return r
        except OrderlabError:
            continue
    return None


def study_examples(store: Store, study: str, left_out: str) -> tuple[dict | None, str | None]:
    """The study's examples file (thumbnails, texts, class names; None if it has none) and, when that
    file is damaged, a note instead: what is ``left_out`` without it and the command that writes it
    anew (any `orderlab train` of the study does, before it skips its finished networks)."""
    try:
        return store.load_examples(study), None
    except RecordError as e:
        return None, f"{e}, so {left_out}; this writes it anew: {examples_fix(store, study)}"


def examples_fix(store: Store, study: str) -> str:
    """The command that writes a study's damaged examples file anew: the train command of one of
    its finished networks, which joins the study (writing the file) and trains nothing."""
    done = [r for r in store.list_runs(study) if r.status == "FINISHED"]
    if done:
        return f"`{retrain_command(store, done[0])}` (its network is finished: nothing trains again)"
    return f"`orderlab train --study {shlex.quote(study)} …` with the study's data options"


def suggest(store: Store, *args: str) -> str:
    """A command for the user to run, quoted for the shell, naming ``store`` by :func:`uri_option`."""
    return " ".join(shlex.quote(a) for a in [*args, *uri_option(store)])


def suggest_for(tracking_uri: str | None, *args: str) -> str:
    """:func:`suggest` where no store is open: ``tracking_uri`` as the user gave it (None: not named)."""
    return suggest(unopened_store(tracking_uri), *args)


def unopened_store(tracking_uri: str | None):
    """What :func:`uri_option` reads of a store (``uri``, ``named``), for one not opened (or not there)."""
    from types import SimpleNamespace
    return SimpleNamespace(uri=resolve_tracking_uri(tracking_uri), named=tracking_uri is not None)


def uri_option(store: Store) -> list[str]:
    """``--tracking-uri URI`` for the commands orderlab suggests: whenever the user named the store
    (pasted into a terminal in another folder, a bare command would use that folder's own), or a
    bare command would use another; the store's absolute URI where it has one. The one rule for
    the command line and the TUI."""
    return ["--tracking-uri", store.uri] if store.named or store.uri != resolve_tracking_uri(None) else []


def _number(v: str) -> str:
    x = float(v)
    return str(int(x)) if x.is_integer() else repr(x)


def retrain_command(store: Store, run: RunInfo, record_splits: str | None = None) -> str:
    """The `orderlab train` command that trains ``run``'s network again into its study: same seed,
    data, recording (or ``record_splits``) and hyperparameters (those equal to the architecture's
    defaults are left out)."""
    p = {k: v for k, v in run.params.items() if v not in (None, "", "None")}
    if record_splits is not None:
        p["record_splits"] = record_splits
    cmd = ["orderlab", "train", "--study", run.study, "--arch", run.arch, "--seeds", str(run.seed)]
    if "dataset" in p:
        cmd += ["--dataset", p["dataset"]]
    for key, flag, default in (("epochs", "--epochs", None), ("record_every", "--record-every", "1"),
                               ("train_subset", "--train-subset", None), ("test_subset", "--test-subset", None),
                               ("data_seed", "--data-seed", "0")):
        if key in p and (default is None or _number(p[key]) != default):
            cmd += [flag, _number(p[key])]
    if record_splits is not None or p.get("record_splits", "train,test") != "train,test":
        cmd += ["--record-splits", p.get("record_splits", "train,test")]
    if "data_dir" in p:
        cmd += ["--data-dir", p["data_dir"]]
    try:
        from orderlab.trainer.models import get_arch
        defaults = get_arch(run.arch).hyperparameters()
    except Exception:  # noqa: BLE001 - an architecture this installation lacks: spell everything out
        defaults = {}
    for key, flag in (("optimizer", "--optimizer"), ("lr", "--lr"), ("momentum", "--momentum"),
                      ("weight_decay", "--weight-decay"), ("batch_size", "--batch-size")):
        if key not in p or key in defaults and param_equals(p[key], defaults[key]):
            continue
        cmd += [flag, p[key] if key == "optimizer" else _number(p[key])]
    if "augment" in p:
        cmd.append("--augment" if p["augment"] == "True" else "--no-augment")
    return suggest(store, *cmd)


def record_problem(store: Store, run: RunInfo, problem: str) -> str:
    """One line: which network's record ``problem`` (e.g. "is missing (PATH does not exist)") and
    what brings the network back, depending on its run's status."""
    what = (f"the record of network {run.arch}/s{run.seed} (run {run.run_id}, {run.status}) in study "
            f"{run.study!r} {problem}")
    return f"{what}; {record_fix(store, run, problem)}"


def mlflow_command() -> str:
    """How to call the MLflow command line of orderlab's own MLflow: the one beside this Python (a
    virtual environment used without activating it; another ``mlflow`` on PATH may be another
    version, unfit for this store's schema), as ``mlflow`` when that is what PATH finds."""
    beside = Path(sys.executable).parent / "mlflow"
    if not beside.exists():
        return "mlflow"
    found = shutil.which("mlflow")
    if found and Path(found).resolve() == beside.resolve():
        return "mlflow"
    return shlex.quote(str(beside))


def record_fix(store: Store, run: RunInfo, problem: str) -> str:
    """What brings back a network whose record has ``problem``, depending on its run's status."""
    if run.status == "RUNNING":
        return (f"the run is still training and rewrites its record as it goes: retry in a moment "
                f"(`{suggest(store, 'orderlab', 'runs', run.study)}` shows its progress)")
    if run.status in ENDED_EARLY:
        return f"train the network again with `{suggest(store, 'orderlab', 'train', '--resume', run.run_id)}`"
    delete = (f"MLFLOW_TRACKING_URI={shlex.quote(store.uri)} {mlflow_command()} runs delete --run-id {run.run_id}")
    fix = (f"to replace the network, delete its run (`{delete}`; orderlab leaves deleted runs out) and train it "
           f"again (`{retrain_command(store, run)}`)")
    if "format version" in problem:
        fix = f"read it with the orderlab version that wrote it, or {fix}"
    return fix


# -- networks that did not record a split -----------------------------------------

def check_split(loaded: Sequence[tuple[str, Sequence[tuple[RunInfo, Record]]]], split: str, *,
                other_split: str = "use --split {split}, which all {n} recorded", arch_option: bool = False,
                store: Store | None = None) -> None:
    """Refuse, in one line saying which networks lack it and what to do, a split that not every
    network of ``loaded`` (``[(study, [(run, record)])]``) recorded. ``other_split``: how the
    command chooses another split (``{split}``, ``{n}``: the split all ``n`` networks recorded);
    ``arch_option``: the command can keep to some architectures (--arch)."""
    pairs = [(study, r, rec) for study, prs in loaded for r, rec in prs]
    lacking = [(study, r, rec) for study, r, rec in pairs if split not in rec.splits]
    if not lacking:
        return
    studies = list(dict.fromkeys(study for study, _, _ in pairs))
    where = (f"study {studies[0]!r}" if len(studies) == 1
             else "studies " + ", ".join(repr(s) for s in studies))
    n = len(pairs)
    if len(lacking) == n:
        have = sorted({s for _, _, rec in pairs for s in rec.splits})
        head = (f"split {split!r} was not recorded by any of the {n} networks of {where} "
                f"(recorded: {', '.join(have) or 'none'})")
    else:
        names = [f"{r.arch}/s{r.seed}" + (f" of {study!r}" if len(studies) > 1 else "")
                 + f" (run {r.run_id}, recorded only {', '.join(rec.splits) or 'nothing'})"
                 for study, r, rec in lacking]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        head = f"split {split!r} was not recorded by {len(lacking)} of the {n} networks of {where}: {shown}"
    fixes = []
    common = [s for s in SPLITS if s != split and all(s in rec.splits for _, _, rec in pairs)]
    if common:
        fixes.append(other_split.format(split=common[0], n=n))
    if arch_option and len(lacking) < n:
        full = [a for a in dict.fromkeys(r.arch for _, r, _ in pairs)
                if all(split in rec.splits for _, r, rec in pairs if r.arch == a)]
        if full:
            fixes.append("keep to the architectures whose networks all recorded it: "
                         + " ".join(f"--arch {a}" for a in full))
    env = f"MLFLOW_TRACKING_URI={shlex.quote(store.uri)} " if store is not None else ""
    if len(lacking) == 1:
        _, r, _ = lacking[0]
        again = (retrain_command(store, r, record_splits="train,test") if store is not None
                 else f"orderlab train --study {shlex.quote(r.study)} --arch {r.arch} --seeds {r.seed} "
                      f"--record-splits train,test")
        fixes.append(f"to have {split} for every network, delete that network's run (`{env}{mlflow_command()} runs delete "
                     f"--run-id {r.run_id}`) and train it again with both splits (`{again}`)")
    else:
        fixes.append(f"to have {split} for every network, delete the runs of those networks (`{env}{mlflow_command()} runs "
                     f"delete --run-id RUN_ID`, one by one) and train them again with --record-splits train,test "
                     f"and the options they were trained with")
    raise RecordError(f"{head}; " + ", or ".join(fixes))


def sibling_note(siblings: Sequence[tuple[RunInfo, RunInfo, list[str]]]) -> str | None:
    """A note on networks of two studies drawn from one seed (``store.siblings_across``): kept,
    but not independent of each other."""
    if not siblings:
        return None
    names = [f"{later.study}:{later.name}" for later, _, _ in siblings]
    firsts = ", ".join(dict.fromkeys(repr(first.study) for _, first, _ in siblings))
    settings = ", ".join(dict.fromkeys(f"--{p.replace('_', '-')}" for _, _, d in siblings for p in d))
    one = len(names) == 1
    one_first = len({first.run_id for _, first, _ in siblings}) == 1
    return (f"{name_list(names)} {'shares' if one else 'share'} architecture, seed and data with "
            f"{'a network' if one_first else 'networks'} of {firsts} (trained with other {settings or 'settings'}): "
            f"one seed draws one initialisation and data order, so they are not independent and agree more "
            f"than networks of different seeds would; train the studies with different --seeds to compare "
            f"independent networks")


def check_same_data(store: Store, stacks: Sequence[Stack]) -> None:
    """Studies pooled together must hold the same data; refuse others saying which data options
    tell them apart (the fingerprints alone tell a user nothing)."""
    from orderlab.store import DATA_OPTIONS, data_options_differ
    first = stacks[0]
    for other in stacks[1:]:
        if other.fingerprint == first.fingerprint:
            continue
        a, b = first.study, other.study
        # only the options that shape this split: --train-subset is no reason test splits differ
        keys = tuple(k for k in DATA_OPTIONS if not k.endswith("_subset") or k.startswith(first.split))
        differ = data_options_differ(store.data_options(a), store.data_options(b), (f" in {a}", f" in {b}"), keys)
        why = differ or f"data fingerprints {first.fingerprint} and {other.fingerprint}: the data files differ"
        raise RecordError(f"studies {a!r} and {b!r} recorded different data ({why}) and cannot be compared; "
                          f"compare studies trained with the same --dataset and data options")


def export_arrays(stack: Stack) -> dict[str, np.ndarray]:
    """The documented export schema (README, "orderlab export")."""
    if stack.predicted is None:
        raise ValueError("export needs a stack loaded with keep_predicted=True")
    return {
        "correct": stack.correct(),                               # bool [networks, checkpoints, examples]
        "predicted": stack.predicted.astype(np.int64),            # int [same]
        "arch": stack.arch.astype(str),                           # str [networks]
        "seed": stack.seed.astype(np.int64),                      # int64 [networks]
        "run_id": stack.run_id.astype(str),                       # str [networks]
        "epoch": stack.epoch.astype(np.float64),                  # float64 [checkpoints]
        # each network's own positions: rows apart where other step sizes recorded a checkpoint apart
        "network_epoch": (stack.positions if stack.positions is not None
                          else np.tile(stack.epoch, (stack.n_networks, 1))).astype(np.float64),
        "example_id": stack.example_id.astype(np.int64),          # int64 [examples]
        "label": stack.label.astype(np.int64),                    # int64 [examples]
    }


def export_study(store: Store, study: str, split: str = "test", *, align: str = "strict",
                 interrupted: bool = False, archs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Python API of `orderlab export`: the same arrays, without a file."""
    return export_arrays(load_stack(store, study, split, align=align, keep_predicted=True, interrupted=interrupted,
                                    archs=archs))


def write_export(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write ``arrays`` to ``path`` (a .npz) atomically: on any failure neither a partial file nor a
    folder made for it is left, and a file already there stays as it was."""
    path = Path(path)
    if path.suffix != ".npz":
        raise OrderlabError(f"export file must end in .npz (got {path.name})")
    check_output_file(path)
    made = make_folders(path.parent, lambda e, p: output_error(path, e, "-o/--output", p))
    tmp = None
    done = False
    try:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")     # open(): the umask's permissions
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
        done = True
    except OSError as e:
        raise output_error(path, e, "-o/--output") from None
    finally:
        if not done:
            if tmp is not None:
                _unlink(tmp)
            remove_folders(made)
    return path


# -- output paths ---------------------------------------------------------------------

def output_error(path: Path, e: OSError, option: str, where: Path | None = None, what: str = "") -> OrderlabError:
    """One line for an output path the system refuses: the path (``what`` it is, as "the report
    to "), the system's reason, the fix."""
    reason = e.strerror or type(e).__name__
    at = f" (at {where})" if where is not None and Path(where) != path else ""
    return OrderlabError(f"cannot write {what}{path}: {reason}{at}; choose a writable folder with {option}")


def folder_option(text: str, option: str) -> Path:
    """The report folder an -o/--out names, refused before any work where it cannot be one (see
    :func:`check_report_folder`) or is empty: that would be the current folder (Path("") is "."),
    which a report fills with its files (and clears of an earlier report's)."""
    if not text.strip():
        raise OrderlabError(f"{option} is empty; name the folder for the report, e.g. {option.split('/')[0]} report")
    folder = Path(text).expanduser()
    check_report_folder(folder, option)
    return folder


def _path_usable(path: Path, what: str, fix: str) -> None:
    """A path the system can look at: a name too long for the file system (ENAMETOOLONG) made
    pathlib's exists()/is_dir() raise, a traceback."""
    try:
        for p in (path, *path.parents):
            p.exists()
    except OSError as e:
        raise OrderlabError(f"{what}: {e.strerror or e}; {fix}") from None


def check_report_folder(out: Path, option: str = "-o/--out") -> None:
    """Refuse, before any work, a report folder that is a file, lies under one, or cannot be made
    or written in (tried: a folder made and removed where the report's would go; permissions
    alone do not tell, root passes them on read-only and special file systems)."""
    _path_usable(out, f"cannot write the report to {out}", f"choose another folder with {option}")
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise OrderlabError(f"cannot write the report to {out}: {'it' if p == out else p} is a file, not "
                                    f"a folder; choose a writable folder with {option}")
            try:
                os.rmdir(tempfile.mkdtemp(prefix=".orderlab-probe-", dir=p))
            except OSError as e:
                raise OrderlabError(f"cannot write the report to {out}: {e.strerror or e} in {p}; choose a "
                                    f"writable folder with {option}") from None
            return


def check_output_file(path: Path) -> None:
    """Refuse, before any work, an output file that is a folder or lies under a file."""
    _path_usable(path, f"cannot write {path}", "choose another file name with -o/--output")
    if path.is_dir():
        raise OrderlabError(f"cannot write {path}: it is a folder; give a file name with -o/--output, "
                            f"e.g. {path / 'study.npz'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OrderlabError(f"cannot write {path}: {parent} is a file, not a folder; choose a writable "
                                    f"folder with -o/--output")
            return


def make_folders(folder: Path, error) -> list[Path]:
    """``folder.mkdir(parents=True)``, returning the folders it made (outermost first) so a failure
    later can remove them; an OSError becomes ``error(exc, where)``."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    missing.reverse()
    made: list[Path] = []
    for p in missing:
        try:
            p.mkdir()
        except FileExistsError as e:
            if not p.is_dir():                       # made meanwhile, as a file
                remove_folders(made)
                raise error(e, p) from None
        except OSError as e:
            remove_folders(made)
            raise error(e, p) from None
        else:
            made.append(p)
    return made


def remove_folders(made: list[Path]) -> None:
    """Remove folders :func:`make_folders` made, innermost first, where they are still empty."""
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:
            break


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass
