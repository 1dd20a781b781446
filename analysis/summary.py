"""What the commands print: the analysis as one JSON-ready dict, the demo's agreement summary
(rich-markup lines with a text bar chart), and tables of the easiest and hardest examples."""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from orderlab.analysis import metrics as M
from orderlab.analysis.stack import Stack
from orderlab.errors import OrderlabError, epoch_text, share_text, unsigned_zero

# Sarle's coefficient of a uniform distribution; above it a histogram leans to two modes.
SARLE_UNIFORM = 5 / 9


def one_network_note(archs: list[str]) -> str:
    """What analyze and report say of architectures with a single network, whose agreement numbers
    hold by construction."""
    one = len(archs) == 1
    return (f"{', '.join(archs)} {'has' if one else 'have'} one network: {'its ' if one else ''}TPA, independent "
            f"TPA and Jaccard are 1 and {'its' if one else 'the'} histogram has two bars by construction; agreement "
            f"needs two or more.")


def identical_at(stack: Stack, idx: np.ndarray) -> np.ndarray:
    """Checkpoints (bool [C]) at which the networks ``idx`` (two or more) are right on exactly the
    same examples: k-NN or an SVM fit on the whole training set, an untrained learner's guess,
    whatever the seed. All right (or all wrong) is equal too, but not for the seed: left out."""
    if idx.size < 2:
        return np.zeros(stack.n_checkpoints, bool)
    acc = M.accuracy(stack, None, idx)                       # [m, C]
    varied = ~(np.all(acc >= 1, axis=0) | np.all(acc <= 0, axis=0))
    # one network at a time against the first: the architecture's whole packed record at once
    # took ~125 MB for 100 networks of 200 checkpoints of CIFAR-10's training split
    same, first = varied.copy(), stack.bits[int(idx[0])]
    for j in idx[1:]:
        if not same.any():
            break
        same &= (stack.bits[int(j)] == first).all(axis=1)
    return same


def identical_groups(stack: Stack, checkpoint: int) -> list[str]:
    """Architectures whose networks are right on exactly the same examples at ``checkpoint``
    (:func:`identical_at`)."""
    return [a for a in stack.archs if identical_at(stack, stack.arch_index(a))[checkpoint]]


def identical_notes(stack: Stack, checkpoint: int, elsewhere: bool = False) -> list[str]:
    """:func:`identical_note` for the architectures identical at ``checkpoint``, each at its own
    position and unit (a learner's "stage 0.25" beside a first network's "epoch 0.286"); with
    ``elsewhere``, then a note for each naming the other checkpoints where its networks are: an
    untrained learner guesses one class whatever its seed, and its curve began at TPA 1 with no
    word of why. Each architecture is compared once (:func:`identical_at`) for both."""
    same = {a: identical_at(stack, stack.arch_index(a)) for a in stack.archs}
    by_at: dict[str, list[str]] = {}
    for a in stack.archs:
        if same[a][checkpoint]:
            by_at.setdefault(stack.at_of(checkpoint, stack.arch_index(a)), []).append(a)
    out = [identical_note(archs, at) for at, archs in by_at.items()]
    for a in stack.archs if elsewhere else ():
        at = [e for e in np.flatnonzero(same[a]) if e != checkpoint]
        if at:
            idx = stack.arch_index(a)
            epoch = stack.own_positions(idx)[0]
            out.append(f"{a}: its networks are right on exactly the same examples at {stack.unit_of(idx)} "
                       f"{', '.join(epoch_text(epoch[e]) for e in at[:5])}{' …' if len(at) > 5 else ''}"
                       f"{' too' if same[a][checkpoint] else ''}, where "
                       f"TPA and Jaccard are 1 by construction (the seed changes nothing there: an untrained "
                       f"learner guesses one class, k-NN or an SVM fit on all the data is one model)")
    return out


def identical_note(archs: list[str], at: str) -> str:
    """What analyze and report say of :func:`identical_groups`: agreement there holds by construction."""
    one = len(archs) == 1
    return (f"{', '.join(archs)}: {'its' if one else 'their'} networks are right on exactly the same examples at "
            f"{at}, so TPA and Jaccard are 1 and the histogram has two bars by construction (the seed changes "
            f"nothing there, as for k-NN or an SVM fit on the whole training set); agreement across architectures "
            f"still tells.")


