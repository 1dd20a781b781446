"""Stacked layers (trainer/stacked.py): K members of mlp or cnn computed as batched products and
grouped convolutions must give each member what its own network gives, forward and backward."""
import copy

import pytest
import torch
import torch.nn.functional as F

from orderlab.trainer.ensemble import Ensemble
from orderlab.trainer.models import get_arch
from orderlab.trainer.stacked import stacked_plan

SHAPE = (1, 8, 8)


def members(arch, k=3, shape=SHAPE):
    out = []
    for s in range(k):
        torch.manual_seed(s)
        out.append(get_arch(arch).build(shape, 10))
    return out


@pytest.mark.parametrize("arch,expected", [("mlp", "stacked"), ("cnn", "stacked"), ("st-vgg", "grouped"),
                                           ("resnet18", "vmap")])
def test_how_each_network_runs_on_the_cpu(arch, expected):
    """Plain sequential networks run stacked; other convolutional networks grouped, except, on the CPU,
    those with batch norm (oneDNN's wide grouped convolutions are slow: trainer/ensemble.grouped_here)."""
    ens = Ensemble(members(arch, 2), torch.device("cpu"))
    ens.forward(torch.randn(2, 4, *SHAPE))
    assert ens.implementation == expected


def test_no_plan_without_the_declaration_or_for_unknown_layers():
    class Undeclared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))

        def forward(self, x):
            return self.net(x) * 2          # not just self.net: must not be planned

    class WithNorm(torch.nn.Module):
        stacked_body = "net"

        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                           torch.nn.Linear(144, 10))

        def forward(self, x):
            return self.net(x)

    assert stacked_plan(Undeclared(), 3) is None
    assert stacked_plan(WithNorm(), 3) is None
    assert stacked_plan(members("cnn", 1)[0], 1) is None          # convolutions need images
    assert stacked_plan(members("mlp", 1)[0], 3) is not None


@pytest.mark.parametrize("arch,shape", [("mlp", SHAPE), ("cnn", SHAPE), ("cnn", (1, 8, 40))])
def test_members_get_their_own_outputs_and_gradients(arch, shape):
    models = members(arch, shape=shape)
    alone = copy.deepcopy(models)
    ens = Ensemble(models, torch.device("cpu"))
    x = torch.randn(3, 5, *shape)
    y = torch.randint(0, 10, (3, 5))
    logits = ens.forward(x)
    F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(3, 5).mean(1).sum().backward()
    exact = arch == "mlp"          # batched products: the same arithmetic; grouped convolutions: rounding
    for k, m in enumerate(alone):
        out = m(x[k])
        F.cross_entropy(out, y[k]).backward()
        check = torch.equal if exact else (lambda a, b: torch.allclose(a, b, atol=1e-6))
        assert check(logits[k], out)
        for name, p in m.named_parameters():
            assert check(ens.params[name].grad[k], p.grad), name


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_evaluation_on_one_shared_batch(arch):
    models = members(arch)
    ens = Ensemble(copy.deepcopy(models), torch.device("cpu"))
    x = torch.randn(7, *SHAPE)
    with torch.no_grad():
        got = ens.forward(x, shared=True)
        for k, m in enumerate(models):
            want = m(x)
            if arch == "mlp":                # evaluated member by member: each its own network's numbers
                assert torch.equal(got[k], want)
            else:
                assert torch.allclose(got[k], want, atol=1e-6)


def test_features_mlp_runs_stacked():
    """``mlp`` on flat features (no image dimensions)."""
    models = members("mlp", 2, shape=(20,))
    ens = Ensemble(copy.deepcopy(models), torch.device("cpu"))
    x = torch.randn(2, 6, 20)
    out = ens.forward(x)
    assert ens.implementation == "stacked"
    for k, m in enumerate(models):
        assert torch.equal(out[k], m(x[k]))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_mixed_precision_trains_stacked(arch):
    """Under bf16 autocast (what --device cuda uses; here the CPU's autocast) the stacked layers'
    backward gives float32 gradients close to the members' own."""
    models = members(arch, 2)
    alone = copy.deepcopy(models)
    ens = Ensemble(models, torch.device("cpu"))
    x, y = torch.randn(2, 6, *SHAPE), torch.randint(0, 10, (2, 6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = ens.forward(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none").view(2, 6).mean(1)
    loss.sum().backward()
    for k, m in enumerate(alone):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            F.cross_entropy(m(x[k]).float(), y[k]).backward()
        for name, p in m.named_parameters():
            g = ens.params[name].grad[k]
            assert g.dtype == torch.float32 and torch.isfinite(g).all()
            assert torch.allclose(g, p.grad, atol=0.05 * p.grad.abs().max().item() + 1e-3), name
