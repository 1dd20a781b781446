"""Hand-computed small cases for every agreement metric (orderlab.analysis.metrics)."""
import math

import numpy as np
import pytest

from orderlab.analysis import bits as B
from orderlab.analysis import dense as D
from orderlab.analysis import metrics as M
from orderlab.analysis import stats as S
from orderlab.analysis.stack import Stack
from orderlab.errors import OrderlabError
from orderlab.record import RecordError
from orderlab.synthetic import synthetic_correct, synthetic_record

# 3 networks, 4 examples, one checkpoint.
C1 = np.array([[1, 1, 0, 0],
               [1, 0, 1, 0],
               [1, 1, 1, 0]], bool)


def stack1():
    return M.as_stack(C1, arch=["a", "a", "b"])


def test_accuracy_tpa_independent_jaccard_by_hand():
    st = stack1()
    assert M.accuracy(st, 0).tolist() == [0.5, 0.5, 0.75]
    assert M.accuracy(st).shape == (3, 1)
    # all three right only on x0: 1/4; mean accuracy 7/12
    assert M.tpa(st, 0) == pytest.approx(3 / 7)
    assert M.tpa_independent(st, 0) == pytest.approx(0.5 * 0.5 * 0.75 / (7 / 12))
    assert M.jaccard(st, 0) == pytest.approx(1 / 3)
    assert M.tpa(st, 0, networks=[0, 2]) == pytest.approx(0.5 / 0.625)   # both right on x0, x1
    assert M.tpa(st).shape == (1,)


def test_pairwise_and_architecture_agreement_by_hand():
    st = stack1()
    p = M.pairwise_agreement(st, 0)
    assert p == pytest.approx(np.array([[1, 0.5, 0.8], [0.5, 1, 0.8], [0.8, 0.8, 1]]))
    k = M.pairwise_agreement(st, 0, "kappa")
    assert k[0, 1] == pytest.approx(0.0) and k[0, 2] == pytest.approx(0.5) and k[0, 0] == 1
    archs, a = M.architecture_agreement(st, 0)
    assert archs == ["a", "b"]
    assert a[0, 0] == pytest.approx(0.5) and a[0, 1] == pytest.approx(0.8) and a[1, 0] == pytest.approx(0.8)
    assert math.isnan(a[1, 1])                     # a single network has no distinct pair
    with pytest.raises(OrderlabError, match="measure"):
        M.pairwise_agreement(st, 0, "nope")


def test_correct_count_histogram_and_bimodality_by_hand():
    st = stack1()
    assert M.correct_count(st, 0).tolist() == [3, 2, 2, 0]
    obs, exp = M.correct_count_histogram(st, 0)
    assert obs.tolist() == [1, 0, 2, 1]
    # Poisson-binomial of (.5, .5, .75) times 4 examples
    assert exp == pytest.approx(4 * np.array([0.0625, 0.3125, 0.4375, 0.1875]))
    b = M.bimodality(st, 0)
    assert b["tv"] == pytest.approx(0.3125)
    o_all, e_all = M.correct_count_histograms(st)
    assert o_all.tolist() == [[1, 0, 2, 1]] and e_all[0] == pytest.approx(exp)


# One network, 5 checkpoints, 4 examples.
C2 = np.array([[[0, 1, 1, 0],
                [1, 0, 1, 0],
                [1, 1, 1, 0],
                [1, 0, 1, 0],
                [1, 1, 0, 0]]], bool)


def test_accessibility_learned_at_forgetting_by_hand():
    st = M.as_stack(C2, epoch=[0, 0.5, 1, 1.5, 2])
    # over the trained checkpoints 0.5..2 (the untrained network's right answers are not learning)
    assert M.accessibility(st) == pytest.approx([1.0, 0.5, 0.75, 0.0])
    assert M.learning_order(st).tolist() == [0, 2, 1, 3]
    # a grid without the untrained checkpoint counts all of them; the untrained one alone counts
    assert M.accessibility(M.as_stack(C2, epoch=[0.5, 1, 1.5, 2, 2.5])) == pytest.approx([0.8, 0.6, 0.8, 0.0])
    assert M.accessibility(M.as_stack(C2[:, :1], epoch=[0])) == pytest.approx([0, 1, 1, 0])
    la = M.learned_at(st)
    assert la[0, :2].tolist() == [0.5, 2.0] and np.isnan(la[0, 2:]).all()
    assert M.learned_at(st, as_index=True).tolist() == [[1, 4, -1, -1]]
    assert M.forgetting_events(st).tolist() == [[0, 2, 1, 0]]
    assert M.network_totals(st).tolist() == [[4, 2, 3, 0]]