def tied_at_top(stack: Stack, q: float, access: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Architectures for which more than a share ``q`` of the examples tie at the highest
    accessibility (right at every trained checkpoint of every network): their "first q learned" is
    then a draw among the tied, and the overlap of two such orders sits near q by construction.
    A study of one network has no overlap to speak of: nothing is said. ``access``: each
    architecture's accessibility where it is already computed."""
    out = {}
    if stack.n_networks < 2:
        return out
    for a in stack.archs:
        acc = access[a] if access is not None else M.accessibility(stack, stack.arch_index(a))
        share = float(np.mean(acc >= 1 - 1e-12)) if acc.size else 0.0
        if share > q:
            out[a] = share
    return out


def tied_positions(stack: Stack, tied: dict[str, float]) -> tuple[np.ndarray, str]:
    """The checkpoints that size :func:`tied_note`'s advice, and what they count: the tied
    architectures' own (a cnn's first at 0.0714 had told ties of an mlp, first at 0.093, to
    record every 0.0357)."""
    idx = np.concatenate([stack.arch_index(a) for a in tied]) if tied else np.arange(stack.n_networks)
    firsts = [stack.own_positions(stack.arch_index(a))[0] for a in tied] or [stack.epoch]
    return np.concatenate(firsts), stack.unit_of(idx)


def own_grids(stack: Stack) -> bool:
    """Whether architectures were aligned on checkpoints that are not each one's own, so that the
    shared grid sizes no architecture's advice (one architecture's networks on different grids,
    AdaBoost seeds that stopped at different rounds, share theirs up to the shortest)."""
    return stack.own_totals is not None and len(stack.archs) > 1


def tied_note(tied: dict[str, float], q: float, epoch: np.ndarray | None = None, unit: str = "epoch",
              own_grids: bool = False) -> str:
    """The note for :func:`tied_at_top`'s ties; ``epoch`` (the stack's checkpoints) sizes the advice
    to the study: checkpoints before its first trained one (a fixed "--record-every 0.25" was no
    advice to a study recorded every 0.25 epochs). ``unit``: what they count (``Stack.unit``).
    ``own_grids``: the networks were aligned on shared checkpoints while accessibility counts each
    one's own (``Stack.own_totals``): the shared grid sizes no architecture's advice (an mlp recorded
    every 0.5 epochs beside boosting recorded every 2 rounds was told to record every 1)."""
    names = ", ".join(f"{a} {s:.0%}" for a, s in tied.items())
    trained = np.asarray(epoch if epoch is not None else [], dtype=float)
    trained = trained[trained > 0]
    if own_grids or "/" in unit:        # (tied learners beside networks: a stage is no epoch to halve)
        advice = ("record earlier checkpoints to separate them; `--arch NAME` sizes this advice to one "
                  "architecture's own checkpoints")
    elif trained.size:
        first = float(trained.min())
        # learners checkpoint whole boosting rounds or trees (1 at the least): no earlier one to record
        whole = ("; a boosting learner's or a forest's first round or tree is its earliest"
                 if first >= 1 and unit != "epoch" else "")
        advice = (f"they are right from the first trained checkpoint, {unit} {epoch_text(first)}: to separate them, record "
                  f"earlier checkpoints, e.g. --record-every {first / 2:.3g}, or train more slowly{whole}")
    else:
        advice = "record earlier checkpoints to separate them"
    return (f"more examples than the first {q:.0%} tie at the highest accessibility (right at every trained checkpoint: "
            f"{names}): the first-{q:.0%} overlap draws among them and sits near {q:.2f} by construction there; "
            f"Spearman ρ still ranks the rest ({advice})")


def pick_checkpoints(stack: Stack) -> dict[str, int]:
    """Early, middle and final checkpoints, chosen by progress of the mean accuracy (a third and
    two thirds of the way from the untrained to the final accuracy), not by time: small datasets
    are mostly learned within the first epoch, where the histograms are most telling."""
    acc = M.accuracy(stack).mean(axis=0)
    last = stack.n_checkpoints - 1
    a0, a1 = acc[0], acc[-1]

    def reach(frac: float) -> int:
        if last == 0 or a1 <= a0:
            return int(round(frac * last))
        hit = np.flatnonzero(acc[1:] >= a0 + frac * (a1 - a0))
        return int(hit[0]) + 1 if hit.size else last

    return {"early": reach(1 / 3), "middle": reach(2 / 3), "final": last}


def _as_all(stack: Stack) -> Stack:
    return dataclasses.replace(stack, arch=np.full(stack.n_networks, "all"), trained_arch=None)


def analysis_json(stack: Stack, checkpoint: int | None = None, *, intervals: bool = True,
                  q: float = 0.2) -> dict:
    """The object `orderlab analyze --json` prints (schema in docs/analysis.md). NaN becomes null."""
    c = stack.n_checkpoints - 1 if checkpoint is None else int(checkpoint) % stack.n_checkpoints
    curves = M.group_curves(stack, bootstrap=1 if intervals else 0)
    groups = {}
    for arch, cur in curves.items():
        bim = M.bimodality_curve(stack, stack.arch_index(arch))
        own_epoch, own_step = stack.own_positions(stack.arch_index(arch))
        groups[arch] = {**cur, "bimodality_tv": bim["tv"], "sarle": bim["sarle"],
                        "unit": stack.unit_of(stack.arch_index(arch)),
                        # its own positions and steps (networks of other step sizes record apart)
                        "epoch": own_epoch, "step": own_step}
    out = {
        "study": stack.study, "split": stack.split, "n_examples": stack.n_examples,
        # the first network's positions; the steps only where every network took the same
        "n_networks": stack.n_networks, "epoch": stack.epoch, "step": stack.step if stack.steps is None else None,
        # what "epoch" counts: "stage" for learners (boosting rounds, trees, ...), "epoch/stage" for both
        "unit": stack.unit,
        # "at" for a reader: the networks' own positions where they recorded it a little apart
        "checkpoint": {"index": c, "epoch": float(stack.epoch[c]), "at": stack.at(c)},
        "groups": groups,
    }
    if len(curves) > 1:
        cur = M.group_curves(_as_all(stack), bootstrap=1 if intervals else 0)["all"]
        bim = M.bimodality_curve(stack)
        out["all"] = {**cur, "bimodality_tv": bim["tv"], "sarle": bim["sarle"], "unit": stack.unit}
    archs, agree = M.architecture_agreement(stack, c, "tpa")
    _, kappa = M.architecture_agreement(stack, c, "kappa")
    out["architecture_agreement"] = {"archs": archs, "checkpoint": c, "tpa": agree, "kappa": kappa}
    oc = M.order_correlation(stack, q, intervals=intervals)
    if not intervals:          # the same keys either way (docs/analysis.md): null when not computed
        oc.update(spearman_lo=None, spearman_hi=None, overlap_lo=None, overlap_hi=None)
    out["order_correlation"] = oc
    out["checkpoints"] = pick_checkpoints(stack)
    out["warnings"] = list(stack.warnings)
    single = [a for a, g in groups.items() if g["n"] == 1]
    if single:
        out["warnings"].append(one_network_note(single))
    tied = tied_at_top(stack, q)
    if tied:
        out["warnings"].append(tied_note(tied, q, *tied_positions(stack, tied), own_grids(stack)))
    out["warnings"] += identical_notes(stack, c, elsewhere=True)
    return M.nan_to_none(out)


# ------------------------------------------------------------------ text

def _num(x, fmt: str = ".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else unsigned_zero(format(x, fmt))


def _interval(lo, hi) -> str:
    return "" if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) \
        else f" [{_num(lo, '.2f')}–{_num(hi, '.2f')}]"


def text_histogram(observed: np.ndarray, expected: np.ndarray, width: int = 22, max_rows: int = 11
                   ) -> list[str]:
    """Rows of a two-sided text bar chart (rich markup): examples right for k networks, observed
    against independence. Many networks are binned into ``max_rows`` rows."""
    obs, exp = np.asarray(observed, np.float64), np.asarray(expected, np.float64)
    n = obs.size - 1
    edges = np.unique(np.linspace(0, n + 1, min(n + 1, max_rows) + 1).round().astype(int))
    top = max(obs.max(), exp.max(), 1)
    lines = [f"  [dim]{'k':>7}  {'observed':<{width + 7}}  independent networks[/dim]"]
    for lo, hi in zip(edges[:-1], edges[1:]):
        o, e = obs[lo:hi].sum(), exp[lo:hi].sum()
        label = f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}"
        bo = "█" * int(round(width * o / top / (hi - lo)))
        be = "█" * int(round(width * e / top / (hi - lo)))
        lines.append(f"  {label:>7}  [cyan]{bo:<{width}}[/cyan] {int(o):>6}  [magenta]{be:<{width}}[/magenta] {e:>6.0f}")
    return lines


