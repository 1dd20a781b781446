"""Scikit-learn learners: staged checkpoints, seeds, and the same records as networks."""
from __future__ import annotations

import numpy as np
import pytest

from orderlab.errors import OrderlabError
from orderlab.trainer.learners import LEARNERS, balanced_order, stage_positions

DATA = "gaussians:dim=6,classes=3,sep=3,n=240,test=90"


def test_stage_positions():
    assert stage_positions(5, 1, integer=True) == [1, 2, 3, 4, 5]
    assert stage_positions(10, 3, integer=True) == [3, 6, 9, 10]            # always ends at the last stage
    assert stage_positions(2, 0.5, integer=False) == [0.5, 1.0, 1.5, 2.0]
    assert stage_positions(3, 0.4, integer=True) == [1, 2, 3]
    with pytest.raises(OrderlabError):
        stage_positions(0, 1, integer=True)


def test_balanced_order_prefixes_are_balanced():
    y = np.repeat(np.arange(4), 25)
    order = balanced_order(y, seed=3)
    assert sorted(order.tolist()) == list(range(100))
    for m in (4, 8, 40, 100):
        assert np.bincount(y[order[:m]], minlength=4).tolist() == [m // 4] * 4
    assert not np.array_equal(order, balanced_order(y, seed=4))


@pytest.fixture(scope="module")
def learner_study(tmp_path_factory):
    """Every learner, two seeds, four stages, in one study."""
    from orderlab.store import Store
    from orderlab.trainer.api import TrainConfig, train_study
    uri = f"sqlite:///{tmp_path_factory.mktemp('learners')}/mlflow.db"
    cfg = TrainConfig("learners", archs=list(LEARNERS), seeds=[0, 1], dataset=DATA, epochs=4, tracking_uri=uri,
                      quiet=True)
    ids = train_study(cfg)
    return Store(uri), ids


def test_every_learner_writes_staged_records(learner_study):
    store, ids = learner_study
    assert len(ids) == 2 * len(LEARNERS)
    runs = store.list_runs("learners")
    assert {r.status for r in runs} == {"FINISHED"}
    by = {(r.arch, r.seed): store.load_record(r) for r in runs}
    for arch in LEARNERS:
        rec = by[(arch, 0)]
        assert rec.epoch.tolist() == [0, 1, 2, 3, 4], arch
        test = rec.split("test")
        correct = test.correct()                       # bool [checkpoints, examples]
        assert correct.shape == (5, 90)
        assert correct[0].mean() == pytest.approx(1 / 3)            # the untrained learner: one class
        assert correct[-1].mean() > 0.6, arch                        # learned (chance is 1/3)
        assert np.all((test.p_true >= 0) & (test.p_true <= 1.0001))
        assert rec.split("train").correct().shape == (5, 240)


def test_seeds_change_what_they_should(learner_study):
    store, _ = learner_study
    by = {(r.arch, r.seed): store.load_record(r) for r in store.list_runs("learners")}

    def pred(arch, seed, ckpt):
        return by[(arch, seed)].split("train").predicted[ckpt].astype(int)

    for arch in ("gradient-boosting", "random-forest", "logistic", "linear-svm"):
        assert not np.array_equal(by[(arch, 0)].split("train").p_true, by[(arch, 1)].split("train").p_true), arch
    for arch in ("knn", "svm"):   # other examples come first; the whole training set is the same learner
        assert not np.array_equal(by[(arch, 0)].split("test").p_true[1], by[(arch, 1)].split("test").p_true[1])
        assert np.array_equal(pred(arch, 0, -1), pred(arch, 1, -1))


def test_the_untrained_learner_breaks_class_ties_by_seed(learner_study):
    """Balanced classes tie for the most frequent: the seed picks the class checkpoint 0 predicts,
    so not every learner of every seed predicts class 0 (which made all of class 0 "learned at
    epoch 0" by all of them: the easiest examples, and agreement, skewed by a tie-break)."""
    from orderlab.trainer.learners import prior_class
    y = np.repeat([0, 1, 2], 10)
    assert {prior_class(y, 3, s) for s in range(20)} == {0, 1, 2}
    assert {prior_class(y, 3, 0, a) for a in LEARNERS} != {prior_class(y, 3, 0)}  # the learner counts too
    assert prior_class(y, 3, 5) == prior_class(y, 3, 5)                       # fixed by the seed
    assert {prior_class(np.array([0, 1, 1, 2]), 3, s) for s in range(20)} == {1}   # no tie: the most frequent
    # nearly balanced (digits: 137 of class 3, 136 of others): a tie, not class 3 for every learner
    near = np.repeat([0, 1, 2, 3], [136, 136, 131, 137])
    assert {prior_class(near, 4, s, a) for s in range(10) for a in LEARNERS} == {0, 1, 2, 3}
    fewer = np.repeat([0, 1, 2, 3], [136, 136, 120, 137])                        # class 2: 12% fewer
    assert {prior_class(fewer, 4, s, a) for s in range(10) for a in LEARNERS} == {0, 1, 3}
    assert {prior_class(np.repeat([0, 1], [100, 94]), 2, s) for s in range(20)} == {0}   # 6% fewer: no tie
    store, _ = learner_study
    first = {(r.arch, r.seed): int(store.load_record(r).split("test").predicted[0][0])
             for r in store.list_runs("learners")}
    assert len(set(first.values())) > 1 and all(v == prior_class(np.repeat([0, 1, 2], 80), 3, s, a)
                                                for (a, s), v in first.items())


def test_learners_in_the_analyses(learner_study):
    from orderlab.analysis.metrics import tpa, tpa_independent
    from orderlab.studydata import load_stack
    store, _ = learner_study
    st = load_stack(store, "learners", "test")                     # all learners share checkpoints 0-4
    assert st.bits.shape[:2] == (2 * len(LEARNERS), 5)
    rf = st.select(st.arch_index("random-forest"))
    assert tpa(rf, -1) >= tpa_independent(rf, -1)


def test_cli_adaboost_on_digits(tmp_path):
    import json

    from typer.testing import CliRunner

    from orderlab.cli import app
    from orderlab.trainer.data import dataset_specs
    if "digits" not in {d.name for d in dataset_specs()}:
        pytest.skip("digits is not registered yet")
    res = CliRunner().invoke(app, ["train", "--arch", "adaboost", "--dataset", "digits", "--seeds", "0-2",
                                   "--epochs", "5", "--study", "ada"])
    assert res.exit_code == 0, res.output
    from orderlab.store import Store
    runs = Store().list_runs("ada")
    assert len(runs) == 3 and {r.status for r in runs} == {"FINISHED"}
    rec = Store().load_record(runs[0])
    assert rec.epoch.tolist() == [0, 1, 2, 3, 4, 5] and rec.split("test").correct()[-1].mean() > 0.3
    # its checkpoints are boosting rounds, and everything shown calls them stages, not epochs
    assert all(r.stages for r in runs)
    res = CliRunner().invoke(app, ["analyze", "ada", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["unit"] == "stage", res.output
    res = CliRunner().invoke(app, ["analyze", "ada", "--json", "--checkpoint", "9"])
    assert json.loads(res.output)["warnings"][0] == ("--checkpoint 9 is outside the recorded stages (0 to 5); the "
                                                     "agreement matrix is at the nearest, stage 5"), res.output
    res = CliRunner().invoke(app, ["analyze", "ada"])
    assert res.exit_code == 0 and "┃ stage ┃" in res.output and "at stage 5" in res.output, res.output
    assert "epoch" not in res.output.lower(), res.output
    res = CliRunner().invoke(app, ["runs", "ada"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "┃ stage " in res.output and "┃ epoch" not in res.output, res.output
    res = CliRunner().invoke(app, ["examples", "ada"])
    assert res.exit_code == 0 and "networks of the stage from which" in " ".join(res.output.split()), res.output
    res = CliRunner().invoke(app, ["report", "ada", "-o", str(tmp_path / "rep"), "--no-log"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "(stages 0 to 5)" in md and "(stage 5)" in md and "epoch" not in md, md
    from orderlab.analysis import figures as F
    from orderlab.analysis import metrics as M
    from orderlab.studydata import load_stack
    st = load_stack(Store(), "ada", "test")
    fig = F.fig_tpa(st, M.group_curves(st, bootstrap=0))
    assert [ax.get_xlabel() for ax in fig.axes] == ["stage", "stage"]
    assert "stage 5" in F.fig_network_agreement(st, st.n_checkpoints - 1).axes[0].get_title()


def test_learner_refuses_text():
    from typer.testing import CliRunner

    from orderlab.cli import app
    from pathlib import Path
    topics = Path(__file__).parent / "data" / "topics.csv"
    res = CliRunner().invoke(app, ["train", "--arch", "knn", "--dataset", f"text-csv:{topics}", "--seeds", "0"])
    assert res.exit_code != 0


def test_network_only_options_are_refused_for_learners_alone_and_ignored_beside_a_network(tmp_path):
    """--lr and the like do nothing to a learner: alone, a one-line error (nothing recorded); beside
    a network they are the network's, and the learner's run does not store them (stored, they
    refused a later seed asked without them)."""
    from typer.testing import CliRunner
    from conftest import assert_one_line_error
    from orderlab.cli import app
    from orderlab.store import Store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    runner = CliRunner()
    base = ["train", "--dataset", DATA, "--epochs", "2", "--quiet", "--tracking-uri", uri]
    assert_one_line_error(runner.invoke(app, base + ["--arch", "random-forest", "--seeds", "0", "--study", "rf",
                                                     "--lr", "0.1", "--batch-size", "16"]),
                          "--lr, --batch-size set how networks train", "random-forest", "drop them")
    assert_one_line_error(runner.invoke(app, ["sweep", "--dataset", DATA, "--arch", "knn", "--seeds", "0",
                                              "--optimizer", "sgd", "--tracking-uri", uri, "--quiet"]),
                          "--optimizer sets how networks train; the learner knn does not use it: drop it")
    # a learner's training counts stages, not epochs
    assert_one_line_error(runner.invoke(app, base + ["--arch", "random-forest", "--seeds", "0", "--record-every", "5"]),
                          "--record-every 5 is larger than the training of random-forest (2 stages)")
    assert Store(uri).study_names() == []
    r = runner.invoke(app, base + ["--arch", "knn", "--arch", "mlp", "--seeds", "0", "--study", "mix", "--lr", "0.01"])
    assert r.exit_code == 0, r.output
    by = {x.arch: x for x in Store(uri).list_runs("mix")}
    assert float(by["mlp"].params["lr"]) == 0.01 and float(by["knn"].params["lr"]) == 0.0
    r = runner.invoke(app, base + ["--arch", "knn", "--seeds", "1", "--study", "mix"])     # a new seed, no --lr
    assert r.exit_code == 0, r.output


def test_whole_stage_learners_refuse_a_fraction_of_a_stage(tmp_path):
    """Boosting rounds and trees are whole: `--epochs 2.5` trained 2 rounds under a run that said 2.5.
    Passes of SGD and growing training sets take fractions."""
    from typer.testing import CliRunner
    from conftest import assert_one_line_error
    from orderlab.cli import app
    from orderlab.store import Store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    runner = CliRunner()
    base = ["--dataset", DATA, "--seeds", "0", "--quiet", "--tracking-uri", uri]
    assert_one_line_error(runner.invoke(app, ["train", "--arch", "adaboost", "--arch", "mlp", "--epochs", "2.5", *base]),
                          "--epochs 2.5 is not a whole number", "adaboost trains in whole stages", "--epochs 3")
    assert_one_line_error(runner.invoke(app, ["sweep", "--arch", "random-forest", "--arch", "gradient-boosting",
                                              "--epochs", "0.5", *base]),
                          "random-forest and gradient-boosting train in whole stages", "--epochs 1")
    assert Store(uri).study_names() == []
    r = runner.invoke(app, ["train", "--arch", "logistic", "--arch", "adaboost", "--epochs", "2.0", "--study", "ok",
                            *base])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "--arch", "logistic", "--epochs", "1.5", "--study", "half", *base])
    assert r.exit_code == 0, r.output
    [run] = Store(uri).list_runs("half")
    assert run.checkpoints == 3 and run.epoch == 1.5            # 0, 1, 1.5 passes


def test_a_study_whose_learners_stored_network_options_can_still_be_continued(tmp_path, monkeypatch):
    """Before learners ignored them, `--arch knn --arch mlp --lr 0.01` stored lr=0.01 on knn's run
    too: running the same command again (or a new seed) must not be refused over it."""
    from typer.testing import CliRunner
    import orderlab.trainer.api as api
    from orderlab.cli import app
    from orderlab.store import Store
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    cmd = ["train", "--dataset", DATA, "--epochs", "2", "--quiet", "--tracking-uri", uri, "--arch", "knn",
           "--arch", "mlp", "--study", "old", "--lr", "0.01"]
    with monkeypatch.context() as m:
        m.setattr(api, "NETWORK_ONLY", {})          # as learners were trained before: options stored
        assert CliRunner().invoke(app, cmd + ["--seeds", "0"]).exit_code == 0
    assert float(next(r for r in Store(uri).list_runs("old") if r.arch == "knn").params["lr"]) == 0.01
    r = CliRunner().invoke(app, cmd + ["--seeds", "0-1"])
    assert r.exit_code == 0, r.output
    assert sorted((x.name, x.status) for x in Store(uri).list_runs("old")) == [
        ("knn/s0", "FINISHED"), ("knn/s1", "FINISHED"), ("mlp/s0", "FINISHED"), ("mlp/s1", "FINISHED")]


def test_a_learner_that_stops_early_says_so(store_uri):
    """AdaBoost stops at a round that fits the training data perfectly: the run was FINISHED at
    100% with a record of 1 round where 20 were asked, and nothing said why."""
    from typer.testing import CliRunner

    from orderlab.cli import app
    from orderlab.store import TAG_NOTE, Store
    r = CliRunner().invoke(app, ["train", "--arch", "adaboost", "--dataset", "gaussians:dim=5,classes=3,sep=50",
                                 "--epochs", "20", "--seeds", "0", "--study", "early", "--tracking-uri", store_uri])
    said = " ".join(r.stderr.split())
    assert r.exit_code == 0, r.output
    assert ("adaboost/s0: stopped after 1 of 20 boosting rounds (a round fit the training data perfectly, where "
            "SAMME stops); its record ends at round 1") in said, said
    [run] = Store(store_uri).list_runs("early")
    assert run.status == "FINISHED" and run.checkpoints == 2 and run.tags[TAG_NOTE].startswith("stopped after 1 of 20")
    # off the --record-every grid, its last round is recorded all the same: the record ended at the
    # untrained checkpoint, and the learner that fit the data showed its untrained accuracy
    r = CliRunner().invoke(app, ["train", "--arch", "adaboost", "--dataset", "gaussians:dim=5,classes=3,sep=50",
                                 "--epochs", "20", "--record-every", "5", "--seeds", "0", "--study", "grid",
                                 "--tracking-uri", store_uri])
    assert r.exit_code == 0 and ("its record ends at round 1 (recorded off the --record-every grid)"
                                 in " ".join(r.stderr.split())), r.output
    store = Store(store_uri)
    [run] = store.list_runs("grid")
    rec = store.load_record(run)
    assert rec.epoch.tolist() == [0.0, 1.0] and run.train_acc > 0.9, (rec.epoch, run.train_acc)
