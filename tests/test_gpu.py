"""The CUDA path: stacked and grouped ensembles under bf16 autocast, streamed data through pinned
memory, resume. These run where a CUDA GPU is present (skipped elsewhere; the same code paths run
on the CPU in test_ensemble, test_stacked and test_resume with the same on-device batching).

On a GPU, convolutions (cuDNN, TF32) and bf16 autocast round differently from one launch shape to
another, so a member of an ensemble is compared with the same seed alone *statistically*: the same
predictions almost everywhere, the same accuracy to a few examples."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import module_store_uri, records_by_seed

from orderlab.store import Store
from orderlab.trainer.api import TrainConfig, train_study

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SMALL = dict(dataset="digits", train_subset=480, test_subset=240, epochs=2, record_every=0.5, device="cuda",
             quiet=True)


store_uri = module_store_uri()


def assert_statistically_equal(a, b, agree=0.95, acc=0.04):
    assert np.array_equal(a.step, b.step)
    for split in ("train", "test"):
        x, y = a.split(split), b.split(split)
        assert (x.predicted == y.predicted).mean() >= agree, split
        assert np.abs(x.correct().mean(1) - y.correct().mean(1)).max() <= acc, split


def member_grads(arch, amp, together, way="stacked"):
    """Each of 3 members' gradients for one batch: as an ensemble (``together``) or alone, under
    bf16 autocast (``amp``) or in float32 (TF32 off)."""
    from orderlab.trainer.ensemble import Ensemble
    from orderlab.trainer.models import get_arch
    dev = torch.device("cuda")
    models = []
    for s in range(3):
        torch.manual_seed(s)
        models.append(get_arch(arch).build((1, 8, 8), 10).to(dev))
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(3, 16, 1, 8, 8, device=dev, generator=gen)
    y = torch.randint(0, 10, (3, 16), device=dev, generator=gen)
    if together:
        ens = Ensemble(models, dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits = ens.forward(x)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none").view(3, 16).mean(1)
        loss.sum().backward()
        assert ens.implementation == way
        return [{n: ens.params[n].grad[k] for n, _ in models[0].named_parameters()} for k in range(3)]
    out = []
    for k, m in enumerate(models):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            F.cross_entropy(m(x[k]).float(), y[k]).backward()
        out.append({n: p.grad for n, p in m.named_parameters()})
    return out


@pytest.mark.parametrize("arch, way", [("mlp", "stacked"), ("cnn", "stacked"), ("resnet18", "grouped")])
def test_ensembles_on_cuda_give_each_member_its_gradients(arch, way, monkeypatch):
    """Stacked layers (mlp, cnn) and grouped layers (resnet18: batch norm, residual blocks)."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    ref = member_grads(arch, amp=False, together=False)
    # float32: the same sums in another order (batch norm's backward amplifies their rounding)
    rtol, atol = (1e-4, 1e-6) if way == "stacked" else (1e-3, 1e-5)
    for got, want in zip(member_grads(arch, amp=False, together=True, way=way), ref):
        for name, g in got.items():
            assert torch.allclose(g, want[name], rtol=rtol, atol=atol), name
    # bf16: a member's gradient is as close to float32's as the network's own bf16 gradient is
    # (both round activations to 8 bits; ReLUs near zero flip either way)
    for got, own, want in zip(member_grads(arch, amp=True, together=True, way=way),
                              member_grads(arch, amp=True, together=False), ref):
        for name, g in got.items():
            assert g.dtype == torch.float32 and torch.isfinite(g).all(), name
            err = lambda a: ((a - want[name]).norm() / want[name].norm()).item()   # noqa: E731
            assert err(g) <= 2 * err(own[name]) + 0.02, (name, err(g), err(own[name]))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_ensemble_members_match_networks_trained_alone_on_cuda(store_uri, arch):
    cfg = dict(archs=[arch], seeds=[0, 1], tracking_uri=store_uri, augment=arch != "mlp", **SMALL)
    train_study(TrainConfig(study=f"{arch}-alone", **cfg))
    train_study(TrainConfig(study=f"{arch}-together", ensemble=2, **cfg))
    store = Store(store_uri)
    alone, together = records_by_seed(store, f"{arch}-alone"), records_by_seed(store, f"{arch}-together")
    for seed in (0, 1):
        run, rec = together[seed]
        assert run.status == "FINISHED" and run.params.get("ensemble") == "2", (run.status, run.params)
        assert run.params["device"] == "cuda"
        assert_statistically_equal(rec, alone[seed][1])
    # the members are still different networks
    assert not np.array_equal(together[0][1].split("test").p_true, together[1][1].split("test").p_true)


def test_batch_norm_ensemble_trains_together_on_cuda(store_uri):
    """resnet18 (batch norm, residual blocks) on CUDA runs as grouped layers. Under vmap, with torch
    2.11, batch norm's backward under bf16 autocast fails ("Expected running_mean to have type
    BFloat16 but got Float"): such runs once all FAILED, then fell back to one network at a time.
    Every network finishes together and learns (its first steps are chaotic, so this does not compare
    it with a solo run; after 4 epochs of 4 steps a member once stood at 0.29 on the train split, so
    it trains 8)."""
    from orderlab.trainer.progress import MessageLog
    kept = MessageLog()
    train_study(TrainConfig(study="r18-together", archs=["resnet18"], seeds=[0, 1], tracking_uri=store_uri, augment=True,
                            ensemble=2, **{**SMALL, "epochs": 8, "record_every": 1}), kept)
    store = Store(store_uri)
    assert not any("falls back" in m for m in kept.lines), kept.lines
    for run, rec in records_by_seed(store, "r18-together").values():
        assert run.status == "FINISHED", (run.status, run.error)
        assert run.params.get("ensemble") == "2", run.params
        for split in ("train", "test"):
            assert rec.split(split).correct()[-1].mean() >= 0.3, split     # chance: 0.1; CPU: 0.53-0.75


def test_streamed_data_on_cuda_gives_the_records_of_data_on_the_device(store_uri, monkeypatch):
    from orderlab.trainer.loop import STREAM_ENV
    cfg = dict(archs=["cnn"], seeds=[5], augment=True, tracking_uri=store_uri, **SMALL)
    monkeypatch.setenv(STREAM_ENV, "0")
    train_study(TrainConfig(study="gpu-on-device", **cfg))
    monkeypatch.setenv(STREAM_ENV, "1")
    train_study(TrainConfig(study="gpu-streamed", **cfg))
    store = Store(store_uri)
    a = store.load_record(store.list_runs("gpu-on-device")[0])
    b = store.load_record(store.list_runs("gpu-streamed")[0])
    assert_statistically_equal(a, b, agree=0.97, acc=0.02)


def test_interrupted_cuda_run_resumes(store_uri):
    from conftest import whole_and_cut
    from orderlab.trainer.resume import resume_runs
    cut = whole_and_cut(store_uri, "gpu", 2, archs=["mlp"], seeds=[3], **SMALL)
    store = Store(store_uri)
    resume_runs([cut.run_id], tracking_uri=store_uri)
    [done] = store.list_runs("gpu-cut")
    assert done.status == "FINISHED" and done.checkpoints == 5
    assert_statistically_equal(store.load_record(done), store.load_record(store.list_runs("gpu-whole")[0]),
                               agree=0.98, acc=0.02)