def test_order_correlation_by_hand():
    # arch a learns example x at trained checkpoint x (after the untrained one); arch b in the reverse order.
    n = 6
    a = np.array([[e > x for x in range(n)] for e in range(n + 1)])
    b = a[:, ::-1]
    st = M.as_stack(np.stack([a, a, b, b]), arch=["a", "a", "b", "b"])
    oc = M.order_correlation(st, q=1 / 3, intervals=True)
    assert oc["archs"] == ["a", "b"]
    assert oc["spearman"] == pytest.approx(np.array([[1, -1], [-1, 1]]))
    assert oc["overlap"] == pytest.approx(np.array([[1, 0], [0, 1]]))
    g = M.group_order_correlation(st, [0, 1], [2, 3], q=1 / 3)
    assert g["spearman"] == pytest.approx(-1) and g["overlap"] == 0
    # a single network is its own half: diagonal 1; too few networks for intervals: NaN
    one = M.order_correlation(st.select([0, 2]), intervals=True)
    assert one["spearman"][0, 0] == 1 and np.isnan(one["spearman_lo"][0, 0])


def test_jackknife_interval_of_identical_networks_is_a_point():
    c = np.tile(synthetic_correct(1, 6, 200, seed=2), (4, 1, 1))
    st = M.as_stack(c)
    cur = M.group_curves(st)["net"]
    ok = np.isfinite(cur["tpa"])
    assert np.allclose(cur["tpa"][ok], 1) and np.allclose(cur["tpa_lo"][ok], 1) and np.allclose(cur["tpa_hi"][ok], 1)
    lo, hi = M.tpa_ci(st, 3)
    assert lo == pytest.approx(1) and hi == pytest.approx(1)
    flat = M.group_curves(st, bootstrap=0)["net"]
    assert np.isnan(flat["tpa_lo"]).all() and np.isnan(flat["tpa_hi"]).all()   # not computed: no interval
    assert np.isnan(M.tpa_ci(st.select([0, 1]), 3)[0])   # 2 networks: no interval


def test_jackknife_interval_covers_the_population_tpa():
    """On a population of synthetic networks the 95% interval covers the mean TPA of n networks."""
    pool = synthetic_correct(150, 5, 1500, seed=7)[:, 3]
    rng = np.random.default_rng(0)
    n = 6

    def t(idx):
        c = pool[idx]
        return c.all(axis=0).mean() / c.mean()

    truth = np.mean([t(rng.choice(150, n, replace=False)) for _ in range(400)])
    hits = 0
    for _ in range(50):
        st = M.as_stack(pool[rng.choice(150, n, replace=False)])
        lo, hi = M.tpa_ci(st, 0)
        hits += lo <= truth <= hi
    assert hits >= 40, hits


def test_group_curves_match_single_metrics():
    g = np.repeat([0, 1], 3)
    c = synthetic_correct(6, 5, 300, seed=1, groups=g)
    st = M.as_stack(c, arch=np.array(["x", "y"])[g])
    cur = M.group_curves(st)
    assert set(cur) == {"x", "y"} and cur["x"]["n"] == 3
    idx = st.arch_index("y")
    assert np.allclose(cur["y"]["tpa"], M.tpa(st, None, idx), equal_nan=True)
    assert np.allclose(cur["y"]["tpa_independent"], M.tpa_independent(st, None, idx), equal_nan=True)
    assert np.allclose(cur["y"]["jaccard"], M.jaccard(st, None, idx), equal_nan=True)
    assert np.allclose(cur["y"]["accuracy"], M.accuracy(st, None, idx).mean(axis=0))
    lo, hi = M.jackknife_ci(M.tpa, st, idx)
    assert np.allclose(np.clip(lo, 0, 1), cur["y"]["tpa_lo"], equal_nan=True)
    assert np.all((cur["y"]["tpa_lo"] <= cur["y"]["tpa"] + 1e-12) | np.isnan(cur["y"]["tpa"]))


def test_bootstrap_ci_of_accuracy_brackets_the_estimate():
    st = M.as_stack(synthetic_correct(8, 3, 400, seed=3))
    lo, hi = M.bootstrap_ci(lambda s, networks: M.accuracy(s, 2, networks).mean(), st, n_boot=100)
    est = M.accuracy(st, 2).mean()
    assert lo <= est <= hi and hi - lo < 0.2


def test_no_network_selected_and_bad_checkpoint():
    st = stack1()
    with pytest.raises(OrderlabError, match="no networks"):
        M.tpa(st, 0, networks=[])
    with pytest.raises(IndexError):
        M.tpa(st, 5)
    with pytest.raises(OrderlabError, match="q must"):
        M.order_correlation(st, q=0)


