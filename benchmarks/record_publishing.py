"""A long run's record: republished at every checkpoint vs when that is cheap (orderlab's rule).

A record is one file rewritten whole, so each publication costs more than the last: republished at
every checkpoint, a run's record costs time (and bytes uploaded to a tracking server) quadratic in
its checkpoints. orderlab publishes it at a checkpoint when the last publication took at most
``PUBLISH_SHARE`` (5%) of the time since, and when the run ends (trainer/run.py).

Deferring is not free: the training state saved at every checkpoint carries the checkpoints not yet
published, so both are measured. Both sides run one network's `NetworkRun` in a real SQLite store in
a temporary folder (record, metrics, tags, the run's end) with a CIFAR-10-sized record (50,000 +
10,000 examples, 10 classes), and save a training state of ``--state-mb`` MB of weights at every
checkpoint through orderlab's `save_training_state`. Between checkpoints the host waits
``--train-ms`` (``time.sleep``), as it waits on a GPU that trains; the recorded correctness is random
(its bytes cost the same). The sides alternate ``--reps`` times and each side's best time counts.
Both must end with the same record.

    python benchmarks/record_publishing.py                       # 200 checkpoints, 50 ms apart
    python benchmarks/record_publishing.py --checkpoints 400 --train-ms 20

The last line gives the ratio of the two runs' times and of the time each spent writing records
and states.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", type=int, default=200)
    ap.add_argument("--train-ms", type=float, default=50.0, help="host waiting between checkpoints")
    ap.add_argument("--train-examples", type=int, default=50_000)
    ap.add_argument("--test-examples", type=int, default=10_000)
    ap.add_argument("--state-mb", type=float, default=1.0, help="weights in each training state")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import numpy as np
    import torch

    import orderlab.trainer.loop as loop
    import orderlab.trainer.run as run_module
    from orderlab.record import record_nbytes
    from orderlab.store import Store
    from orderlab.trainer.data import Dataset
    from orderlab.trainer.run import NetworkRun, prepare_study

    n = {"train": args.train_examples, "test": args.test_examples}
    rng = np.random.default_rng(0)
    ds = Dataset(name="cifar10-shaped", kind="features", n_classes=10,
                 x_train=np.zeros((n["train"], 1), np.float32), y_train=rng.integers(0, 10, n["train"]),
                 x_test=np.zeros((n["test"], 1), np.float32), y_test=rng.integers(0, 10, n["test"]))
    results = []
    for c in range(args.checkpoints):
        r = np.random.default_rng(c)
        results.append({s: (r.random(k) < 0.5 + 0.4 * c / args.checkpoints, r.integers(0, 10, k),
                            r.random(k).astype(np.float32)) for s, k in n.items()})
    tmp = tempfile.mkdtemp(prefix="orderlab-bench-")
    store = Store(f"sqlite:///{tmp}/mlruns/mlflow.db")
    ctx = prepare_study(store, "publish", ds, ("train", "test"))
    spent = {"record_s": 0.0, "record_b": 0, "state_s": 0.0, "state_b": 0}
    write_record, write_state_file = Store.write_record, loop.write_state_file

    def timed_write(self, run_id, record, artifact_uri=None):
        t = time.perf_counter()
        write_record(self, run_id, record, artifact_uri)
        spent["record_s"] += time.perf_counter() - t
        spent["record_b"] += record_nbytes(record)

    def timed_state(state, path):
        t = time.perf_counter()
        write_state_file(state, path)
        spent["state_s"] += time.perf_counter() - t
        spent["state_b"] += os.path.getsize(path)
    Store.write_record, loop.write_state_file = timed_write, timed_state
    weights = {"w": torch.zeros(int(args.state_mb * 2**20 / 4))}

    def run(share: float, seed: int) -> tuple[float, float, float, float, float, str]:
        run_module.PUBLISH_SHARE = share
        spent.update(record_s=0.0, record_b=0, state_s=0.0, state_b=0)
        t = time.perf_counter()
        with NetworkRun(ctx, "mlp", seed, {}, float(args.checkpoints)) as nr:
            for c, res in enumerate(results):
                time.sleep(args.train_ms / 1000)
                nr.checkpoint(float(c), c, res, {"test_acc": float(res["test"][0].mean())})
                loop.save_training_state(nr, model=weights, optimizer={}, scheduler={}, step=c,
                                         device=torch.device("cpu"))
        return (time.perf_counter() - t, spent["record_s"], spent["record_b"] / 1e9, spent["state_s"],
                spent["state_b"] / 1e9, nr.run_id)

    default = run_module.PUBLISH_SHARE
    try:
        return _compare(args, n, store, run, default)
    finally:
        Store.write_record, loop.write_state_file, run_module.PUBLISH_SHARE = write_record, write_state_file, default


def _compare(args, n, store, run, default) -> int:
    import numpy as np
    print(f"{args.checkpoints} checkpoints {args.train_ms:g} ms apart, record of {n['train']:,} + {n['test']:,} "
          f"examples ({3.125 * sum(n.values()) / 1e6:.2f} MB a checkpoint)", flush=True)
    best = {"every": (float("inf"),) * 5, "orderlab": (float("inf"),) * 5}
    ids = {}
    for rep in range(args.reps):
        for name, share in (("every", float("inf")), ("orderlab", default)):
            *timing, ids[name] = run(share, 2 * rep + (name == "orderlab"))
            best[name] = min(best[name], tuple(timing))
    a, b = store.load_record(ids["every"]), store.load_record(ids["orderlab"])
    same = (np.array_equal(a.step, b.step) and all(
        np.array_equal(getattr(a.split(s), f), getattr(b.split(s), f))
        for s in n for f in ("correct_bits", "predicted", "p_true")))
    if not same or a.n_checkpoints != args.checkpoints:
        sys.exit("record_publishing: the two sides ended with different records")
    for name, label in (("every", "published at every checkpoint"), ("orderlab", "orderlab")):
        wall, rs, rb, ss, sb = best[name]
        print(f"{label}: {wall:.2f} s; records {rs:.2f} s ({rb:.2f} GB), training states {ss:.2f} s ({sb:.2f} GB)")
    (wa, ra, _, sa, _), (wb, rb_, _, sb_, _) = best["every"], best["orderlab"]
    print(f"record publishing ({args.checkpoints} checkpoints): run time every/orderlab {wa / wb:.2f}x, "
          f"records and states every/orderlab {(ra + sa) / (rb_ + sb_):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
