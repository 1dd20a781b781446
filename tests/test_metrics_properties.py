"""Properties of the agreement metrics (hypothesis): identical networks agree fully, independent
networks agree as independence predicts, permutations change nothing, packed and unpacked inputs
agree, and the packed implementation matches the dense one written from the definitions."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderlab.analysis import bits as B
from orderlab.analysis import dense as D
from orderlab.analysis import metrics as M

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def studies(draw, max_networks=6, max_checkpoints=5, max_examples=70):
    """Random correctness [n, C, N] with 1-2 architectures, drawn from a seeded generator (fast)."""
    n = draw(st.integers(1, max_networks))
    c = draw(st.integers(1, max_checkpoints))
    m = draw(st.integers(1, max_examples))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    p = draw(st.floats(0.05, 0.95))
    rng = np.random.default_rng(seed)
    # Shared difficulty plus noise, so agreement takes every value from none to full.
    base = rng.random(m)
    correct = (base[None, None, :] * draw(st.floats(0, 1)) + rng.random((n, c, m)) * 0.7) < p
    arch = np.array(["a", "b"])[rng.integers(0, 2, n)]
    return correct, arch


def close(x, y):
    return np.allclose(np.asarray(x, float), np.asarray(y, float), rtol=1e-9, atol=1e-12, equal_nan=True)


@SETTINGS
@given(studies())
def test_packed_matches_the_dense_definitions(study):
    c, arch = study
    s = M.as_stack(c, arch=arch)
    assert close(M.accuracy(s), D.accuracy(c))
    assert close(M.tpa(s), D.tpa(c))
    assert close(M.tpa_independent(s), D.tpa_independent(c))
    assert close(M.jaccard(s), D.jaccard(c))
    last = c.shape[1] - 1
    assert close(M.pairwise_agreement(s, last), D.pairwise_tpa(c[:, last]))
    obs, exp = M.correct_count_histogram(s, last)
    dobs, dexp = D.correct_count_histogram(c[:, last])
    assert (obs == dobs).all() and close(exp, dexp)
    assert close(M.bimodality(s, last)["tv"], D.bimodality(c[:, last])["tv"])
    assert close(M.accessibility(s), D.accessibility(c, s.epoch))
    assert close(M.learned_at(s), D.learned_at(c, s.epoch))
    assert (M.forgetting_events(s) == D.forgetting_events(c)).all()
    oc = M.order_correlation(s, n_splits=3)
    ref = D.order_correlation(c, s.epoch, s.archs, M.half_splits(s, 3), 0.2)
    assert close(oc["spearman"], ref["spearman"]) and close(oc["overlap"], ref["overlap"])


@SETTINGS
@given(studies())
def test_packed_and_unpacked_inputs_agree(study):
    c, arch = study
    s = M.as_stack(c, arch=arch)
    for fn in (M.tpa, M.tpa_independent, M.jaccard, M.accuracy):
        assert close(fn(s), fn(c))
    assert close(M.accessibility(s), M.accessibility(c))
    assert (M.correct_count(s, 0) == M.correct_count(c[:, 0], 0)).all()   # [n, N] input: one checkpoint
    assert (np.unpackbits(s.bits, axis=-1, count=c.shape[2]).astype(bool) == c).all()


@SETTINGS
@given(studies(max_networks=5), st.integers(0, 2 ** 32 - 1))
def test_identical_networks_agree_fully(study, seed):
    c, _ = study
    n = c.shape[0]
    same = np.repeat(c[:1], max(2, n), axis=0)
    s = M.as_stack(same)
    any_right = same[0].any(axis=-1)
    assert close(M.tpa(s)[any_right], 1.0) and np.isnan(M.tpa(s)[~any_right]).all()
    assert close(M.jaccard(s)[any_right], 1.0)
    p = M.pairwise_agreement(s, 0)
    assert close(p, 1.0) if any_right[0] else np.isnan(p).all()
    obs, _ = M.correct_count_histogram(s, 0)
    assert obs[1:-1].sum() == 0                                # right for all or for none
    assert close(M.pairwise_agreement(s, 0, "kappa"), 1.0)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.2, 0.9), min_size=2, max_size=4), st.integers(0, 2 ** 32 - 1))
def test_independent_networks_agree_as_independence_predicts(accs, seed):
    rng = np.random.default_rng(seed)
    c = rng.random((len(accs), 1, 20_000)) < np.array(accs)[:, None, None]
    s = M.as_stack(c)
    assert abs(M.tpa(s, 0) - M.tpa_independent(s, 0)) < 0.05
    obs, exp = M.correct_count_histogram(s, 0)
    assert M.bimodality(s, 0)["tv"] < 0.05


@SETTINGS
@given(studies(), st.integers(0, 2 ** 32 - 1))
def test_permuting_networks_changes_nothing(study, seed):
    c, arch = study
    s = M.as_stack(c, arch=arch)
    perm = np.random.default_rng(seed).permutation(c.shape[0])
    t = s.select(perm)                                        # run ids move with their networks
    for fn in (M.tpa, M.tpa_independent, M.jaccard):
        assert close(fn(s), fn(t))
    assert close(M.accessibility(s), M.accessibility(t))
    assert close(M.correct_count_histogram(s, 0)[0], M.correct_count_histogram(t, 0)[0])
    p, q = M.pairwise_agreement(s, 0), M.pairwise_agreement(t, 0)
    assert close(p[np.ix_(perm, perm)], q)
    assert close(M.learned_at(s)[perm], M.learned_at(t))
    a, b = M.order_correlation(s, n_splits=3), M.order_correlation(t, n_splits=3)
    order = [a["archs"].index(x) for x in b["archs"]]        # first appearance may change
    assert close(a["spearman"][np.ix_(order, order)], b["spearman"])
    assert close(a["overlap"][np.ix_(order, order)], b["overlap"])
    ga, gb = M.group_curves(s), M.group_curves(t)
    for arch_name in ga:
        for key in ("tpa", "tpa_lo", "tpa_hi", "jaccard"):
            assert close(ga[arch_name][key], gb[arch_name][key])


@SETTINGS
@given(studies(), st.integers(0, 2 ** 32 - 1))
def test_permuting_examples_changes_nothing(study, seed):
    c, arch = study
    perm = np.random.default_rng(seed).permutation(c.shape[2])
    s, t = M.as_stack(c, arch=arch), M.as_stack(c[:, :, perm], arch=arch)
    for fn in (M.tpa, M.tpa_independent, M.jaccard, M.accuracy):
        assert close(fn(s), fn(t))
    assert close(M.pairwise_agreement(s, 0), M.pairwise_agreement(t, 0))
    assert close(M.correct_count_histogram(s, 0)[0], M.correct_count_histogram(t, 0)[0])
    assert close(M.accessibility(s)[perm], M.accessibility(t))
    assert close(M.learned_at(s)[:, perm], M.learned_at(t))
    assert (M.forgetting_events(s)[:, perm] == M.forgetting_events(t)).all()
    # the learning order is the same up to ties (compare the accessibilities it walks through)
    acc = M.accessibility(s)
    assert close(acc[M.learning_order(s)], M.accessibility(t)[M.learning_order(t)])
    a, b = M.order_correlation(s, n_splits=3), M.order_correlation(t, n_splits=3)
    assert close(a["spearman"], b["spearman"]) and close(a["overlap"], b["overlap"])


@SETTINGS
@given(studies(max_examples=200))
def test_bitcounter_counts_like_a_sum(study):
    c, _ = study
    b = B.pack(c)
    counter = B.BitCounter(b.shape[1:], c.shape[0])
    for row in b:
        counter.add(row)
    assert (counter.counts(c.shape[2]) == c.sum(axis=0)).all()


def test_results_do_not_depend_on_chunk_size(monkeypatch):
    """Chunking over networks/checkpoints (for bounded memory) gives the same numbers."""
    from orderlab.synthetic import synthetic_correct
    g = np.repeat([0, 1], 5)
    c = synthetic_correct(10, 9, 1000, seed=5, groups=g)
    s = M.as_stack(c, arch=np.array(["a", "b"])[g])
    ref = (M.learned_at(s), M.forgetting_events(s), M.accessibility(s), M.correct_count_histograms(s)[0],
           M.group_curves(s)["a"]["tpa_lo"], M.accuracy(s))
    monkeypatch.setattr(M, "CHUNK_BYTES", 700)
    monkeypatch.setattr(B, "CHUNK_BYTES", 300)
    got = (M.learned_at(s), M.forgetting_events(s), M.accessibility(s), M.correct_count_histograms(s)[0],
           M.group_curves(s)["a"]["tpa_lo"], M.accuracy(s))
    for x, y in zip(ref, got):
        assert close(x, y)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_groups_do_not_break(n):
    c = np.ones((n, 2, 5), bool)
    c[:, 0] = False
    s = M.as_stack(c)
    cur = M.group_curves(s)["net"]
    assert np.isnan(cur["tpa"][0]) and cur["tpa"][1] == 1
    oc = M.order_correlation(s, intervals=True)
    assert oc["spearman"].shape == (1, 1)


def test_identical_networks_are_found_one_network_at_a_time(monkeypatch):
    """The notes on identical networks compared an architecture's whole packed record in one
    block (~125 MB for 100 networks of 200 checkpoints of CIFAR-10's training split)."""
    import tracemalloc
    from orderlab.analysis.summary import identical_at
    c = np.zeros((30, 40, 16000), bool)
    c[:, :, ::3] = True                                   # every network the same, none all right
    s = M.as_stack(c)
    monkeypatch.setattr(M, "CHUNK_BYTES", 1 << 14)
    monkeypatch.setattr(B, "CHUNK_BYTES", 1 << 14)
    tracemalloc.start()
    try:
        same = identical_at(s, np.arange(30))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert same.all()
    assert peak < s.bits.nbytes / 4, (peak, s.bits.nbytes)
    c[7, 5, 1] = True                                     # one network apart at one checkpoint
    assert np.flatnonzero(~identical_at(M.as_stack(c), np.arange(30))).tolist() == [5]
