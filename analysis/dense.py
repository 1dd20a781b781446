"""The same metrics written straight from the definitions on dense bool arrays ``[n, C, N]``.

A reference, not a tool: it holds every bit as a byte (8x the packed stack) and makes
full-size temporaries. Tests check the packed implementation (:mod:`orderlab.analysis.metrics`)
against it, and ``benchmarks/analysis_scale.py`` measures both.
"""
from __future__ import annotations

import numpy as np

from orderlab.analysis.stats import pearson, poisson_binomial, ranks, sarle, top_weights, total_variation


def _div(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(all="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def accuracy(c: np.ndarray) -> np.ndarray:                 # [n, C]
    return c.mean(axis=-1)


def tpa(c: np.ndarray) -> np.ndarray:                      # [C]
    return _div(c.all(axis=0).mean(axis=-1), c.mean(axis=-1).mean(axis=0))


def tpa_independent(c: np.ndarray) -> np.ndarray:
    acc = c.mean(axis=-1)
    return _div(acc.prod(axis=0), acc.mean(axis=0))


def jaccard(c: np.ndarray) -> np.ndarray:
    return _div(c.all(axis=0).sum(axis=-1), c.any(axis=0).sum(axis=-1))


def pairwise_tpa(ce: np.ndarray) -> np.ndarray:            # ce: [n, N] at one checkpoint
    x = ce.astype(np.float64)
    both = x @ x.T
    s = x.sum(axis=1)
    return _div(both, (s[:, None] + s[None, :]) / 2)


def pairwise_kappa(ce: np.ndarray) -> np.ndarray:
    n = ce.shape[1]
    out = np.empty((ce.shape[0],) * 2)
    for i in range(ce.shape[0]):
        for j in range(ce.shape[0]):
            po = np.mean(ce[i] == ce[j])
            pi, pj = ce[i].mean(), ce[j].mean()
            pe = pi * pj + (1 - pi) * (1 - pj)
            out[i, j] = 1.0 if po == 1 else (po - pe) / (1 - pe) if pe < 1 else np.nan
    del n
    return out


def architecture_agreement(p: np.ndarray, arch: np.ndarray, archs: list[str]) -> np.ndarray:
    out = np.full((len(archs),) * 2, np.nan)
    for i, a in enumerate(archs):
        for j, b in enumerate(archs):
            vals = [p[x, y] for x in np.flatnonzero(arch == a) for y in np.flatnonzero(arch == b) if x != y]
            if vals:
                out[i, j] = np.nanmean(vals)
    return out


def correct_count_histogram(ce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = ce.sum(axis=0)
    obs = np.bincount(k, minlength=ce.shape[0] + 1)
    return obs, poisson_binomial(ce.mean(axis=1)) * ce.shape[1]


def bimodality(ce: np.ndarray) -> dict:
    obs, exp = correct_count_histogram(ce)
    return {"tv": total_variation(obs, exp), "sarle": sarle(obs)}


def _trained(epoch: np.ndarray) -> np.ndarray:
    """The checkpoints after the untrained one (epoch > 0); all of them when there is none. Written
    out here, not imported, so that the tests check the packed rule against this one."""
    keep = np.asarray(epoch) > 0
    return keep if keep.any() else np.ones(len(keep), bool)


def accessibility(c: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    """Mean over networks and trained checkpoints."""
    return c[:, _trained(epoch)].mean(axis=(0, 1))


def learned_at(c: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    """First checkpoint from which the example stays correct to the end (NaN if never)."""
    stays = np.logical_and.accumulate(c[:, ::-1], axis=1)[:, ::-1]       # correct from e to the end
    n_c = c.shape[1]
    first = n_c - stays.sum(axis=1)
    return np.where(first < n_c, epoch[np.minimum(first, n_c - 1)], np.nan)


def forgetting_events(c: np.ndarray) -> np.ndarray:
    return (c[:, :-1] & ~c[:, 1:]).sum(axis=1)


def order_correlation(c: np.ndarray, epoch: np.ndarray, archs: list[str], plans: list[dict], q: float) -> dict:
    """Spearman and first-q overlap over the given half-splits (metrics.half_splits)."""
    # Integer totals, not float means: sums of means in another order round differently and
    # would break ties between examples that are exactly tied.
    tot = c[:, _trained(epoch)].sum(axis=1)          # [n, N] trained checkpoints correct
    k = max(1, int(round(q * c.shape[2])))
    a = len(archs)
    rho = np.zeros((len(plans), a, a))
    ovl = np.zeros((len(plans), a, a))
    for s, plan in enumerate(plans):
        groups = {x: [tot[h].sum(axis=0) for h in plan[x]] for x in archs}
        for i, x in enumerate(archs):
            for j, y in enumerate(archs):
                if i == j:
                    h1, h2 = plan[x]
                    if np.array_equal(h1, h2):
                        rho[s, i, j] = ovl[s, i, j] = 1.0
                        continue
                    pairs = [(0, 1)]
                else:
                    pairs = [(u, v) for u in range(2) for v in range(2)]
                rho[s, i, j] = np.mean([pearson(ranks(groups[x][u]), ranks(groups[y][v]))
                                        for u, v in pairs])
                ovl[s, i, j] = np.mean([top_weights(groups[x][u], k) @ top_weights(groups[y][v], k) / k
                                        for u, v in pairs])
    return {"spearman": rho.mean(axis=0), "overlap": ovl.mean(axis=0)}
