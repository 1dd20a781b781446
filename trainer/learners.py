"""Scikit-learn learners as architectures: other learning paradigms (claim 5), same records.

Each learner is trained in *stages*, and every stage is a checkpoint, like an epoch of a network.
``--epochs E`` is the number of stages and ``--record-every R`` records every R stages (the
``epoch`` of a checkpoint is its stage position, 0 ... E); checkpoint 0 is the untrained learner,
which predicts the most frequent train class (its ``p_true`` is the class's train frequency).

=================== ================================================ ===============================
learner             a stage (checkpoint ``epoch`` = e of E)          what the seed changes
=================== ================================================ ===============================
adaboost            e boosting rounds (SAMME, depth-2 trees)         features each tree may split on
gradient-boosting   e boosting rounds (depth-3 trees, subsample .8)  row subsample, features per split
random-forest       a forest of e trees (warm start adds trees)       bootstrap samples, split features
logistic            e passes of SGD (log loss), partial_fit          example order of every pass
linear-svm          e passes of SGD (hinge loss), partial_fit        example order of every pass
knn                 5-NN on the first e/E of the training set         which examples come first
svm                 RBF SVC on the first e/E of the training set      which examples come first
=================== ================================================ ===============================

For knn and svm "order" means the order in which the examples become learnable as the training
set grows: examples join in a class-balanced order fixed by the seed, and the last stage (the
whole training set) is the same learner for every seed. For SVMs ``p_true`` is the softmax of
the one-vs-rest decision values (SVC fits no probabilities, by design: Platt scaling would refit
5 models). Images are flattened to vectors (the pixels as features).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from orderlab.errors import OrderlabError
from orderlab.store import LEARNER_OPTIMIZER
from orderlab.trainer.models import register_arch

SKLEARN_INPUTS = ("image", "features")
# Not used by learners, but BASE_DEFAULTS would show them as the learner's settings.
_NO_TORCH = dict(optimizer=LEARNER_OPTIMIZER, lr=0.0, momentum=0.0, weight_decay=0.0, batch_size=0, schedule="-")


def _register(name: str, description: str, epochs: int, **extra):
    def build(input_shape=None, n_classes=None, seed: int = 0, n_estimators: int | None = None, **info):
        return make_estimator(name, seed, int(n_estimators or epochs))
    register_arch(name, description, kind="sklearn", inputs=SKLEARN_INPUTS, epochs=epochs, **_NO_TORCH,
                  **extra)(build)


_register("adaboost", "AdaBoost (SAMME) of depth-2 trees; a checkpoint per boosting round", 50)
_register("gradient-boosting", "stochastic gradient boosting of depth-3 trees; a checkpoint per round", 30)
_register("random-forest", "random forest; a checkpoint per number of trees", 30)
_register("logistic", "logistic regression by SGD; a checkpoint per pass", 20)
_register("linear-svm", "linear SVM (hinge loss) by SGD; a checkpoint per pass", 20)
_register("knn", "5-nearest neighbours; checkpoints are growing fractions of the training set", 10)
_register("svm", "RBF support vector machine; checkpoints are growing fractions of the training set", 10)

LEARNERS = ("adaboost", "gradient-boosting", "random-forest", "logistic", "linear-svm", "knn", "svm")
WHOLE_STAGES = ("adaboost", "gradient-boosting", "random-forest")     # stages are rounds or trees


def make_estimator(arch: str, seed: int, n_stages: int):
    """The scikit-learn estimator of ``arch`` (unfitted), its randomness fixed by ``seed``."""
    from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    if arch == "adaboost":
        return AdaBoostClassifier(DecisionTreeClassifier(max_depth=2, max_features="sqrt", random_state=seed),
                                  n_estimators=n_stages, learning_rate=0.5, random_state=seed)
    if arch == "gradient-boosting":
        return GradientBoostingClassifier(n_estimators=n_stages, max_depth=3, learning_rate=0.1, subsample=0.8,
                                          max_features="sqrt", random_state=seed)
    if arch == "random-forest":
        return RandomForestClassifier(n_estimators=1, warm_start=True, max_features="sqrt", random_state=seed,
                                      n_jobs=1)
    if arch in ("logistic", "linear-svm"):
        return SGDClassifier(loss="log_loss" if arch == "logistic" else "hinge", alpha=1e-4,
                             learning_rate="optimal", random_state=seed)
    if arch == "knn":
        return KNeighborsClassifier(n_neighbors=5)
    if arch == "svm":
        return SVC(kernel="rbf", C=1.0, gamma="scale", decision_function_shape="ovr")
    raise OrderlabError(f"unknown learner {arch!r}; valid learners: {', '.join(LEARNERS)}")


def stage_positions(epochs: float, record_every: float, integer: bool) -> list[float]:
    """Checkpoint positions after 0: every ``record_every`` up to ``epochs`` (always ending there)."""
    if not epochs > 0 or not record_every > 0:
        raise OrderlabError(f"--epochs and --record-every must be positive (got {epochs}, {record_every})")
    k = max(1, int(np.floor(epochs / record_every + 1e-9)))
    pos = [min(epochs, (i + 1) * record_every) for i in range(k)]
    if pos[-1] < epochs - 1e-9:
        pos.append(float(epochs))
    if integer:
        pos = sorted({max(1, int(round(p))) for p in pos})
    return [float(p) for p in pos]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _full(classes: np.ndarray, scores: np.ndarray, n_classes: int, fill: float) -> np.ndarray:
    """Scores over the estimator's ``classes_`` -> scores over all ``n_classes`` labels."""
    out = np.full((scores.shape[0], n_classes), fill, dtype=np.float64)
    out[:, classes.astype(np.int64)] = scores
    return out


