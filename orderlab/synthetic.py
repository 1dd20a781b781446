"""Synthetic correctness records and studies, for tests, benchmarks and trying the TUI without training.

The generator gives every example a latent difficulty and every network a skill that grows with
training, so records look like real ones: per-example correctness is shared across networks
(bimodal) and examples are learned roughly in the same order. Networks of different
architectures share part of the difficulty (``arch_shared``).
"""
from __future__ import annotations

import numpy as np

from orderlab.record import Record, RecordWriter, SplitRecord, split_fingerprint


def synthetic_correct(n_networks: int, n_checkpoints: int, n_examples: int, *, seed: int = 0,
                      groups: np.ndarray | None = None, arch_shared: float = 0.7,
                      noise: float = 0.6) -> np.ndarray:
    """bool [n_networks, n_checkpoints, n_examples]; checkpoint 0 near chance (10 classes)."""
    rng = np.random.default_rng(seed)
    groups = np.zeros(n_networks, int) if groups is None else np.asarray(groups)
    n_groups = int(groups.max()) + 1
    base = rng.normal(size=n_examples)
    difficulty = np.stack([arch_shared * base + np.sqrt(1 - arch_shared ** 2) * rng.normal(size=n_examples)
                           for _ in range(n_groups)])
    progress = np.linspace(-2.5, 2.0, n_checkpoints)
    out = np.empty((n_networks, n_checkpoints, n_examples), bool)
    for j in range(n_networks):
        skill = progress + 0.3 * groups[j] + rng.normal(scale=0.1)
        logits = skill[:, None] - difficulty[groups[j]][None, :] + noise * rng.normal(size=(n_checkpoints, n_examples))
        out[j] = logits > 0
    out[:, 0] = rng.random((n_networks, n_examples)) < 0.1
    return out


def synthetic_record(correct: np.ndarray, *, labels: np.ndarray, meta: dict, epochs: np.ndarray,
                     split: str = "test", fingerprint: str | None = None, n_classes: int = 10,
                     seed: int = 0) -> Record:
    """A :class:`Record` with the given correctness [C, N] (wrong predictions drawn at random)."""
    rng = np.random.default_rng(seed)
    c, n = correct.shape
    ids = np.arange(n, dtype=np.int64)
    wrong = (labels[None, :] + rng.integers(1, n_classes, size=(c, n))) % n_classes
    pred = np.where(correct, labels[None, :], wrong).astype(np.uint8)
    fp = fingerprint or split_fingerprint("synthetic", split, ids, labels)
    s = SplitRecord(split, ids, labels.astype(np.int64), fp, np.packbits(correct, axis=-1), pred,
                    np.where(correct, 0.9, 0.05).astype(np.float16))
    return Record(meta=meta, epoch=np.asarray(epochs, np.float64), step=np.round(np.asarray(epochs) * 10).astype(np.int64),
                  splits={split: s})


def populate_store(store, study: str, *, archs: tuple[str, ...] = ("mlp", "cnn"), seeds: int = 4,
                   n_checkpoints: int = 9, n_examples: int = 300, seed: int = 0, finish: bool = True,
                   splits: tuple[str, ...] = ("train", "test"), dataset: str = "synthetic",
                   learners: tuple[str, ...] = (), correct: dict[str, np.ndarray] | None = None,
                   per_epoch: dict[str, int] | None = None) -> list[str]:
    """Create a study of synthetic networks in ``store`` (a :class:`orderlab.store.Store`).

    Returns the run ids. With ``finish=False`` the runs stay RUNNING (a live study). The runs of
    ``learners`` (some of ``archs``) are stored as learners' runs are, their checkpoints stages.
    ``correct``: each split's correctness, bool [len(archs) * seeds, n_checkpoints, n_examples]
    (networks by architecture, then seed), in place of :func:`synthetic_correct`'s.
    ``per_epoch``: training steps an epoch of some architectures, whose checkpoints then lie on
    whole steps as a trainer's do (0.25 asked, 0.286 recorded with 14 steps an epoch).
    """
    from orderlab.store import LEARNER_OPTIMIZER
    rng = np.random.default_rng(seed)
    labels = {s: rng.integers(0, 10, size=n_examples).astype(np.int64) for s in splits}
    ids = np.arange(n_examples, dtype=np.int64)
    fps = {s: split_fingerprint(dataset, s, ids, labels[s]) for s in splits}
    fp_tag = ",".join(f"{k}={v}" for k, v in sorted(fps.items()))
    exp_id, parent = store.get_or_create_study(study, dataset, fp_tag, {"dataset": dataset})
    groups = np.repeat(np.arange(len(archs)), seeds)
    epochs = np.linspace(0, (n_checkpoints - 1) / 4, n_checkpoints)
    corr = correct or {s: synthetic_correct(len(groups), n_checkpoints, n_examples, seed=seed + i, groups=groups)
                       for i, s in enumerate(splits)}
    run_ids = []
    for j, g in enumerate(groups):
        arch, s_ = archs[g], int(j % seeds)
        run_id, _ = store.create_network_run(study, parent, exp_id, arch=arch, seed=s_, dataset=dataset,
                                          epochs=float(epochs[-1]), params={"arch": arch, "seed": s_, **(
                                              {"optimizer": LEARNER_OPTIMIZER} if arch in learners else {})})
        meta = {"study": study, "arch": arch, "seed": s_, "dataset": dataset, "n_classes": 10, "run_id": run_id}
        w = RecordWriter("/dev/null", meta, {s: (ids, labels[s], fps[s]) for s in splits}, 10)
        for e in range(n_checkpoints):
            results = {}
            for s in splits:
                c = corr[s][j, e]
                results[s] = (c, np.where(c, labels[s], (labels[s] + 1) % 10), np.where(c, 0.9, 0.05))
            if per_epoch and arch in per_epoch:
                step = int(round(epochs[e] * per_epoch[arch]))
                w.add(step / per_epoch[arch], step, results, flush=False)
            else:
                w.add(float(epochs[e]), e * 10, results, flush=False)
        store.write_record(run_id, w.build())
        acc = {f"{s}_acc": float(corr[s][j, -1].mean()) for s in splits}
        store.log_metrics(run_id, acc, n_checkpoints * 10, tags={
            "orderlab.checkpoints": n_checkpoints, "orderlab.epoch": f"{epochs[-1]:.6g}"})
        if finish:
            store.end_run(run_id, "FINISHED")
        run_ids.append(run_id)
    return run_ids
