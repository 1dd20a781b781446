"""Small statistics in plain NumPy (the analysis package does not depend on SciPy)."""
from __future__ import annotations

import math

import numpy as np


def normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if p > 1 - lo:
        return -normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t: exact for 1 and 2 degrees of freedom, else the Cornish-Fisher
    expansion (Abramowitz & Stegun 26.7.5; within 1% at df=3, p=0.995, and better above)."""
    if df < 1:
        return math.nan
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    x = normal_quantile(p)
    v = float(df)
    g1 = (x ** 3 + x) / 4
    g2 = (5 * x ** 5 + 16 * x ** 3 + 3 * x) / 96
    g3 = (3 * x ** 7 + 19 * x ** 5 + 17 * x ** 3 - 15 * x) / 384
    g4 = (79 * x ** 9 + 776 * x ** 7 + 1482 * x ** 5 - 1920 * x ** 3 - 945 * x) / 92160
    return x + g1 / v + g2 / v ** 2 + g3 / v ** 3 + g4 / v ** 4


def poisson_binomial(p: np.ndarray) -> np.ndarray:
    """pmf [n+1] of the number of successes of independent Bernoulli(p_j) trials."""
    pmf = np.zeros(len(p) + 1)
    pmf[0] = 1.0
    for j, pj in enumerate(np.asarray(p, np.float64)):
        pmf[1:j + 2] = pmf[1:j + 2] * (1 - pj) + pmf[0:j + 1] * pj
        pmf[0] *= 1 - pj
    return pmf


def sarle(hist: np.ndarray) -> float:
    """Sarle's bimodality coefficient of a sample given as a histogram over 0..len-1.

    ``(G1^2 + 1) / (G2 + 3 (N-1)^2 / ((N-2)(N-3)))`` with the sample skewness G1 and excess
    kurtosis G2: 5/9 for a uniform distribution, above it suggests bimodality, 1 for two spikes.
    """
    h = np.asarray(hist, np.float64)
    n = h.sum()
    if n < 4:
        return math.nan
    k = np.arange(h.size, dtype=np.float64)
    mean = (h * k).sum() / n
    d = k - mean
    m2, m3, m4 = ((h * d ** 2).sum() / n, (h * d ** 3).sum() / n, (h * d ** 4).sum() / n)
    if m2 <= 1e-15:
        return math.nan
    g1, g2 = m3 / m2 ** 1.5, m4 / m2 ** 2 - 3
    G1 = math.sqrt(n * (n - 1)) / (n - 2) * g1
    G2 = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6)
    return float((G1 ** 2 + 1) / (G2 + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def total_variation(observed: np.ndarray, expected: np.ndarray) -> float:
    """Total variation distance between two histograms after normalising each to sum 1."""
    o, e = np.asarray(observed, np.float64), np.asarray(expected, np.float64)
    if o.sum() <= 0 or e.sum() <= 0:
        return math.nan
    return float(0.5 * np.abs(o / o.sum() - e / e.sum()).sum())


def int_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) of non-negative integers, in O(N + max)."""
    v = np.asarray(values)
    if v.size == 0:
        return np.zeros(0)
    hist = np.bincount(v.ravel()).astype(np.float64)
    below = np.cumsum(hist) - hist
    return (below + (hist + 1) / 2)[v]


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks of any real values (ties share their mean rank), like scipy's rankdata."""
    v = np.asarray(values)
    order = np.argsort(v, kind="stable")
    sv = v[order]
    new = np.concatenate(([True], sv[1:] != sv[:-1]))
    dense = np.cumsum(new)
    starts = np.concatenate((np.flatnonzero(new), [v.size]))
    avg = 0.5 * (starts[:-1] + starts[1:] + 1)          # mean of 1-based positions in each tie run
    out = np.empty(v.size)
    out[order] = avg[dense - 1]
    return out


def dot(x: np.ndarray, y: np.ndarray) -> float:
    """Inner product of two vectors without BLAS: multithreaded BLAS dots of this size stall for
    milliseconds on a busy machine, NumPy's own loop takes microseconds."""
    return float(np.einsum("i,i->", x, y))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, np.float64) - np.mean(x)
    y = np.asarray(y, np.float64) - np.mean(y)
    den = math.sqrt(dot(x, x) * dot(y, y))
    return dot(x, y) / den if den > 0 else math.nan


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (Pearson correlation of average ranks)."""
    return pearson(ranks(x), ranks(y))


def top_weights(values: np.ndarray, k: int) -> np.ndarray:
    """Membership weights of the ``k`` largest values, ties at the cut shared fractionally.

    The weights are each example's probability of being among the first ``k`` when ties are
    broken at random, so overlaps of two orders do not depend on how examples are numbered.
    Works for any real values.
    """
    v = np.asarray(values)
    n = v.size
    k = int(min(max(k, 0), n))
    w = np.zeros(n)
    if k == 0:
        return w
    cut = np.partition(v, n - k)[n - k]        # the k-th largest value
    above = v > cut
    tied = v == cut
    w[above] = 1.0
    w[tied] = (k - above.sum()) / tied.sum()
    return w


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN replicates."""
    a = (1 - level) / 2
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanquantile(samples, a, axis=0)
            hi = np.nanquantile(samples, 1 - a, axis=0)
    return lo, hi
