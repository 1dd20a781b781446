"""The agreement metrics of the guide's table, on bit-packed correctness.

Notation: ``C[j, e, x]`` is 1 when network ``j`` classifies example ``x`` correctly at checkpoint
``e``. Every function takes a :class:`~orderlab.analysis.stack.Stack` (or a bool array
``[networks, checkpoints, examples]`` / ``[networks, examples]``, packed on the fly: see
:func:`as_stack`), an optional ``checkpoint`` (index into ``stack.epoch``; ``None`` = every
checkpoint) and optional ``networks`` (index array or bool mask; ``None`` = all).

Nothing here unpacks a whole study: counts come from popcounts of packed rows and from
bit-plane counters (:mod:`orderlab.analysis.bits`), so memory stays near the size of the packed
stack plus a few ``[networks, examples]`` arrays.

Uncertainty: TPA intervals use the jackknife over networks (see :func:`tpa_ci` for why the
percentile bootstrap is wrong for TPA); order correlations use the jackknife too (:func:`order_correlation`).
"""
from __future__ import annotations

import itertools
import math
import warnings
import zlib
from typing import Callable, Sequence

import numpy as np

from orderlab.analysis.bits import CHUNK_BYTES, BitCounter, pack, popcount_rows
from orderlab.analysis.stack import Stack, trained_positions
from orderlab.analysis.stats import (dot, int_ranks, pearson, percentile_interval, poisson_binomial, sarle,
                                     t_quantile, top_weights, total_variation)
from orderlab.errors import OrderlabError

Networks = Sequence[int] | np.ndarray | None

__all__ = [
    "as_stack", "accuracy", "correct_counts", "tpa", "tpa_independent", "jaccard", "tpa_ci", "group_curves",
    "pairwise_agreement", "architecture_agreement", "correct_count", "correct_count_histogram",
    "correct_count_histograms", "bimodality", "bimodality_curve", "network_totals", "accessibility",
    "learning_order", "learned_at", "typical_learned_at", "cut_tie", "order_correlation",
    "group_order_correlation", "forgetting_events", "bootstrap_ci", "jackknife_ci", "half_splits",
]


# ------------------------------------------------------------------ inputs

