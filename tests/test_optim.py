"""orderlab's optimisers (trainer/optim.py) are torch's, bit for bit, without importing torch._dynamo."""
from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from orderlab.trainer import optim

CASES = {
    "sgd nesterov": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    "sgd plain": (optim.SGD, torch.optim.SGD, dict(lr=0.05)),
    "adamw": (optim.AdamW, torch.optim.AdamW, dict(lr=3e-3, weight_decay=1e-4)),
    "adamw fused": (optim.AdamW, torch.optim.AdamW, dict(lr=3e-3, weight_decay=1e-4, fused=True)),
}


def _train(cls, kwargs, steps: int = 12, state: dict | None = None):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = cls(model.parameters(), **kwargs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.9 ** s)
    if state is not None:
        opt.load_state_dict(state)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    return model, opt


def _same_state(a: dict, b: dict) -> None:
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        for name, v in a["state"][k].items():
            w = b["state"][k][name]
            assert torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w, (k, name)


@pytest.mark.parametrize("case", CASES)
def test_parameters_and_state_are_torchs_bit_for_bit(case):
    ours, theirs, kwargs = CASES[case]
    assert ours is not theirs and issubclass(ours, theirs) and ours.__name__ == theirs.__name__
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # e.g. LambdaLR's "lr_scheduler.step() before optimizer.step()"
        m1, o1 = _train(ours, kwargs)
    m2, o2 = _train(theirs, kwargs)
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)
    _same_state(o1.state_dict(), o2.state_dict())
    # state dicts load either way (checkpoints written before these classes resume with them)
    _, a = _train(ours, kwargs, state=o2.state_dict())
    _, b = _train(theirs, kwargs, state=o1.state_dict())
    _same_state(a.state_dict(), b.state_dict())


def test_step_keeps_hooks_and_grad_mode():
    model = torch.nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", torch.is_grad_enabled())))
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", torch.is_grad_enabled())))

    def closure():
        seen.append(("closure", torch.is_grad_enabled()))
        opt.zero_grad()
        loss = model(torch.ones(1, 4)).sum()
        loss.backward()
        return loss

    assert opt.step(closure) is not None
    with torch.no_grad():
        opt.step(closure)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    # torch's step runs with autograd off and turns it on for the closure only
    assert seen == [("pre", True), ("closure", True), ("post", True),
                    ("pre", False), ("closure", True), ("post", False)]


def test_differentiable_step_keeps_autograd_on_like_torchs():
    """differentiable=True: the step itself is recorded by autograd (torch turns grad mode on for it)."""
    def run(cls):
        p = torch.nn.Parameter(torch.linspace(-1, 1, 5))
        q = p.clone()                       # a non-leaf: its update is part of the graph
        q.grad = p * 2                      # a gradient that depends on p as well
        cls([q], lr=0.1, momentum=0.9, differentiable=True).step()
        return q.detach(), type(q.grad_fn).__name__, torch.autograd.grad((q ** 2).sum(), p)[0]

    (q1, f1, g1), (q2, f2, g2) = run(optim.SGD), run(torch.optim.SGD)
    assert f1 == f2 != "CloneBackward0"     # the step is in the graph
    assert torch.equal(q1, q2) and torch.equal(g1, g2)


def test_unwraps_a_class_torch_has_already_hooked():
    """Once instantiated, torch's class carries the step-hook wrapper over its guard; the class built
    from it then strips both, gets the hook back once, and computes the same."""
    torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert getattr(torch.optim.SGD.step, "hooked", False)
    cls = optim._without_dynamo(torch.optim.SGD)
    assert cls is not torch.optim.SGD
    calls = []
    handle = register_optimizer_step_post_hook(lambda o, a, k: calls.append(type(o)))
    try:
        kwargs = dict(lr=0.05, momentum=0.9, nesterov=True)
        m1, _ = _train(cls, kwargs, steps=3)
        m2, _ = _train(torch.optim.SGD, kwargs, steps=3)
    finally:
        handle.remove()
    assert calls == [cls] * 3 + [torch.optim.SGD] * 3
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))


def test_an_optimiser_wrapped_in_something_else_is_left_as_it_is():
    def logged(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            return f(*args, **kwargs)
        return wrapper

    class Custom(torch.optim.SGD):
        step = logged(torch.optim.SGD.step)

    assert optim._without_dynamo(Custom) is Custom

    class Patched(torch.optim.SGD):     # a replacement without functools.wraps
        def zero_grad(self, set_to_none: bool = True) -> None:
            return None

    assert optim._without_dynamo(Patched) is Patched
    assert optim._without_dynamo(torch.optim.SGD) is not torch.optim.SGD


def test_training_does_not_import_torch_dynamo(tmp_path):
    """~1 s of every training process's start-up (each sweep worker's): a fresh interpreter trains
    an mlp alone with AdamW and with SGD and a cnn ensemble, and never imports it."""
    code = textwrap.dedent(f"""
        import sys
        from orderlab.trainer.api import TrainConfig, train_study
        for arch, k, opt in (("mlp", 1, "adam"), ("mlp", 1, "sgd"), ("cnn", 2, "adam")):
            cfg = TrainConfig(study=f"s-{{arch}}-{{opt}}", archs=[arch], seeds=[0, 1], dataset="digits",
                              epochs=1, optimizer=opt, train_subset=128, test_subset=64, device="cpu",
                              ensemble=k, quiet=True,
                              tracking_uri="sqlite:///{tmp_path}/mlflow.db")
            assert len(train_study(cfg)) == 2
        print("torch._dynamo" in sys.modules, "torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["False", "True"]