def test_mismatched_records_are_refused():
    labels = np.zeros(16, np.int64)
    c = synthetic_correct(2, 3, 16, seed=0)
    r1 = synthetic_record(c[0], labels=labels, meta={}, epochs=[0, 1, 2], fingerprint="aaaa")
    r2 = synthetic_record(c[1], labels=labels, meta={}, epochs=[0, 1, 2], fingerprint="bbbb")
    infos = [({"run_id": "1", "arch": "mlp", "seed": 0}, r1), ({"run_id": "2", "arch": "cnn", "seed": 0}, r2)]
    with pytest.raises(RecordError, match="different data"):
        Stack.from_records(infos, "test")
    s1 = Stack.from_records(infos[:1], "test", study="one")
    s2 = Stack.from_records(infos[1:], "test", study="two")
    with pytest.raises(RecordError, match="different data"):
        Stack.concat([s1, s2])


def test_records_listing_other_examples_under_one_fingerprint_are_refused():
    """A record whose example ids were reversed by hand kept its fingerprint and was analysed on the
    first network's ids, its numbers unchanged. The network apart from the others is named."""
    labels = np.arange(16) % 4
    c = synthetic_correct(3, 3, 16, seed=0)
    recs = [synthetic_record(c[j], labels=labels, meta={}, epochs=[0, 1, 2], fingerprint="aaaa") for j in range(3)]
    recs[1].split("test").example_id = recs[1].split("test").example_id[::-1].copy()
    infos = [({"run_id": str(j), "arch": "mlp", "seed": j}, r) for j, r in enumerate(recs)]
    with pytest.raises(RecordError) as e:
        Stack.from_records(infos, "test")
    assert str(e.value) == ("the test records of mlp/s1 list other example ids or labels than those of mlp/s0, "
                            "mlp/s2 under the same data fingerprint (altered by hand?); delete that network's run "
                            "in MLflow and train it again")
    relabelled = synthetic_record(c[1], labels=(labels + 1) % 4, meta={}, epochs=[0, 1, 2], fingerprint="aaaa")
    with pytest.raises(RecordError, match="mlp/s1 list other example ids or labels"):
        Stack.from_records([infos[0], (infos[1][0], relabelled), infos[2]], "test")
    assert Stack.from_records([infos[0], infos[2]], "test").n_networks == 2


# ------------------------------------------------------------------ primitives and statistics

def test_popcount_and_bitcounter_with_and_without_bitwise_count(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.random((4, 3, 77)) < 0.3                      # 77 bits: padded, not whole words
    b = B.pack(x)
    for fast in (True, False):
        monkeypatch.setattr(B, "_HAS_BITWISE_COUNT", fast and hasattr(np, "bitwise_count"))
        assert B.popcount_rows(b).tolist() == x.sum(axis=-1).tolist()
        assert B.popcount_rows(b[:, 1]).tolist() == x[:, 1].sum(axis=-1).tolist()
    aligned = B.pack(rng.random((5, 128)) < 0.5)           # whole 64-bit words: the no-copy path
    assert B.popcount_rows(aligned).tolist() == np.unpackbits(aligned, axis=-1).sum(axis=-1).tolist()
    counter = B.BitCounter((3, b.shape[-1]), 4)
    for j in range(4):
        counter.add(b[j])
    assert (counter.counts(77) == x.sum(axis=0)).all()
    with pytest.raises(OverflowError):
        counter.add(b[0])


def test_stats_against_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for p in (0.001, 0.025, 0.3, 0.5, 0.975, 0.999):
        assert S.normal_quantile(p) == pytest.approx(scipy_stats.norm.ppf(p), abs=1e-8)
    for df in (1, 2, 3, 5, 10, 40):
        assert S.t_quantile(0.975, df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=2e-3)
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 7, 300), rng.integers(0, 7, 300)
    assert S.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0])
    assert S.ranks(x) == pytest.approx(scipy_stats.rankdata(x))
    assert S.int_ranks(x) == pytest.approx(scipy_stats.rankdata(x))
    sample = np.concatenate([np.zeros(40, int), np.full(25, 3), np.full(60, 8), rng.integers(0, 9, 30)])
    hist = np.bincount(sample, minlength=9)
    g1 = scipy_stats.skew(sample, bias=False)
    g2 = scipy_stats.kurtosis(sample, bias=False)
    n = sample.size
    assert S.sarle(hist) == pytest.approx((g1 ** 2 + 1) / (g2 + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))
    assert S.sarle(np.array([5000, 0, 0, 0, 5000])) == pytest.approx(1, abs=1e-3)
    pmf = S.poisson_binomial([0.2, 0.7, 0.9])
    trials = rng.random((200_000, 3)) < [0.2, 0.7, 0.9]
    assert pmf == pytest.approx(np.bincount(trials.sum(axis=1), minlength=4) / 200_000, abs=5e-3)