def as_stack(x: Stack | np.ndarray, *, arch: Sequence[str] | None = None, epoch: Sequence[float] | None = None,
             label: Sequence[int] | None = None, split: str = "test") -> Stack:
    """A Stack as is, or a bool array ``[n, C, N]`` (or ``[n, N]``: one checkpoint) packed into one.

    Without ``epoch`` the checkpoints are at epochs 0, 1, 2, ...: the first is taken for the
    untrained network, which accessibility and learning orders leave out. Pass ``epoch`` for an
    array that starts after it."""
    if isinstance(x, Stack):
        return x
    a = np.asarray(x)
    if a.dtype != bool:
        raise TypeError(f"correctness must be a Stack or a bool array, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3:
        raise ValueError(f"correctness must be [networks, checkpoints, examples], got shape {a.shape}")
    n, c, m = a.shape
    return Stack(split=split, bits=pack(a), n_examples=m,
                 epoch=np.arange(c, dtype=np.float64) if epoch is None else np.asarray(epoch, np.float64),
                 step=np.arange(c, dtype=np.int64),
                 arch=np.array(["net"] * n if arch is None else [str(s) for s in arch]),
                 seed=np.arange(n, dtype=np.int64), run_id=np.array([f"net{j}" for j in range(n)]),
                 example_id=np.arange(m, dtype=np.int64),
                 label=np.zeros(m, np.int64) if label is None else np.asarray(label, np.int64),
                 fingerprint="unpacked")


def _networks(stack: Stack, networks: Networks) -> np.ndarray:
    if networks is None:
        return np.arange(stack.n_networks)
    idx = np.asarray(networks)
    if idx.dtype == bool:
        idx = np.flatnonzero(idx)
    idx = idx.astype(np.int64).ravel()
    if idx.size == 0:
        raise OrderlabError("no networks selected; choose at least one network (or architecture)")
    if idx.min() < -stack.n_networks or idx.max() >= stack.n_networks:
        raise IndexError(f"network index out of range (the stack has {stack.n_networks} networks)")
    return idx % stack.n_networks


def _checkpoint(stack: Stack, checkpoint: int) -> int:
    c = int(checkpoint)
    if not -stack.n_checkpoints <= c < stack.n_checkpoints:
        raise IndexError(f"checkpoint {c} out of range (the stack has {stack.n_checkpoints} checkpoints)")
    return c % stack.n_checkpoints


def _take(bits: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``bits[idx]``, as a view when ``idx`` is a run of consecutive networks."""
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and np.all(np.diff(idx) == 1):
        return bits[idx[0]:idx[-1] + 1]
    return bits[idx]


def _blocks(n: int, row_bytes: int):
    """Slices of ``n`` rows with about CHUNK_BYTES of temporaries each (read at call time)."""
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    for s in range(0, n, step):
        yield slice(s, min(n, s + step))


def _ratio(num, den):
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return float(out) if out.ndim == 0 else out


def _reduce(stack: Stack, idx: np.ndarray, checkpoint: int | None, op) -> np.ndarray:
    """Bitwise reduction over networks: packed ``[B]`` at one checkpoint, ``[C, B]`` for all."""
    sel = (slice(None),) if checkpoint is None else (checkpoint,)
    out = stack.bits[(int(idx[0]),) + sel].copy()
    for j in idx[1:]:
        op(out, stack.bits[(int(j),) + sel], out=out)
    return out


# ------------------------------------------------------------------ accuracy and TPA

def correct_counts(stack: Stack | np.ndarray, checkpoint: int | None = None, networks: Networks = None
                   ) -> np.ndarray:
    """Number of examples each network gets right: int64 ``[n, C]`` (or ``[n]`` at one checkpoint)."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    if checkpoint is not None:
        return popcount_rows(stack.bits[idx, _checkpoint(stack, checkpoint)])
    out = np.empty((idx.size, stack.n_checkpoints), np.int64)
    for b in _blocks(idx.size, stack.n_checkpoints * stack.bits.shape[2]):
        out[b] = popcount_rows(_take(stack.bits, idx[b]))
    return out


def accuracy(stack: Stack | np.ndarray, checkpoint: int | None = None, networks: Networks = None) -> np.ndarray:
    """``acc_j``: float ``[n, C]`` (checkpoint None) or ``[n]``."""
    stack = as_stack(stack)
    return correct_counts(stack, checkpoint, networks) / max(1, stack.n_examples)


def _all_any(stack: Stack, idx: np.ndarray, checkpoint: int | None) -> tuple[np.ndarray, np.ndarray]:
    return (popcount_rows(_reduce(stack, idx, checkpoint, np.bitwise_and)),
            popcount_rows(_reduce(stack, idx, checkpoint, np.bitwise_or)))


def tpa(stack: Stack | np.ndarray, checkpoint: int | None = None, networks: Networks = None):
    """True-positive agreement ``mean_x prod_j C[j,x] / mean_j acc_j``: float, or ``[C]``.

    NaN where no network gets anything right (0/0).
    """
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    c = None if checkpoint is None else _checkpoint(stack, checkpoint)
    all_correct = popcount_rows(_reduce(stack, idx, c, np.bitwise_and))
    return _ratio(all_correct, correct_counts(stack, c, idx).mean(axis=0))


def _independent(counts: np.ndarray, n_examples: int):
    acc = counts / max(1, n_examples)
    with np.errstate(under="ignore"):
        prod = np.prod(acc, axis=0)
    return _ratio(prod, acc.mean(axis=0))


def tpa_independent(stack: Stack | np.ndarray, checkpoint: int | None = None, networks: Networks = None):
    """The TPA expected if networks erred independently: ``prod_j acc_j / mean_j acc_j``."""
    stack = as_stack(stack)
    c = None if checkpoint is None else _checkpoint(stack, checkpoint)
    return _independent(correct_counts(stack, c, networks), stack.n_examples)


def jaccard(stack: Stack | np.ndarray, checkpoint: int | None = None, networks: Networks = None):
    """Jaccard agreement: examples all networks get right over examples any network gets right."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    c = None if checkpoint is None else _checkpoint(stack, checkpoint)
    all_c, any_c = _all_any(stack, idx, c)
    return _ratio(all_c, any_c)


def _jackknife_tpa(stack: Stack, idx: np.ndarray, counts: np.ndarray, theta: np.ndarray, level: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Jackknife interval of the TPA curve over networks, ``counts``: int ``[m, C]``.

    Leave-one-out all-correct counts come from prefix and suffix ANDs (3m bitwise operations per
    checkpoint chunk rather than m^2).
    """
    m, n_c = counts.shape
    if m < 3:
        nan = np.full(n_c, np.nan)
        return nan, nan.copy()
    nb = stack.bits.shape[2]
    loo_all = np.empty((m, n_c), np.int64)
    step = max(1, CHUNK_BYTES // ((2 * m + 2) * nb))
    for c0 in range(0, n_c, step):
        c1 = min(n_c, c0 + step)
        rows = stack.bits[idx, c0:c1]                       # [m, cc, B]
        suffix = np.empty((m + 1, c1 - c0, nb), np.uint8)
        suffix[m] = 0xFF
        for i in range(m - 1, -1, -1):
            np.bitwise_and(suffix[i + 1], rows[i], out=suffix[i])
        prefix = np.full((c1 - c0, nb), 0xFF, np.uint8)
        loo = np.empty_like(prefix)
        for i in range(m):
            np.bitwise_and(prefix, suffix[i + 1], out=loo)
            loo_all[i, c0:c1] = popcount_rows(loo)
            np.bitwise_and(prefix, rows[i], out=prefix)
    loo_mean = (counts.sum(axis=0)[None, :] - counts) / (m - 1)
    t_i = _ratio(loo_all, loo_mean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.sqrt((m - 1) / m * ((t_i - t_i.mean(axis=0)) ** 2).sum(axis=0))
    half = t_quantile(1 - (1 - level) / 2, m - 1) * se
    return np.clip(theta - half, 0.0, 1.0), np.clip(theta + half, 0.0, 1.0)


def tpa_ci(stack: Stack | np.ndarray, checkpoint: int | None = None, networks: Networks = None,
           level: float = 0.95) -> tuple:
    """Interval for TPA over networks (seeds): jackknife standard error with a t quantile.

    Why not the percentile bootstrap: TPA is an intersection over networks, and a bootstrap
    resample repeats networks (about 63% distinct), so resampled TPA is biased upward and the
    percentile interval misses the truth (measured on synthetic populations: 0-47% coverage of
    a 95% interval at 4-16 networks). The jackknife is conservative for any symmetric statistic
    (Efron-Stein) and gave 89-99% coverage there. Needs 3 networks; NaN below.
    Returns ``(lo, hi)``: floats, or ``[C]`` arrays when ``checkpoint`` is None.
    """
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    if checkpoint is None:
        counts = correct_counts(stack, None, idx)
        theta = _ratio(popcount_rows(_reduce(stack, idx, None, np.bitwise_and)), counts.mean(axis=0))
        return _jackknife_tpa(stack, idx, counts, np.atleast_1d(theta), level)
    c = _checkpoint(stack, checkpoint)
    sub = stack.select(idx)
    sub = Stack(sub.split, sub.bits[:, c:c + 1], sub.n_examples, sub.epoch[c:c + 1], sub.step[c:c + 1], sub.arch,
                sub.seed, sub.run_id, sub.example_id, sub.label, sub.fingerprint)
    lo, hi = tpa_ci(sub, None, None, level)
    return float(lo[0]), float(hi[0])


def group_curves(stack: Stack | np.ndarray, bootstrap: int = 200, *, level: float = 0.95,
                 networks: Networks = None) -> dict[str, dict]:
    """Per architecture, over checkpoints: ``n``, ``accuracy`` (mean), ``tpa``, ``tpa_independent``,
    ``jaccard``, ``tpa_lo``/``tpa_hi`` (interval over networks, see :func:`tpa_ci`).

    ``bootstrap=0`` skips the intervals (then ``tpa_lo``/``tpa_hi`` are NaN: not computed, never a
    zero-width interval that reads as certainty), which the live TUI uses; any other value computes
    them (the jackknife needs no replicate count; the name is kept for callers).
    """
    stack = as_stack(stack)
    sel = _networks(stack, networks)
    out: dict[str, dict] = {}
    for arch in stack.archs:
        idx = sel[stack.arch[sel] == arch]
        if idx.size == 0:
            continue
        counts = correct_counts(stack, None, idx)
        all_c, any_c = _all_any(stack, idx, None)
        mean = counts.mean(axis=0)
        t = np.atleast_1d(_ratio(all_c, mean))
        if bootstrap:
            lo, hi = _jackknife_tpa(stack, idx, counts, t, level)
        else:
            lo, hi = np.full_like(t, np.nan, dtype=float), np.full_like(t, np.nan, dtype=float)
        out[arch] = {"n": int(idx.size), "accuracy": mean / max(1, stack.n_examples), "tpa": t,
                     "tpa_independent": np.atleast_1d(_independent(counts, stack.n_examples)),
                     "jaccard": np.atleast_1d(_ratio(all_c, any_c)), "tpa_lo": lo, "tpa_hi": hi}
    return out


# ------------------------------------------------------------------ pairwise agreement

def _pair_counts(stack: Stack, checkpoint: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = stack.bits[idx, checkpoint]                       # [m, B]
    single = popcount_rows(rows)
    m = idx.size
    both = np.empty((m, m), np.int64)
    for i in range(m):
        both[i, i:] = popcount_rows(np.bitwise_and(rows[i], rows[i:]))
        both[i:, i] = both[i, i:]
    return single, both


def pairwise_agreement(stack: Stack | np.ndarray, checkpoint: int, measure: str = "tpa",
                       networks: Networks = None) -> np.ndarray:
    """``[n, n]`` agreement of every pair of networks at one checkpoint.

    ``tpa``: the pair's TPA, ``|i and j| / mean(|i|, |j|)`` (1 on the diagonal). ``kappa``: Cohen's
    kappa of the two correctness vectors (1 for identical vectors, even constant ones).
    """
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    c = _checkpoint(stack, checkpoint)
    single, both = _pair_counts(stack, c, idx)
    si, sj = single[:, None].astype(np.float64), single[None, :].astype(np.float64)
    if measure == "tpa":
        return _ratio(both, (si + sj) / 2)
    if measure == "kappa":
        n = float(max(1, stack.n_examples))
        po = (n - si - sj + 2 * both) / n
        pi, pj = si / n, sj / n
        pe = pi * pj + (1 - pi) * (1 - pj)
        k = _ratio(po - pe, 1 - pe)
        return np.where(np.isclose(po, 1.0), 1.0, k)
    raise OrderlabError(f"unknown agreement measure {measure!r}; use tpa or kappa")


def _block_means(p: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    a = len(groups)
    out = np.full((a, a), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, gi in enumerate(groups):
            for j, gj in enumerate(groups):
                block = p[np.ix_(gi, gj)]
                if i == j:
                    if gi.size > 1:
                        out[i, i] = np.nanmean(block[~np.eye(gi.size, dtype=bool)])
                else:
                    out[i, j] = np.nanmean(block)
    return out


def architecture_agreement(stack: Stack | np.ndarray, checkpoint: int, measure: str = "tpa",
                           networks: Networks = None) -> tuple[list[str], np.ndarray]:
    """Mean pairwise agreement between networks of architecture A and of B (diagonal: distinct
    pairs within A, NaN for a single network). Returns ``(archs, [A, A])``."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    p = pairwise_agreement(stack, checkpoint, measure, idx)
    archs = [a for a in stack.archs if np.any(stack.arch[idx] == a)]
    groups = [np.flatnonzero(stack.arch[idx] == a) for a in archs]
    return archs, _block_means(p, groups)


# ------------------------------------------------------------------ correct counts

def correct_count(stack: Stack | np.ndarray, checkpoint: int, networks: Networks = None) -> np.ndarray:
    """``k(x) = sum_j C[j, x]``: how many of the networks get each example right, int ``[N]``."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    c = _checkpoint(stack, checkpoint)
    counter = BitCounter((stack.bits.shape[2],), idx.size)
    for j in idx:
        counter.add(stack.bits[int(j), c])
    return counter.counts(stack.n_examples).astype(np.int64)


def correct_count_histogram(stack: Stack | np.ndarray, checkpoint: int, networks: Networks = None
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``(observed [n+1], expected [n+1])``: examples right for exactly k networks, and the same
    under independence (Poisson-binomial of the networks' accuracies) times N."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    k = correct_count(stack, checkpoint, idx)
    observed = np.bincount(k, minlength=idx.size + 1)
    acc = accuracy(stack, checkpoint, idx)
    return observed, poisson_binomial(acc) * stack.n_examples


def correct_count_histograms(stack: Stack | np.ndarray, networks: Networks = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """The histograms of every checkpoint at once: ``(observed [C, n+1], expected [C, n+1])``."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    m, n_c, nb = idx.size, stack.n_checkpoints, stack.bits.shape[2]
    observed = np.empty((n_c, m + 1), np.int64)
    planes = max(1, m.bit_length()) + 2
    for cs in _blocks(n_c, nb * planes + stack.n_examples * 24):
        counter = BitCounter((cs.stop - cs.start, nb), m)
        for j in idx:
            counter.add(stack.bits[int(j), cs])
        k = counter.counts(stack.n_examples).astype(np.int64)          # [cc, N]
        offs = (np.arange(k.shape[0]) * (m + 1))[:, None]
        observed[cs] = np.bincount((k + offs).ravel(), minlength=k.shape[0] * (m + 1)).reshape(-1, m + 1)
    acc = accuracy(stack, None, idx)
    expected = np.stack([poisson_binomial(acc[:, e]) for e in range(n_c)]) * stack.n_examples
    return observed, expected


def bimodality(stack: Stack | np.ndarray, checkpoint: int, networks: Networks = None) -> dict:
    """How far the correct-count histogram is from independence: ``tv`` (total variation between
    the normalised observed and independence histograms, 0..1) and ``sarle`` (Sarle's bimodality
    coefficient of k; > 5/9 suggests two modes); also ``observed`` and ``expected``."""
    obs, exp = correct_count_histogram(stack, checkpoint, networks)
    return {"tv": total_variation(obs, exp), "sarle": sarle(obs), "observed": obs, "expected": exp}


def bimodality_curve(stack: Stack | np.ndarray, networks: Networks = None) -> dict:
    """``tv`` and ``sarle`` over checkpoints (``[C]`` each)."""
    obs, exp = correct_count_histograms(stack, networks)
    return {"tv": np.array([total_variation(o, e) for o, e in zip(obs, exp)]),
            "sarle": np.array([sarle(o) for o in obs])}


# ------------------------------------------------------------------ accessibility and order

def network_totals(stack: Stack | np.ndarray, networks: Networks = None) -> np.ndarray:
    """For each network and example, at how many trained checkpoints (all but the untrained
    network's: :func:`~orderlab.analysis.stack.trained_positions`) the network was right: ``[n, N]``
    (uint8/uint16). Accessibility is its mean over networks divided by that checkpoint count."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    if stack.own_totals is not None:           # grids differ: each network's own checkpoints (see Stack)
        return stack.own_totals[idx]
    trained = trained_positions(stack.epoch)
    n_t, nb, n = trained.size, stack.bits.shape[2], stack.n_examples
    dtype = np.uint8 if n_t < 256 else np.uint16 if n_t < 65536 else np.uint32
    out = np.empty((idx.size, n), dtype)
    planes = max(1, n_t.bit_length()) + 2
    for b in _blocks(idx.size, nb * planes + n * 2):
        sub = idx[b]
        counter = BitCounter((sub.size, nb), n_t)
        view = _take(stack.bits, sub)
        for e in trained:
            counter.add(view[:, e])
        out[b] = counter.counts(n, dtype)
    return out


def _accessibility_sum(stack: Stack, idx: np.ndarray) -> np.ndarray:
    """``sum_{j,e} C[j,e,x]`` as int64 ``[N]``, without holding all ``[n, N]`` totals at once."""
    if stack.own_totals is not None:
        return stack.own_totals[idx].sum(axis=0, dtype=np.int64)
    total = np.zeros(stack.n_examples, np.int64)
    nb, n = stack.bits.shape[2], stack.n_examples
    planes = max(1, stack.n_checkpoints.bit_length()) + 2
    for b in _blocks(idx.size, nb * planes + n * 2):
        total += network_totals(stack, idx[b]).sum(axis=0, dtype=np.int64)
    return total


def accessibility(stack: Stack | np.ndarray, networks: Networks = None) -> np.ndarray:
    """``a(x) = mean_{j,e} C[j,e,x]`` in [0, 1], ``e`` over the trained checkpoints (the untrained
    network's right answers are its initial favourite class, not learning: see
    :func:`~orderlab.analysis.stack.trained_positions`): the area under each example's learning
    curve (each network over its own checkpoints when the networks recorded different grids)."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    scale = stack.own_scale if stack.own_totals is not None else trained_positions(stack.epoch).size
    return _accessibility_sum(stack, idx) / (idx.size * scale)


def learning_order(stack: Stack | np.ndarray, networks: Networks = None) -> np.ndarray:
    """Example indices (into the stack's examples), most accessible first (ties: lower index first)."""
    stack = as_stack(stack)
    return np.argsort(-_accessibility_sum(stack, _networks(stack, networks)), kind="stable")


def learned_at(stack: Stack | np.ndarray, networks: Networks = None, *, as_index: bool = False) -> np.ndarray:
    """For each network and example, the first checkpoint from which the example stays correct to
    the end: epochs as float ``[n, N]`` (NaN if never; on each network's own checkpoints when the
    networks recorded different grids, at its own positions where they lie apart: ``Stack.positions``),
    or indices of the stack's checkpoints (-1 if never).

    The trailing run of correct checkpoints is counted with a running AND from the last checkpoint
    backwards, so learned-at = C - (length of that run).
    """
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    if stack.own_learned is not None and not as_index:     # grids differ: each network's own (see Stack)
        return stack.own_learned[idx]
    n_c, nb, n = stack.n_checkpoints, stack.bits.shape[2], stack.n_examples
    out = np.empty((idx.size, n), np.int64 if as_index else np.float64)
    planes = max(1, n_c.bit_length()) + 3
    for b in _blocks(idx.size, nb * planes + n * 10):
        sub = idx[b]
        run = stack.bits[sub, n_c - 1].copy()                 # [m, B]
        counter = BitCounter(run.shape, n_c)
        counter.add(run)
        for e in range(n_c - 2, -1, -1):
            np.bitwise_and(run, stack.bits[sub, e], out=run)
            if not run.any():                                   # nothing stays correct further back
                break
            counter.add(run)
        tail = counter.counts(n).astype(np.int64)
        first = n_c - tail
        if as_index:
            out[b] = np.where(tail > 0, first, -1)
        else:
            # each network's own position (another batch size records a checkpoint a step apart)
            at = stack.epoch[None, :] if stack.positions is None else stack.positions[sub]
            out[b] = np.where(tail > 0, np.take_along_axis(np.broadcast_to(at, (sub.size, n_c)),
                                                           np.minimum(first, n_c - 1), axis=1), np.nan)
    return out


def typical_learned_at(learned: np.ndarray) -> np.ndarray:
    """Per example, the epoch by which more than half of the networks have learned it for good:
    the median of :func:`learned_at`'s ``[n, N]`` over networks, taking the upper of the two
    middle values when ``n`` is even, so that it is always one of the checkpoints (the mean of two,
    0.13 between checkpoints 0 and 0.26, was no epoch any network was seen at). NaN when half or
    more of the networks never keep the example right."""
    la = np.asarray(learned, float)
    if la.shape[0] == 0:
        return np.full(la.shape[1:], np.nan)
    filled = np.sort(np.where(np.isnan(la), np.inf, la), axis=0)
    out = filled[la.shape[0] // 2]
    return np.where(np.isinf(out), np.nan, out)


def cut_tie(ordered: np.ndarray, k: int) -> tuple[float, int, int] | None:
    """For examples listed in an order (``ordered``: their accessibilities, as listed) of which the
    first ``k`` are shown: ``(value, tied, shown)`` when the last one shown shares its value with
    more examples than are shown (which of those appear is then the listing's order, not ease),
    else None."""
    ordered = np.asarray(ordered, float)
    k = min(int(k), ordered.size)
    if k <= 0:
        return None
    v = ordered[k - 1]
    tied, shown = int(np.sum(ordered == v)), int(np.sum(ordered[:k] == v))
    return (float(v), tied, shown) if tied > shown else None


def forgetting_events(stack: Stack | np.ndarray, networks: Networks = None) -> np.ndarray:
    """Number of 1 -> 0 transitions of ``C[j, ., x]`` over checkpoints (Toneva et al. 2019): int32 ``[n, N]``
    (over each network's own checkpoints when the networks recorded different grids)."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    if stack.own_forgetting is not None:
        return stack.own_forgetting[idx]
    n_c, nb, n = stack.n_checkpoints, stack.bits.shape[2], stack.n_examples
    out = np.zeros((idx.size, n), np.int32)
    if n_c < 2:
        return out
    planes = max(1, (n_c - 1).bit_length()) + 3
    for b in _blocks(idx.size, nb * planes + n * 6):
        sub = idx[b]
        counter = BitCounter((sub.size, nb), n_c - 1)
        prev = stack.bits[sub, 0]
        ev = np.empty_like(prev)
        for e in range(1, n_c):
            cur = stack.bits[sub, e]
            np.bitwise_and(prev, np.invert(cur), out=ev)       # padding: prev is 0 there
            counter.add(ev)
            prev = cur
        out[b] = counter.counts(n)
    return out


def _canonical(stack: Stack, idx: np.ndarray) -> np.ndarray:
    """Networks in an order that does not depend on their position in the stack, nor on their run
    ids (random: the same networks trained into two studies drew other half-splits, and gave other
    learning-order numbers): by seed, run id only between networks of one seed (pooled studies)."""
    keys = sorted(idx, key=lambda j: (int(stack.seed[j]), str(stack.run_id[j]), int(j)))
    return np.array(keys, dtype=np.int64)


def half_splits(stack: Stack, n_splits: int = 10, seed: int = 0, networks: Networks = None
                ) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Splits of each architecture's networks into two halves (a single network is its own two
    halves), ``n_splits`` of them. Deterministic given ``seed``, and the same whatever
    the order of networks and whichever other architectures are analysed: each architecture draws
    from its own generator, seeded by ``seed`` and its name (the name it was trained under, where
    the stack groups it under another, :attr:`Stack.trained_arch`). An architecture with at most
    ``n_splits`` distinct splits (up to 6 networks: 3 for 3 or 4 networks, 10 for 5 or 6) takes
    each of them in turn rather than random draws with repeats, so its average is the exact one
    when ``n_splits`` is a multiple of their number (with 3 or 4 networks and 10 splits, one of the
    3 counts 4 times, the others 3: a fixed count keeps each architecture's numbers the same
    whichever others are analysed)."""
    stack = as_stack(stack)
    sel = _networks(stack, networks)
    members = {a: _canonical(stack, sel[stack.arch[sel] == a]) for a in stack.archs
               if np.any(stack.arch[sel] == a)}
    def named(a: str, m: np.ndarray) -> str:
        # the architecture its networks were trained as, where the group has another name
        trained = set() if stack.trained_arch is None else set(stack.trained_arch[m].tolist())
        return trained.pop() if len(trained) == 1 else a
    per_arch = {a: _arch_splits(m, n_splits, np.random.default_rng([seed, zlib.crc32(named(a, m).encode())]))
                for a, m in members.items()}
    return [{a: per_arch[a][i] for a in members} for i in range(n_splits)]


def _arch_splits(m: np.ndarray, n_splits: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` splits of the networks ``m`` into halves (the first the smaller when odd)."""
    if m.size == 1:
        return [(m, m)] * n_splits
    h = m.size // 2
    distinct = math.comb(m.size, h) // (2 if m.size % 2 == 0 else 1)
    if distinct <= n_splits:
        # each unordered split once: with an even count, the halves holding the first network
        firsts = [c for c in itertools.combinations(range(m.size), h) if m.size % 2 or 0 in c]
        order = rng.permutation(len(firsts))
        out = []
        for i in range(n_splits):
            first = np.array(firsts[order[i % len(firsts)]])
            rest = np.setdiff1d(np.arange(m.size), first)
            out.append((m[first], m[rest]))
        return out
    out = []
    for _ in range(n_splits):
        p = rng.permutation(m)
        out.append((p[:h], p[h:]))
    return out


class _Feat:
    """An order's features for fast comparisons: unit-norm centred ranks and first-k weights."""
    __slots__ = ("z", "w")

    def __init__(self, vsum: np.ndarray, k: int):
        r = int_ranks(vsum)
        r -= r.mean()
        norm = math.sqrt(dot(r, r))
        self.z = r / norm if norm > 0 else np.full(r.shape, np.nan)
        self.w = top_weights(vsum, k)


def _entries(feats: dict[str, tuple[_Feat, _Feat]], single: set[str], a: str, archs: list[str], k: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """Row ``a`` of the Spearman and overlap matrices from the halves' features.

    Within: half 1 against half 2. Across: the mean over the four half-against-half pairs, so
    within- and across-architecture numbers rest on groups of the same size.
    """
    rho = np.empty(len(archs))
    ovl = np.empty(len(archs))
    fa = feats[a]
    for j, b in enumerate(archs):
        if b == a:
            if a in single:
                rho[j] = ovl[j] = 1.0
            else:
                rho[j] = dot(fa[0].z, fa[1].z)
                ovl[j] = dot(fa[0].w, fa[1].w) / k
        else:
            fb = feats[b]
            rho[j] = np.mean([dot(x.z, y.z) for x in fa for y in fb])
            ovl[j] = np.mean([dot(x.w, y.w) for x in fa for y in fb]) / k
    return rho, ovl


def _jackknife_matrix(theta: np.ndarray, loo: np.ndarray, units: list[np.ndarray], level: float,
                      bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-entry jackknife intervals; ``units[i][j]`` = bool mask of the networks that entry (i, j)
    rests on (NaN where fewer than 3)."""
    a = theta.shape[0]
    lo, hi = np.full((a, a), np.nan), np.full((a, a), np.nan)
    for i in range(a):
        for j in range(a):
            vals = loo[units[i][j], i, j]
            m = vals.size
            if m < 3 or not np.all(np.isfinite(vals)):
                continue
            se = math.sqrt((m - 1) / m * float(((vals - vals.mean()) ** 2).sum()))
            half = t_quantile(1 - (1 - level) / 2, m - 1) * se
            lo[i, j], hi[i, j] = max(bounds[0], theta[i, j] - half), min(bounds[1], theta[i, j] + half)
    return lo, hi


def order_correlation(stack: Stack | np.ndarray, q: float = 0.2, *, intervals: bool = False,
                      level: float = 0.95, n_splits: int = 10, seed: int = 0, networks: Networks = None) -> dict:
    """Within- and across-architecture agreement of the learning order.

    Returns ``archs``; ``spearman`` ``[A, A]``: Spearman's rho between accessibilities (diagonal:
    split-half within the architecture, 1 for a single network); ``overlap`` ``[A, A]``: share of
    the first ``q`` of examples learned that two groups have in common (unrelated orders give
    ``q``; ties at the cut count fractionally). Every entry compares half-groups (within: A1 vs
    A2; across: each half of A vs each half of B), averaged over ``n_splits`` splits (:func:`half_splits`), so
    within and across rest on groups of the same size.

    ``intervals=True`` adds ``spearman_lo/hi`` and ``overlap_lo/hi``: jackknife over the networks
    an entry rests on (same splits, one network left out; t quantile). A percentile bootstrap
    over networks is wrong here, as for TPA: duplicated networks make the halves' orders noisier,
    which drags resampled correlations down (measured: 0-11% coverage of a 95% interval at 8-16
    networks per architecture, against 93-100% for the jackknife).
    """
    stack = as_stack(stack)
    sel = _networks(stack, networks)
    if not 0 < q <= 1:
        raise OrderlabError(f"q must be in (0, 1], got {q}")
    archs = [a for a in stack.archs if np.any(stack.arch[sel] == a)]
    single = {a for a in archs if np.sum(stack.arch[sel] == a) == 1}
    totals = network_totals(stack, sel)                        # [m, N], rows follow `sel`
    pos = {int(j): i for i, j in enumerate(sel)}
    k = max(1, int(round(q * stack.n_examples)))
    n_a = len(archs)
    row = {a: i for i, a in enumerate(archs)}

    def half_sum(h: np.ndarray) -> np.ndarray:
        return totals[[pos[int(j)] for j in h]].sum(axis=0, dtype=np.int64)

    plans = half_splits(stack, n_splits, seed, sel)
    rho, ovl = np.zeros((n_a, n_a)), np.zeros((n_a, n_a))
    loo_rho = np.zeros((sel.size, n_a, n_a)) if intervals else None
    loo_ovl = np.zeros((sel.size, n_a, n_a)) if intervals else None
    for plan in plans:
        sums = {a: [half_sum(h) for h in plan[a]] for a in archs}
        feats = {a: tuple(_Feat(s, k) for s in sums[a]) for a in archs}
        full_r, full_o = np.empty((n_a, n_a)), np.empty((n_a, n_a))
        for a in archs:
            full_r[row[a]], full_o[row[a]] = _entries(feats, single, a, archs, k)
        rho += full_r
        ovl += full_o
        if not intervals:
            continue
        for a in archs:
            if a in single:
                continue                      # leaving the only network out leaves no group
            halves = plan[a]
            for side in (0, 1):
                other = halves[1 - side]
                for j in halves[side]:
                    i = pos[int(j)]
                    rest = sums[a][side] - totals[i]
                    if halves[side].size > 1:
                        new = [rest, sums[a][1]] if side == 0 else [sums[a][0], rest]
                        new_single = single
                    elif other.size > 1:      # the half emptied: move one network across
                        first = totals[pos[int(other[0])]].astype(np.int64)
                        new = [first, sums[a][1 - side] - first]
                        new_single = single
                    else:                     # two networks: one is left, a single network
                        new = [sums[a][1 - side]] * 2
                        new_single = single | {a}
                    f = dict(feats)
                    f[a] = tuple(_Feat(s, k) for s in new) if new[0] is not new[1] else (_Feat(new[0], k),) * 2
                    r, o = _entries(f, new_single, a, archs, k)
                    lr, lo_ = full_r.copy(), full_o.copy()
                    lr[row[a]], lr[:, row[a]] = r, r
                    lo_[row[a]], lo_[:, row[a]] = o, o
                    loo_rho[i] += lr
                    loo_ovl[i] += lo_
    rho /= len(plans)
    ovl /= len(plans)
    out = {"archs": archs, "spearman": rho, "overlap": ovl, "q": q, "n_splits": n_splits}
    if intervals:
        loo_rho /= len(plans)
        loo_ovl /= len(plans)
        arch_sel = stack.arch[sel]
        units = [[(arch_sel == a) | (arch_sel == b) for b in archs] for a in archs]
        for a in single:                     # a single network is fixed: vary the other group only
            for b in archs:
                units[row[a]][row[b]] = units[row[a]][row[b]] & (arch_sel != a)
                units[row[b]][row[a]] = units[row[b]][row[a]] & (arch_sel != a)
        out["spearman_lo"], out["spearman_hi"] = _jackknife_matrix(rho, loo_rho, units, level, (-1.0, 1.0))
        out["overlap_lo"], out["overlap_hi"] = _jackknife_matrix(ovl, loo_ovl, units, level, (0.0, 1.0))
    return out


def group_order_correlation(stack: Stack | np.ndarray, networks_a: Networks, networks_b: Networks,
                            q: float = 0.2) -> dict:
    """Spearman's rho and first-q overlap between the accessibilities of any two sets of networks."""
    stack = as_stack(stack)
    ia, ib = _networks(stack, networks_a), _networks(stack, networks_b)
    sa, sb = _accessibility_sum(stack, ia), _accessibility_sum(stack, ib)
    k = max(1, int(round(q * stack.n_examples)))
    return {"spearman": pearson(int_ranks(sa), int_ranks(sb)),
            "overlap": dot(top_weights(sa, k), top_weights(sb, k)) / k}


# ------------------------------------------------------------------ uncertainty helpers

def bootstrap_ci(fn: Callable, stack: Stack | np.ndarray, networks: Networks = None, n_boot: int = 200,
                 seed: int = 0, level: float = 0.95) -> tuple:
    """Percentile bootstrap over networks of ``fn(stack, networks=idx)`` (float or array).

    Right for statistics that average over networks (accuracy, accessibility and what is
    computed from it); not for TPA or Jaccard, which intersect networks: use :func:`tpa_ci`
    or :func:`jackknife_ci` for those.
    """
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    rng = np.random.default_rng(seed)
    reps = np.array([np.asarray(fn(stack, networks=rng.choice(idx, idx.size)), np.float64)
                     for _ in range(n_boot)])
    return percentile_interval(reps, level)


def jackknife_ci(fn: Callable, stack: Stack | np.ndarray, networks: Networks = None, level: float = 0.95
                 ) -> tuple:
    """Jackknife (leave one network out) interval with a t quantile, for any statistic
    ``fn(stack, networks=idx)``; NaN with fewer than 3 networks."""
    stack = as_stack(stack)
    idx = _networks(stack, networks)
    m = idx.size
    theta = np.asarray(fn(stack, networks=idx), np.float64)
    if m < 3:
        nan = np.full(theta.shape, np.nan)
        return (float(nan), float(nan)) if theta.ndim == 0 else (nan, nan.copy())
    loo = np.array([np.asarray(fn(stack, networks=np.delete(idx, i)), np.float64) for i in range(m)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.sqrt((m - 1) / m * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    half = t_quantile(1 - (1 - level) / 2, m - 1) * se
    lo, hi = theta - half, theta + half
    return (float(lo), float(hi)) if theta.ndim == 0 else (lo, hi)


def nan_to_none(x):
    """JSON-friendly copy: arrays to lists, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [nan_to_none(v) for v in x]
    if isinstance(x, np.ndarray):
        return nan_to_none(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