def agreement_summary(stack_test: Stack) -> list[str]:
    """The paper's finding in a few rich-markup lines (used by `orderlab demo`)."""
    st = stack_test
    pts = pick_checkpoints(st)
    mid, fin = pts["middle"], pts["final"]
    curves = M.group_curves(st)
    counts = ", ".join(f"{len(st.arch_index(a))} {a}" for a in st.archs)
    lines = [f"[bold]Agreement on the {st.split} split[/bold]: {st.n_networks} networks ({counts}), "
             f"{st.n_examples} examples, {st.n_checkpoints} checkpoints"]
    for w in st.warnings:
        lines.append(f"  [yellow]note: {w}[/yellow]")
    lines.append(f"  TPA = share of examples all networks get right / mean accuracy; 'independent' = the same "
                 f"if they erred independently; '2/3 learned' = the checkpoint two thirds of the way from the "
                 f"untrained to the final accuracy (small data is learned early in training)")
    above = []
    for a, cur in curves.items():
        parts = []
        for name, e in (("2/3 learned", mid), ("end", fin)):
            t, lo, hi, ind = cur["tpa"][e], cur["tpa_lo"][e], cur["tpa_hi"][e], cur["tpa_independent"][e]
            parts.append(f"{name} ({st.at(e)}, acc {cur['accuracy'][e]:.2f}): "
                         f"TPA [bold]{_num(t, '.2f')}[/bold]{_interval(lo, hi)} vs independent {_num(ind, '.2f')}")
            if e == mid:
                above.append(bool(np.isfinite(lo) and lo > ind) if np.isfinite(lo) else bool(t > ind))
        lines.append(f"  [bold]{a}[/bold] ({cur['n']} nets)  " + ";  ".join(parts))
    first = st.archs[0]
    idx = st.arch_index(first)
    bim = M.bimodality(st, mid, idx)
    lines.append(f"  correct count k = how many of the {idx.size} {first} networks get an example right "
                 f"({st.at(mid)}): [cyan]observed[/cyan] vs [magenta]independent[/magenta]")
    lines += text_histogram(bim["observed"], bim["expected"])
    obs, exp = bim["observed"], bim["expected"]
    ends = (obs[0] + obs[-1]) / max(1, obs.sum())
    ends_ind = (exp[0] + exp[-1]) / max(1e-12, exp.sum())
    lines.append(f"  right for all or for none of them: [bold]{share_text(ends)}[/bold] of examples (independent: "
                 f"{share_text(ends_ind)}); distance from independence (TV) {_num(bim['tv'], '.2f')}, Sarle's "
                 f"bimodality {_num(bim['sarle'], '.2f')} (uniform: {SARLE_UNIFORM:.2f})")
    oc = M.order_correlation(st, intervals=True)
    archs = oc["archs"]
    within = [f"{a} {_num(oc['spearman'][i, i], '.2f')}{_interval(oc['spearman_lo'][i, i], oc['spearman_hi'][i, i])}"
              for i, a in enumerate(archs) if len(st.arch_index(a)) > 1]
    across = [f"{a}–{b} {_num(oc['spearman'][i, j], '.2f')}{_interval(oc['spearman_lo'][i, j], oc['spearman_hi'][i, j])}"
              for i, a in enumerate(archs) for j, b in enumerate(archs) if j > i]
    lines.append("  learning order (Spearman ρ of accessibility, half-groups): "
                 + ("within " + ", ".join(within) if within else "")
                 + ("; across " + ", ".join(across) if across else ""))
    if above and all(above):
        lines.append("  [green]→ networks agree on which examples they get right far more than independent "
                     "networks would[/green]")
    elif above:
        lines.append("  [yellow]→ agreement above independence is not clear for every architecture[/yellow]")
    if within and across:
        a_n = len(archs)
        diag = [i for i, a in enumerate(archs) if len(st.arch_index(a)) > 1]
        off = [(i, j) for i in range(a_n) for j in range(a_n) if j > i]
        w = np.nanmean([oc["spearman"][i, i] for i in diag])
        x = np.nanmean([oc["spearman"][i, j] for i, j in off])
        # "Higher" only when every within-interval lies above every across-interval.
        # Architectures with too few networks have no interval (NaN); compare the ones that do.
        lo = np.array([oc["spearman_lo"][i, i] for i in diag], float)
        hi = np.array([oc["spearman_hi"][i, j] for i, j in off], float)
        lo, hi = lo[np.isfinite(lo)], hi[np.isfinite(hi)]
        if lo.size and hi.size and lo.min() > hi.max():
            lines.append(f"  [green]→ examples are learned in a more similar order within an architecture than "
                         f"across ({w:.2f} vs {x:.2f})[/green]")
        else:
            lines.append(f"  → within- and across-architecture order correlations are not clearly different "
                         f"({w:.2f} vs {x:.2f}; intervals overlap)")
    return lines


