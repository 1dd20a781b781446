"""Grouped layers (trainer/grouped.py): K members of a convolutional network, batch norm and residual
blocks included, as one network K times as wide. GPUs use them; here they run on the CPU in float32,
where each member must compute what the network alone computes, up to the order of float sums."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import module_store_uri, records_by_seed
from torch import nn

from orderlab.store import Store
from orderlab.trainer import ensemble as ensemble_mod
from orderlab.trainer.ensemble import Ensemble
from orderlab.trainer.grouped import grouped_plan
from orderlab.trainer.models import get_arch

store_uri = module_store_uri()


def members(arch, k=3, shape=(1, 8, 8)):
    out = []
    for s in range(k):
        torch.manual_seed(s)
        out.append(get_arch(arch).build(shape, 10))
    return out


def plan_for(models, shape=(1, 8, 8)):
    ens = Ensemble([m for m in models], torch.device("cpu"))
    return grouped_plan(ens.base, ens.k, ens.params, ens.buffers, torch.zeros(shape))[0]


@pytest.mark.parametrize("arch", ["resnet18", "vgg", "st-vgg", "cnn", "mlp"])
def test_convolutional_networks_have_a_checked_plan(arch):
    assert plan_for(members(arch, 2)) is not None


@pytest.mark.parametrize("arch, shape, has_plan", [
    ("tv:resnet18", (1, 8, 8), True),          # one channel repeated for the torchvision model: per member
    ("tv:regnet_y_400mf", (3, 8, 8), True),    # grouped convolutions, squeeze-and-excitation
    ("tv:efficientnet_b0", (3, 8, 8), False),  # stochastic depth: one draw per example for all members
    ("tv:shufflenet_v2_x0_5", (3, 8, 8), False),  # channel shuffle
])
def test_torchvision_models(arch, shape, has_plan):
    assert (plan_for(members(arch, 2, shape), shape) is not None) == has_plan


def test_a_forward_that_concatenates_channels_has_no_plan():
    """DenseNet concatenates feature maps along the channels: on member-major channels that would mix
    members, and the check refuses it (it then runs under vmap)."""
    assert plan_for(members("densenet", 2)) is None


class _Shuffle(nn.Module):
    """A channel shuffle (as in ShuffleNet): reshapes the channels, which the check must catch."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 64, 10)

    def forward(self, x):
        h = self.conv(x)
        b, c, hh, ww = h.shape
        h = h.view(b, 2, c // 2, hh, ww).transpose(1, 2).reshape(b, c, hh, ww)
        return self.fc(h.flatten(1))


class _Unknown(nn.Module):
    def forward(self, x):
        return x


def test_layers_that_mix_members_or_are_unknown_have_no_plan():
    torch.manual_seed(0)
    assert plan_for([_Shuffle(), _Shuffle()]) is None
    torch.manual_seed(0)
    unknown = [nn.Sequential(_Unknown(), nn.Flatten(), nn.Linear(64, 10)) for _ in range(2)]
    assert plan_for(unknown) is None
    # an embedding has no grouped form
    emb = [nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(4, 10)) for _ in range(2)]
    assert plan_for(emb, shape=(1,)) is None


def test_resnet_members_train_as_the_networks_alone(monkeypatch):
    """One training step of 3 ResNet-18s grouped, against each alone: the same logits, gradients and
    updated batch-norm running statistics (float32; the sums run in another order, and batch norm's
    backward over a few values per channel amplifies that to ~1e-3 in some gradients: a member given
    another's weights, statistics or channels would be off by its whole size)."""
    monkeypatch.setattr(ensemble_mod, "grouped_here", lambda device, model: True)
    models = members("resnet18")
    alone = [get_arch("resnet18").build((1, 8, 8), 10) for _ in models]
    for a, m in zip(alone, models):
        a.load_state_dict(m.state_dict())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (3, 16), generator=gen)
    ens = Ensemble(models, torch.device("cpu"))
    logits = ens.forward(x)
    assert ens.implementation == "grouped"
    F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(3, 16).mean(1).sum().backward()
    for k, a in enumerate(alone):
        out = a(x[k])
        F.cross_entropy(out, y[k]).backward()
        assert torch.allclose(logits[k], out, rtol=1e-4, atol=1e-5)
        for name, p in a.named_parameters():
            err = ((ens.params[name].grad[k] - p.grad).norm() / p.grad.norm().clamp_min(1e-12)).item()
            assert err < 1e-2, (name, err)
        member = ens.member_state_dict(k)
        for name, b in a.named_buffers():
            assert torch.allclose(member[name].to(b.dtype), b, rtol=1e-4, atol=1e-6), name
    # evaluation: every member on one shared batch, with its own running statistics
    ens.set_train(False)
    with torch.no_grad():
        shared = ens.forward(x[0], shared=True)
        for k, a in enumerate(alone):
            a.eval()
            assert torch.allclose(shared[k], a(x[0]), rtol=1e-4, atol=1e-5)