def test_top_weights_share_ties_at_the_cut():
    assert S.top_weights(np.array([3, 3, 3, 0]), 2) == pytest.approx([2 / 3, 2 / 3, 2 / 3, 0])
    assert S.top_weights(np.array([5, 1, 4, 4]), 2) == pytest.approx([1, 0, 0.5, 0.5])
    assert S.top_weights(np.array([1, 2]), 0).sum() == 0


def test_dense_reference_agrees_on_a_small_study():
    g = np.repeat([0, 1, 2], [3, 2, 1])
    c = synthetic_correct(6, 7, 203, seed=4, groups=g)
    arch = np.array(["a", "b", "c"])[g]
    st = M.as_stack(c, arch=arch, epoch=np.linspace(0, 3, 7))
    assert np.allclose(M.learned_at(st), D.learned_at(c, st.epoch), equal_nan=True)
    assert (M.forgetting_events(st) == D.forgetting_events(c)).all()
    for e in (0, 3, 6):
        assert np.allclose(M.pairwise_agreement(st, e, "kappa"), D.pairwise_kappa(c[:, e]), equal_nan=True)
        assert np.allclose(M.architecture_agreement(st, e)[1],
                           D.architecture_agreement(D.pairwise_tpa(c[:, e]), arch, st.archs), equal_nan=True)
    oc = M.order_correlation(st, n_splits=4, seed=3)
    ref = D.order_correlation(c, st.epoch, st.archs, M.half_splits(st, 4, 3), 0.2)
    assert np.allclose(oc["spearman"], ref["spearman"]) and np.allclose(oc["overlap"], ref["overlap"])


def test_networks_on_other_grids_keep_their_own_accessibility_and_order(tmp_path):
    """A learner's stages and a network's epochs share little more than the untrained checkpoint.
    Aligned on the checkpoints they share, TPA uses those; accessibility and the learning orders
    use each network's own checkpoints, as each architecture analysed alone gives them (a study
    mixing an mlp and boosting showed rho = 1 between learners, from the untrained checkpoint)."""
    rng = np.random.default_rng(3)
    n = 200
    labels = rng.integers(0, 10, n)
    grids = {"mlp": np.linspace(0, 6, 25), "adaboost": np.arange(8) / 7 * 6 + 0.01}
    grids["adaboost"][0] = 0.0                            # they share only the untrained checkpoint
    corr = synthetic_correct(8, 25, n, seed=1)             # one difficulty: related orders
    stages = np.round(np.linspace(0, 24, 8)).astype(int)   # the learner's 8 stages: a subset of the curve
    recs = {a: [({"run_id": f"{a}{j}", "arch": a, "seed": j},
                 synthetic_record(corr[j + off][pick], labels=labels, meta={}, epochs=grids[a], seed=j))
                for j in range(4)]
            for a, off, pick in (("mlp", 0, slice(None)), ("adaboost", 4, stages))}
    for j, (info, _) in enumerate(recs["adaboost"]):
        info["stages"] = True                   # a learner's run: its checkpoints are stages
    mixed = Stack.from_records(recs["mlp"] + recs["adaboost"], align="common")
    assert mixed.n_checkpoints == 1 and "aligned on 1" in mixed.warnings[0]
    # the distinct positions not shared: the mlp's 24 trained and the learner's 7 (not 24 "per network")
    assert "(31 not shared were dropped" in mixed.warnings[0], mixed.warnings[0]
    # what a checkpoint's position counts, for whoever reads it: per selection and through concat
    assert (mixed.unit, mixed.at(0)) == ("epoch/stage", "epoch/stage 0")
    assert [mixed.select(mixed.arch_index(a)).unit for a in ("mlp", "adaboost")] == ["epoch", "stage"]
    assert Stack.concat([Stack.from_records(recs["adaboost"], study="a"),
                         Stack.from_records(recs["mlp"], study="m")]).unit == "epoch/stage"
    assert any("share no trained checkpoint" in w and "(epoch/stage 0)" in w for w in mixed.warnings), mixed.warnings
    assert [s.units for s in (mixed, Stack.from_records(recs["adaboost"]), Stack.from_records(recs["mlp"]))] == \
        ["epochs/stages", "stages", "epochs"]
    from orderlab.analysis.report import write_report
    md = write_report({"test": mixed}, tmp_path / "mixed").read_text()   # its header: both, in the plural
    assert "1 checkpoint (epochs/stages 0 to 0)" in md, md[:400]
    alone = {a: Stack.from_records(recs[a]) for a in recs}
    for a in recs:
        np.testing.assert_allclose(M.accessibility(mixed, mixed.arch_index(a)), M.accessibility(alone[a]))
        np.testing.assert_allclose(M.accessibility(mixed.select(mixed.arch_index(a))), M.accessibility(alone[a]))
    rho = M.group_order_correlation(mixed, mixed.arch_index("mlp"), mixed.arch_index("adaboost"))["spearman"]
    assert rho == pytest.approx(S.spearman(M.accessibility(alone["mlp"]), M.accessibility(alone["adaboost"])))
    oc = M.order_correlation(mixed)
    assert 0.5 < oc["spearman"][0][1] < 0.99 and oc["spearman"][1][1] > 0.5     # not the untrained checkpoint's
    # two studies on other grids, stacked together: the same
    both = Stack.concat([alone["mlp"], alone["adaboost"]])
    np.testing.assert_allclose(M.accessibility(both, both.arch_index("adaboost")), M.accessibility(alone["adaboost"]))
    # the notes for numbers of the networks' own checkpoints leave out those of the shared ones
    from orderlab.analysis.stack import own_grid_notes
    assert own_grid_notes(mixed) == own_grid_notes(both) == [
        "the networks recorded different checkpoints: accessibility and learned-at use all of each network's own "
        "checkpoints"]
    assert own_grid_notes(alone["mlp"]) == alone["mlp"].warnings
    # learned-at and forgetting too: on the one shared checkpoint no example was ever forgotten
    # and every one right there was "learned" at 0
    for st in (mixed, both, Stack.concat([mixed.select(mixed.arch_index("mlp")), alone["adaboost"]])):
        for a in recs:
            np.testing.assert_array_equal(M.learned_at(st, st.arch_index(a)), M.learned_at(alone[a]))
            np.testing.assert_array_equal(M.forgetting_events(st.select(st.arch_index(a))),
                                          M.forgetting_events(alone[a]))
    assert M.forgetting_events(alone["mlp"]).sum() > 0 and np.isfinite(M.learned_at(alone["mlp"])).any()