# ------------------------------------------------------------------ examples

def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def resolve_class(cls: str | int | None, class_names: Sequence[str] | None) -> int | None:
    if cls is None:
        return None
    text = str(cls)
    names = list(class_names or [])
    # A name first: numeric labels keep their original values as names (an npz with labels 0, 10,
    # 20 has classes 0, 1, 2 named "0", "10", "20"), and the table shows names.
    if text in names:
        return names.index(text)
    # Numeric labels are their own names: a number that is none of them is no class, not an index
    # (with labels 1, 2, 3, "0" was the class named "1"). They match by value ("3" is "3.0").
    values = [_number(n) for n in names]
    numeric = bool(names) and None not in values
    asked = _number(text)
    if numeric:
        if asked is not None and asked in values:
            return values.index(asked)
    elif text.lstrip("-").isdigit():
        return int(text)
    known = ", ".join(names[:20]) if names else "none (use the class number)"
    if numeric:
        raise OrderlabError(f"unknown class {text!r}; use one of the labels: {known}")
    raise OrderlabError(f"unknown class {text!r}; use a class number or one of: {known}")


def tie_sentence(cut: tuple[float, int, int], kind: str, digits: int = 3) -> str:
    """What :func:`~orderlab.analysis.metrics.cut_tie` found, for ``kind`` "easiest" or "hardest"."""
    v, tied, shown = cut
    which = "the one of them shown is" if shown == 1 else f"the {shown} of them shown are"
    other = "the other one" if tied - shown == 1 else f"the other {tied - shown}"
    return (f"{tied} examples tie at accessibility {v:.{digits}f}: {which} the first in the split's order, "
            f"no {'harder' if kind == 'hardest' else 'easier'} than {other}")