def _svm_proba(est, x: np.ndarray, n_classes: int) -> np.ndarray:
    d = est.decision_function(x)
    if d.ndim == 1:  # two classes: the score of classes_[1]
        d = np.stack([-d, d], axis=1)
    return _full(est.classes_, _softmax(d), n_classes, 0.0)


def _proba(est, x: np.ndarray, n_classes: int) -> np.ndarray:
    if hasattr(est, "predict_proba") and getattr(est, "loss", "log_loss") != "hinge":
        return _full(est.classes_, est.predict_proba(x), n_classes, 0.0)
    return _svm_proba(est, x, n_classes)


def _result(proba: np.ndarray, y: np.ndarray, pred: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred = proba.argmax(axis=1) if pred is None else pred
    return pred == y, pred, proba[np.arange(len(y)), y]


NEAR_TIE = 0.05    # classes within 5% of the most frequent class's train count tie for checkpoint 0


def prior_class(y: np.ndarray, n_classes: int, seed: int, arch: str = "") -> int:
    """The class an untrained learner predicts: the most frequent in train, ties broken by the seed
    and the learner (as an untrained network's guesses depend on both).
    By argmax, every learner of every seed would pick the lowest tied class (class 0 on balanced
    data), so all of class 0 would count as learned at checkpoint 0 by all of them: the easiest
    examples, and the learners' agreement, skewed by a tie-break. Nearly balanced data ties too
    (``NEAR_TIE``): digits' train split has 137 examples of class 3 against 136 of others, and one
    example more made every learner of every seed predict 3."""
    counts = np.bincount(y, minlength=n_classes)
    tied = np.flatnonzero(counts >= counts.max() * (1 - NEAR_TIE))
    import zlib
    return int(tied[np.random.default_rng([seed, zlib.crc32(arch.encode())]).integers(len(tied))])


def balanced_order(y: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of the examples, fixed by ``seed``, whose every prefix is class-balanced."""
    rng = np.random.default_rng([seed, 0x0D3])
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    rounds = max(len(p) for p in per_class)
    order = []
    for r in range(rounds):
        row = [p[r] for p in per_class if r < len(p)]
        order.extend(rng.permutation(row))
    return np.asarray(order, dtype=np.int64)


def run_learner(run, arch: str, hparams: dict[str, Any], seed: int, record_splits: tuple[str, ...],
                progress: Callable[[float, dict], None] | None = None) -> dict[str, float]:
    """Train learner ``arch`` stage by stage inside the open NetworkRun ``run``; returns the last metrics."""
    ds = run.ctx.dataset
    if ds.kind not in SKLEARN_INPUTS:
        raise OrderlabError(f"learner {arch} takes image or features data, not {ds.kind}; pick another --dataset")
    n_classes = ds.n_classes
    xs = {s: ds.split(s)[0].reshape(len(ds.split(s)[1]), -1).astype(np.float32) for s in ("train", "test")}
    ys = {s: ds.split(s)[1].astype(np.int64) for s in ("train", "test")}
    x_tr, y_tr = xs["train"], ys["train"]
    epochs = float(hparams.get("epochs") or 10)
    record_every = float(hparams.get("record_every") or 1.0)
    started = time.monotonic()
    last: dict[str, float] = {}
    run.trained_on("cpu")                       # scikit-learn fits on the CPU, whatever --device says

    def record(epoch: float, step: int, probas: dict[str, np.ndarray], pred: int | None = None) -> None:
        nonlocal last
        res = {s: _result(probas[s], ys[s], None if pred is None else np.full(len(ys[s]), pred)) for s in probas}
        metrics = {f"{s}_acc": float(res[s][0].mean()) for s in res}
        metrics["epoch"] = float(epoch)
        metrics["fit_seconds"] = time.monotonic() - started
        run.checkpoint(epoch, step, {s: res[s] for s in record_splits}, metrics)
        last = metrics
        if progress:
            progress(min(1.0, epoch / epochs), metrics)

    # Checkpoint 0: the untrained learner predicts the train prior's most frequent class.
    prior = np.bincount(y_tr, minlength=n_classes) / max(len(y_tr), 1)
    record(0.0, 0, {s: np.tile(prior, (len(ys[s]), 1)) for s in ("train", "test")},
           pred=prior_class(y_tr, n_classes, seed, arch))

    if arch in ("adaboost", "gradient-boosting"):
        positions = stage_positions(epochs, record_every, integer=True)
        est = make_estimator(arch, seed, int(positions[-1]))
        est.fit(x_tr, y_tr)
        wanted = {int(p) for p in positions}
        staged = {s: est.staged_predict_proba(xs[s]) for s in ("train", "test")}
        recorded, previous = 0, None
        for stage in range(1, int(positions[-1]) + 1):
            probas = {s: next(staged[s], None) for s in staged}
            if any(p is None for p in probas.values()):
                # AdaBoost stops early when a tree fits the weighted data perfectly. Its last round is
                # the learner's result: recorded even off the --record-every grid (else a learner
                # that fit the data showed the accuracy of its untrained checkpoint).
                done = stage - 1
                if done > recorded:
                    record(float(done), done, previous)
                run.note(f"stopped after {done} of {int(positions[-1])} boosting rounds (a round fit the "
                         f"training data perfectly, where SAMME stops); its record ends at round {done}"
                         + ("" if done == recorded or done in wanted else " (recorded off the --record-every grid)"))
                break
            previous = {s: _full(est.classes_, p, n_classes, 0.0) for s, p in probas.items()}
            if stage in wanted:
                recorded = stage
                record(float(stage), stage, previous)
    elif arch == "random-forest":
        est = make_estimator(arch, seed, 1)
        for trees in stage_positions(epochs, record_every, integer=True):
            est.set_params(n_estimators=int(trees))
            est.fit(x_tr, y_tr)
            record(trees, int(trees), {s: _proba(est, xs[s], n_classes) for s in xs})
    elif arch in ("logistic", "linear-svm"):
        est = make_estimator(arch, seed, 1)
        classes = np.arange(n_classes)
        n = len(y_tr)
        done = 0.0           # passes done
        seen = 0
        for pos in stage_positions(epochs, record_every, integer=False):
            # Feed the samples between `done` and `pos` passes, each pass in its own seeded order.
            while done < pos - 1e-9:
                p = int(np.floor(done + 1e-9))
                order = np.random.default_rng([seed, p]).permutation(n)
                a = int(round((done - p) * n))
                b = int(round((min(pos, p + 1) - p) * n))
                if b > a:
                    idx = order[a:b]
                    est.partial_fit(x_tr[idx], y_tr[idx], classes=classes)
                    seen += len(idx)
                done = min(pos, p + 1.0)
            record(pos, seen, {s: _proba(est, xs[s], n_classes) for s in xs})
    elif arch in ("knn", "svm"):
        order = balanced_order(y_tr, seed)
        for pos in stage_positions(epochs, record_every, integer=False):
            m = max(n_classes, int(round(len(order) * pos / epochs)))
            idx = np.sort(order[:m])
            if arch == "knn":
                est = make_estimator(arch, seed, 1).set_params(n_neighbors=min(5, m))
            else:
                est = make_estimator(arch, seed, 1)
            if len(np.unique(y_tr[idx])) < 2:
                probas = {s: np.tile(np.eye(n_classes)[y_tr[idx][0]], (len(ys[s]), 1)) for s in xs}
            else:
                est.fit(x_tr[idx], y_tr[idx])
                probas = {s: (_proba(est, xs[s], n_classes) if arch == "knn" else _svm_proba(est, xs[s], n_classes))
                          for s in xs}
            record(pos, m, probas)
    else:
        raise OrderlabError(f"unknown learner {arch!r}; valid learners: {', '.join(LEARNERS)}")
    return last