def test_many_different_checkpoint_counts_share_one_bounded_scale():
    """Networks stopped at many different checkpoint counts (a live sweep): their least common
    multiple overflows 64 bits, so the scale is capped (rounded totals), never wrapped."""
    from orderlab.analysis.stack import _on_one_scale
    counts = [97, 101, 103, 107, 109, 113, 127, 131, 137, 139]
    totals, scale = _on_one_scale([(np.array([[c, 0, c // 2]]), c) for c in counts])
    assert scale == 1 << 16 and totals.dtype == np.uint32
    np.testing.assert_allclose(totals[:, 0], scale) and np.testing.assert_array_equal(totals[:, 1], 0)
    assert np.all(np.abs(totals[:, 2] / scale - np.array([c // 2 / c for c in counts])) < 1e-4)
    exact, s2 = _on_one_scale([(np.array([[3]]), 4), (np.array([[5]]), 6)])
    assert s2 == 12 and exact.ravel().tolist() == [9, 10]


def test_the_untrained_checkpoint_does_not_shape_the_learning_order():
    """Untrained networks get right the class their initialisation favours, a different one per
    seed. Networks that learn the examples in one order then still agree on it exactly."""
    rng = np.random.default_rng(0)
    n, n_c, nets = 300, 5, 6
    label = rng.integers(0, 10, n)
    learned = rng.permutation(n) % (n_c - 1) + 1        # the trained checkpoint each example is learned at
    c = np.zeros((nets, n_c, n), bool)
    for j in range(nets):
        c[j, 0] = label == j                            # network j's untrained favourite class
        c[j, 1:] = np.arange(1, n_c)[:, None] >= learned[None, :]
    st = M.as_stack(c, epoch=np.arange(n_c) * 0.5)
    oc = M.order_correlation(st, n_splits=5)
    assert oc["spearman"][0, 0] == pytest.approx(1.0)
    # counted, the untrained checkpoint would have broken the ties between halves
    with_untrained = M.order_correlation(M.as_stack(c, epoch=np.arange(n_c) * 0.5 + 0.5), n_splits=5)
    assert with_untrained["spearman"][0, 0] < 0.99


def test_half_splits_of_one_architecture_ignore_the_others_and_cover_small_groups():
    """An architecture's order numbers must not change when another architecture joins the
    analysis (`analyze STUDY` against `analyze STUDY --arch mlp`), and 6 networks have only 10
    distinct half splits: 10 splits take each once."""
    c = synthetic_correct(10, 5, 120, seed=1, groups=np.repeat([0, 1], [6, 4]))
    arch = np.array(["mlp"] * 6 + ["cnn"] * 4)
    both = M.as_stack(c, arch=arch)
    alone = both.select(np.arange(6))
    for seed in (0, 5):
        a = [p["mlp"] for p in M.half_splits(both, 10, seed)]
        b = [p["mlp"] for p in M.half_splits(alone, 10, seed)]
        assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
        firsts = {frozenset(min((tuple(sorted(x[0])), tuple(sorted(x[1]))))) for x in a}
        assert len(firsts) == 10
    oc = M.order_correlation(both)
    mlp_row = oc["spearman"][oc["archs"].index("mlp")][oc["archs"].index("mlp")]
    assert M.order_correlation(alone)["spearman"][0, 0] == pytest.approx(mlp_row)
    # more networks than that: random draws, still the same with or without the other architecture
    big = M.as_stack(synthetic_correct(12, 5, 120, seed=2), arch=["a"] * 8 + ["b"] * 4)
    assert all(np.array_equal(x["a"][0], y["a"][0]) for x, y in
               zip(M.half_splits(big, 4), M.half_splits(big.select(np.arange(8)), 4)))


def test_a_network_with_only_its_untrained_checkpoint_is_named_beside_trained_ones():
    """Accessibility counts trained checkpoints; a network that has recorded only checkpoint 0
    (just started) can only count that one, which beside trained networks is its initial favourite
    class, not an order: the stack says so, naming the network (with its study when studies are
    compared), and says when no network has a trained checkpoint at all."""
    labels = np.arange(60) % 10
    corr = synthetic_correct(4, 4, 60, seed=2)

    def rec(j, epochs, arch="mlp"):
        return ({"run_id": f"r{arch}{j}", "arch": arch, "seed": j},
                synthetic_record(corr[j][:len(epochs)], labels=labels, meta={}, epochs=np.asarray(epochs, float),
                                 seed=j))
    trained = [rec(0, [0, 1, 2, 3]), rec(1, [0, 1, 2, 3])]
    st = Stack.from_records(trained + [rec(2, [0])], align="common")
    assert any(w.startswith("mlp/s2 recorded only the untrained checkpoint: beside trained networks, its ")
               for w in st.warnings), st.warnings
    assert not any("untrained" in w for w in Stack.from_records(trained).warnings)
    fresh = Stack.from_records([rec(2, [0]), rec(3, [0])])
    assert any(w.startswith("no network has recorded a trained checkpoint yet") for w in fresh.warnings)
    # compared studies: the network is named with its study, not the study as a whole
    a = Stack.from_records(trained + [rec(2, [0])], align="common", study="a")
    b = Stack.from_records([rec(3, [0, 1, 2, 3], "cnn")], study="b")
    both = Stack.concat([a, b])
    notes = [w for w in both.warnings if "untrained" in w]
    assert len(notes) == 1 and notes[0].startswith("a:mlp/s2 recorded only the untrained checkpoint"), both.warnings
    # a study whose networks share only checkpoint 0 (other grids) but are all trained: no such note
    grids = Stack.from_records([rec(0, [0, 0.3, 0.6]), rec(1, [0, 1, 2], "knn")], align="common", study="g")
    said = Stack.concat([grids, b]).warnings
    assert not any("recorded only the untrained" in w or "no network has recorded" in w for w in said), said
    assert any(w.startswith("the networks share no trained checkpoint") for w in said), said
    only = Stack.concat([b, Stack.from_records([rec(1, [0], "cnn")], study="c")])
    assert any(w.startswith("c:cnn/s1 recorded only the untrained checkpoint") for w in only.warnings), only.warnings
    assert a.select([2]).untrained.tolist() == [True] and a.select([0, 1]).untrained.tolist() == [False, False]


def test_architectures_that_trained_past_the_last_shared_checkpoint_are_named():
    """50 boosting rounds beside 10 epochs of an mlp are compared at epoch/stage 10: the analysis
    said "at epoch 10" of boosting's partly trained models as if they were its result. A
    learner's checkpoints are stages (boosting rounds here), not epochs."""
    n = 120
    labels = np.random.default_rng(0).integers(0, 10, n)
    corr = synthetic_correct(4, 51, n, seed=2)
    grids = {"mlp": np.arange(11.0), "adaboost": np.arange(51.0)}
    recs = [({"run_id": f"{a}{j}", "arch": a, "seed": j, "stages": a == "adaboost"},
             synthetic_record(corr[j + 2 * (a == "adaboost")][: len(g)], labels=labels, meta={}, epochs=g, seed=j))
            for a, g in grids.items() for j in range(2)]
    mixed = Stack.from_records(recs, align="common")
    assert mixed.epoch[-1] == 10
    said = [w for w in mixed.warnings if "further to train" in w]
    assert said == ["at the last shared checkpoint, epoch/stage 10, adaboost (to stage 50) had further to train: "
                    "its numbers there are of partly trained networks (--arch NAME follows one architecture to its "
                    "end)"], mixed.warnings
    both = Stack.concat([Stack.from_records(recs[:2]), Stack.from_records(recs[2:])])
    assert any("epoch/stage 10, adaboost (to stage 50) had further to train" in w for w in both.warnings), \
        both.warnings
    # a study whose own grid was cut back (its mlp's 10 epochs beside its adaboost's 50 rounds)
    # compared with a study of mlps recorded to 6: adaboost trained to 50, not to its study's cut 10
    short = [({"run_id": f"s{j}", "arch": "mlp", "seed": j + 5},
              synthetic_record(corr[j][:7], labels=labels, meta={}, epochs=np.arange(7.0), seed=j)) for j in range(2)]
    pooled = Stack.concat([mixed, Stack.from_records(short)], align="common")
    said = [w for w in pooled.warnings if "further to train" in w and not w.startswith("?:")]
    assert len(said) == 1 and "adaboost (to stage 50)" in said[0] and "to stage 10" not in said[0], pooled.warnings
    # learners alone: their positions are stages; networks alone (below): epochs
    learners = [({"run_id": a, "arch": a, "seed": 0, "stages": True},
                 synthetic_record(corr[j][: len(g)], labels=labels, meta={}, epochs=g, seed=j))
                for j, (a, g) in enumerate((("knn", grids["mlp"]), ("adaboost", grids["adaboost"])))]
    said = [w for w in Stack.from_records(learners, align="common").warnings if "further" in w]
    assert said and said[0].startswith("at the last shared checkpoint, stage 10, adaboost (to stage 50)"), said
    # trained alike: nothing to say
    assert not any("further" in w for w in Stack.from_records(recs[:2]).warnings)


def test_compared_studies_keep_each_studys_own_notes():
    """A study whose boosting trained past its mlp, compared with another: the note was dropped
    (concat kept none of its studies' notes), and a network ahead of its architecture's others (a
    live study) is the alignment note's, not an architecture cut short."""
    n = 80
    labels = np.arange(n) % 10
    corr = synthetic_correct(4, 6, n, seed=5)

    def rec(j, arch, epochs):
        return ({"run_id": f"{arch}{j}", "arch": arch, "seed": j},
                synthetic_record(corr[j][:len(epochs)], labels=labels, meta={}, epochs=np.asarray(epochs, float),
                                 seed=j))
    a = Stack.from_records([rec(0, "mlp", [0, 1, 2]), rec(1, "adaboost", [0, 1, 2, 3, 4, 5])], align="common",
                           study="a")
    b = Stack.from_records([rec(2, "cnn", [0, 1, 2])], study="b")
    both = Stack.concat([a, b])
    assert any(w.startswith("a: at the last shared checkpoint, epoch 2, adaboost (to epoch 5)") for w in both.warnings), \
        both.warnings
    live = Stack.from_records([rec(0, "mlp", [0, 1, 2]), rec(1, "mlp", [0, 1, 2, 3])], align="common")
    assert not any("further to train" in w for w in live.warnings), live.warnings


def test_typical_learned_at_is_a_checkpoint_by_which_more_than_half_have_learned():
    """Four networks learned at 0 and 0.26 showed "@0.13", an epoch no network was seen at."""
    from orderlab.analysis.metrics import typical_learned_at
    nan = np.nan
    la = np.array([[0.0, 0.5, 0.26, nan],
                   [0.26, 0.5, nan, nan],
                   [0.0, 1.0, 0.5, 0.5],
                   [0.26, 1.0, nan, 0.75]])
    np.testing.assert_array_equal(typical_learned_at(la), [0.26, 1.0, nan, nan])   # 2 of 4 never: never
    np.testing.assert_array_equal(typical_learned_at(la[:3]), [0.0, 0.5, 0.5, nan])   # odd: the median
    np.testing.assert_array_equal(typical_learned_at(la[:1]), la[0])
    assert typical_learned_at(np.empty((0, 3))).shape == (3,)


def test_cut_tie_finds_a_listing_cut_inside_a_tie():
    from orderlab.analysis.metrics import cut_tie
    assert cut_tie([1, 1, 1, 0.5], 2) == (1.0, 3, 2)
    assert cut_tie([1, 1, 0.5, 0.5], 2) is None                # the tie shown whole
    assert cut_tie([1, 0.5, 0.5, 0.5], 3) == (0.5, 3, 2)
    assert cut_tie([1, 0.5], 5) is None and cut_tie([], 3) is None and cut_tie([1, 1], 0) is None


def test_checkpoint_positions_are_the_records_own_not_rounded():
    """Positions are matched rounded to 9 decimals; a stack (and so an export) keeps them as
    recorded: 22/43 of an epoch stayed 0.511627907 and no longer equalled the record's."""
    grid = np.array([0, 22 / 43, 1, 65 / 43, 2])
    other = np.array([0, 22 / 43, 1, 1.5, 2])                 # another grid: aligned on what they share
    corr = synthetic_correct(3, 5, 50, seed=2)
    recs = [({"run_id": f"r{j}", "arch": "mlp", "seed": j},
             synthetic_record(corr[j], labels=np.arange(50) % 10, meta={}, epochs=g, seed=j))
            for j, g in enumerate((grid, grid, other))]
    same = Stack.from_records(recs[:2])
    assert np.array_equal(same.epoch, recs[0][1].epoch)
    aligned = Stack.from_records(recs, align="common")
    assert np.array_equal(aligned.epoch, grid[[0, 1, 2, 4]])
    both = Stack.concat([Stack.from_records(recs[:1], study="a"), Stack.from_records(recs[2:], study="b")])
    assert np.array_equal(both.epoch, grid[[0, 1, 2, 4]])


def test_networks_of_one_architecture_ending_apart_are_said_to_pool_lengths():
    """Measures over each network's own checkpoints run to its own end: a study's 4-epoch mlps beside
    another's 30-epoch ones (or a live study's running network beside finished ones) pool different
    lengths under one architecture. TPA stops at the shared epoch 4 and the alignment note says so;
    the accessibility did not, and nothing said it (a user's `analyze digits live`)."""
    rng = np.random.default_rng(5)
    n = 120
    labels = rng.integers(0, 10, n)
    corr = synthetic_correct(4, 31, n, seed=2)
    long, short = np.arange(31.0), np.arange(5.0)
    recs = [({"run_id": f"m{j}", "arch": "mlp", "seed": j},
             synthetic_record(corr[j] if j < 2 else corr[j][:5], labels=labels, meta={},
                              epochs=long if j < 2 else short, seed=j)) for j in range(4)]
    st = Stack.from_records(recs, align="common")
    notes = [w for w in st.warnings if "networks end at different" in w]
    assert len(notes) == 1 and "mlp networks end at different epochs (4 to 30; at 4: mlp/s2, mlp/s3)" in notes[0], \
        st.warnings
    assert st.select([0, 1]).ends.tolist() == [30.0, 30.0]
    # two studies: said once, over all the networks, each named with its study
    a = Stack.from_records(recs[:2], study="long")
    b = Stack.from_records(recs[2:], study="short")
    both = Stack.concat([a, b])
    notes = [w for w in both.warnings if "networks end at different" in w]
    assert len(notes) == 1 and "at 4: short:mlp/s2, short:mlp/s3" in notes[0], both.warnings
    # networks of one architecture ending together (one arch trained longer than another): no such note
    other = [({"run_id": f"c{j}", "arch": "cnn", "seed": j},
              synthetic_record(corr[j][:5], labels=labels, meta={}, epochs=short, seed=j)) for j in range(2)]
    mixed = Stack.from_records(recs[:2] + other, align="common")
    assert not any("networks end at different" in w for w in mixed.warnings), mixed.warnings


def test_checkpoint_positions_read_as_recorded():
    """Quarter-epoch checkpoints past epoch 10 read "12.25" and "12.5", not "12.2" and "12.5"
    (3 significant digits); fractions of an epoch keep 3 significant digits."""
    st = M.as_stack(np.ones((2, 5, 10), bool), arch=np.array(["mlp"] * 2),
                    epoch=np.array([0.0, 0.005, 0.511628, 12.25, 12.5]))
    assert [st.at(c) for c in range(5)] == ["epoch 0", "epoch 0.005", "epoch 0.512", "epoch 12.25", "epoch 12.5"]


def test_learning_order_numbers_do_not_depend_on_run_ids():
    """The same networks (same seeds, same records) trained into two studies have other, random run
    ids: their half-splits, and so their Spearman and overlap numbers, must be the same (they were
    drawn in run-id order: 0.773 in one study, 0.744 in the other)."""
    import dataclasses
    c = synthetic_correct(8, 5, 120, seed=3)
    st = M.as_stack(c, arch=["mlp"] * 8)
    rng = np.random.default_rng(0)
    one = dataclasses.replace(st, seed=np.arange(8), run_id=np.array([f"{x:032x}" for x in rng.integers(0, 2**62, 8)]))
    two = dataclasses.replace(st, seed=np.arange(8), run_id=np.array([f"{x:032x}" for x in rng.integers(0, 2**62, 8)]))
    a, b = M.order_correlation(one), M.order_correlation(two)
    assert a["spearman"][0, 0] == b["spearman"][0, 0] and a["overlap"][0, 0] == b["overlap"][0, 0]