def tie_note(rows: list[dict], kind: str) -> str | None:
    """:func:`tie_sentence` for the rows of :func:`example_rows` (each carries its ``tied`` count),
    or None when the last of them is not one of more tied examples than the rows show."""
    if not rows:
        return None
    v, tied = rows[-1]["accessibility"], rows[-1]["tied"]
    shown = sum(r["accessibility"] == v for r in rows)
    return tie_sentence((v, tied, shown), kind) if tied > shown else None


def example_rows(stack: Stack, n: int = 10, *, hardest: bool = False, cls: int | None = None,
                 class_names: Sequence[str] | None = None) -> list[dict]:
    """The ``n`` easiest (most accessible) or hardest examples, optionally of one class: example id,
    label, accessibility over all networks (``tied``: how many of the candidates share it) and, per
    architecture, accessibility, the median learned-at epoch over its networks
    (:func:`~orderlab.analysis.metrics.typical_learned_at`: a checkpoint; None = half or more of
    them never keep it right) and the mean number of forgetting events (right, then wrong at the
    next checkpoint) per network."""
    acc = M.accessibility(stack)
    order = M.learning_order(stack)
    if hardest:
        order = np.argsort(acc, kind="stable")
    if cls is not None:
        if not np.any(stack.label == cls):
            present = np.unique(stack.label)[:20]
            shown = ", ".join(f"{c} ({class_names[c]})" if class_names and 0 <= c < len(class_names)
                              and class_names[c] != str(c) else str(c) for c in present.tolist())
            raise OrderlabError(f"no recorded example has class {cls}; classes present (number, with its name "
                                f"where it differs): {shown}")
        order = order[stack.label[order] == cls]
    pick = order[:max(0, int(n))]
    # How many candidates share each shown accessibility: beyond the rows shown, the pick among
    # them is the split's order, not ease (on digits 30% of the examples tie at 1).
    values, counts = np.unique(acc[order], return_counts=True)
    tied = dict(zip(values.tolist(), counts.tolist()))
    per_arch = {}
    for a in stack.archs:
        idx = stack.arch_index(a)
        med = M.typical_learned_at(M.learned_at(stack, idx)[:, pick])
        forgot = M.forgetting_events(stack, idx)[:, pick].mean(axis=0)
        per_arch[a] = (M.accessibility(stack, idx)[pick], med, forgot)
    rows = []
    for r, x in enumerate(pick):
        label = int(stack.label[x])
        row = {"rank": r + 1, "index": int(x), "example_id": int(stack.example_id[x]), "label": label,
               "class": (list(class_names)[label] if class_names and 0 <= label < len(class_names) else str(label)),
               "accessibility": float(acc[x]), "tied": int(tied[float(acc[x])]), "archs": {}}
        for a, (ac, med, forgot) in per_arch.items():
            row["archs"][a] = {"accessibility": float(ac[r]),
                               "learned_at": None if not np.isfinite(med[r]) else float(med[r]),
                               "forgetting": float(forgot[r])}
        rows.append(row)
    return rows