def test_grouped_resnet_ensemble_records_each_member_with_its_own_statistics(store_uri, monkeypatch):
    """Through the whole training path: grouped members finish, and each member's saved state, loaded
    into a network alone, gives back the member's recorded predictions."""
    from orderlab.store import STATE_FILENAME
    from orderlab.trainer.api import TrainConfig, train_study
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.loop import load_state
    monkeypatch.setattr(ensemble_mod, "grouped_here", lambda device, model: True)
    seen = []
    real = ensemble_mod.train_vectorised

    def spy(runs, models, data, hp, **kw):
        out = real(runs, models, data, hp, **kw)
        seen.append(kw)
        return out
    monkeypatch.setattr(ensemble_mod, "train_vectorised", spy)
    implementations = []
    real_forward = Ensemble.forward

    def forward(self, x, shared=False):
        out = real_forward(self, x, shared)
        implementations.append(self.implementation)
        return out
    monkeypatch.setattr(Ensemble, "forward", forward)
    cfg = dict(archs=["resnet18"], seeds=[0, 1], dataset="digits", train_subset=64, test_subset=40, epochs=1,
               record_every=1, batch_size=32, device="cpu", quiet=True, tracking_uri=store_uri)
    train_study(TrainConfig(study="grouped", ensemble=2, **cfg))
    assert seen and set(implementations) == {"grouped"}
    store = Store(store_uri)
    together = records_by_seed(store, "grouped")
    ds = load_dataset("digits", train_subset=64, test_subset=40)
    means = []
    for seed, (run, rec) in together.items():
        assert run.status == "FINISHED" and run.params["ensemble"] == "2"
        state = load_state(store.state_file(run.run_id, STATE_FILENAME, "."))
        means.append(state["model"]["bn1.running_mean"])
        model = get_arch("resnet18").build(ds.input_shape, ds.n_classes)
        model.load_state_dict(state["model"])
        model.eval()
        with torch.no_grad():
            pred = model(torch.as_tensor(ds.x_test)).argmax(1).numpy()
        assert (pred == rec.split("test").predicted[-1]).mean() > 0.95
    assert not torch.equal(means[0], means[1])
    assert not np.array_equal(together[0][1].split("test").p_true, together[1][1].split("test").p_true)


def test_step_benchmark_times_each_way_an_architecture_runs(monkeypatch, capsys):
    """benchmarks/ensemble_step.py: st-vgg has grouped and vmap forms and no stacked one; each way it
    times really ran that way (the line names it only then)."""
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    monkeypatch.setattr(ensemble_mod, "grouped_here", ensemble_mod.grouped_here)   # the benchmark patches it
    import ensemble_step
    ensemble_step.main(["--device", "cpu", "--archs", "st-vgg", "--k", "2", "--batch", "4", "--side", "8",
                        "--steps", "1", "--repeats", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    assert "st-vgg: stacked: no plan for it" in out
    assert out[-1].startswith("networks per second, K=2 together / alone")
    assert "st-vgg grouped" in out[-1] and "st-vgg vmap" in out[-1] and "stacked" not in out[-1]


class _DropPath(nn.Module):
    """A residual block with stochastic depth written into its forward (as timm's drop_path is): one
    draw per example, which grouped members would share."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.bn = nn.BatchNorm2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        h = self.bn(self.conv(x))
        if self.training:
            h = h * (torch.rand(h.shape[0], 1, 1, 1, device=h.device) > 0.5)
        return self.fc((x + h).flatten(1))


def test_random_draws_shared_by_members_are_refused():
    torch.manual_seed(0)
    ens = Ensemble([_DropPath(), _DropPath()], torch.device("cpu"))
    state = torch.get_rng_state()
    plan, why = grouped_plan(ens.base, 2, ens.params, ens.buffers, torch.zeros(1, 8, 8))
    assert plan is None and "share their random draws" in why
    assert torch.equal(torch.get_rng_state(), state)          # the check leaves the training's RNG alone
    # dropout draws per element: each member its own mask, so st-vgg keeps its plan (above)


def test_deep_networks_pass_the_check():
    """The check's perturbations scale with each tensor's spread: a 152-layer network stays finite."""
    assert plan_for(members("tv:resnet152", 2, (3, 32, 32)), (3, 32, 32)) is not None


def test_a_full_device_is_not_taken_for_a_network_without_grouped_form():
    class Full(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            if x.shape[1] > 1:            # the members side by side: the device is full
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")
            return self.fc(x.flatten(1))
    ens = Ensemble([Full(), Full(), Full()], torch.device("cpu"))
    with pytest.raises(torch.cuda.OutOfMemoryError):
        grouped_plan(ens.base, 3, ens.params, ens.buffers, torch.zeros(1, 8, 8))


def test_the_fallback_says_why_there_is_no_grouped_form(monkeypatch):
    from orderlab.trainer.data import load_dataset
    from orderlab.trainer.ensemble import unsupported_reason
    from orderlab.trainer.loop import DeviceData
    from orderlab.trainer.models import ArchSpec

    class Reads(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.lin = nn.Linear(64, 10)

        def forward(self, x):
            return self.lin(x.flatten(1)) * self.scale * (2.0 if x.sum().item() > 0 else 1.0)

    monkeypatch.setattr(ensemble_mod, "grouped_here", lambda device, model: True)
    ds = load_dataset("digits", train_subset=20, test_subset=20)
    spec = ArchSpec("reads", "test", lambda shape, n, **kw: Reads())
    why = unsupported_reason(spec, ds, DeviceData(ds, torch.device("cpu")), spec.hyperparameters())
    assert why.startswith("it has no grouped form (its forward uses tensors of its own) and torch.func.vmap cannot "
                          "run it"), why
