"""Vision architectures: shapes for every image size class, input adaptation, errors, and a
short real training run showing mlp and cnn learn digits with their own defaults."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from orderlab.errors import OrderlabError
from orderlab.trainer.models import check_compatible, get_arch

# 8x40: not square (cnn sized its dense layer by the shorter side and failed in training)
SHAPES = [((1, 8, 8), 10), ((1, 28, 28), 10), ((3, 32, 32), 100), ((1, 8, 40), 2)]
VISION = ["mlp", "cnn", "st-vgg", "resnet18", "densenet", "vgg"]


def logits(arch: str, shape, n_classes: int, batch: int = 2, train: bool = False) -> torch.Tensor:
    torch.manual_seed(0)
    model = get_arch(arch).build(shape, n_classes)
    model.train(train)
    with torch.set_grad_enabled(train):
        return model(torch.randn(batch, *shape))


@pytest.mark.parametrize("arch", VISION)
@pytest.mark.parametrize("shape,n_classes", SHAPES)
def test_every_architecture_maps_images_to_logits(arch, shape, n_classes):
    out = logits(arch, shape, n_classes)
    assert out.shape == (2, n_classes) and torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ["cnn", "st-vgg", "resnet18"])
def test_training_mode_forward_and_backward_on_tiny_images(arch):
    out = logits(arch, (1, 8, 8), 10, train=True)
    out.sum().backward()  # gradients flow through the small-image stems and ceil-mode pools


@pytest.mark.parametrize("arch", ["st-vgg", "vgg"])
def test_eval_mode_is_deterministic(arch):
    torch.manual_seed(0)
    model = get_arch(arch).build((3, 32, 32), 10).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_mlp_takes_flat_features_and_conv_nets_refuse_them():
    torch.manual_seed(0)
    assert get_arch("mlp").build((64,), 5)(torch.randn(3, 64)).shape == (3, 5)
    check_compatible(get_arch("mlp"), "features", "npz:x.npz")
    for arch in ["cnn", "st-vgg", "resnet18", "densenet", "vgg", "tv:resnet18"]:
        with pytest.raises(OrderlabError, match="features"):
            check_compatible(get_arch(arch), "features", "npz:x.npz")
    with pytest.raises(OrderlabError, match="--arch mlp"):
        get_arch("cnn").build((64,), 5)


def test_small_image_stems_and_paper_geometry():
    resnet = get_arch("resnet18").build((1, 8, 8), 10)
    assert resnet.conv1.kernel_size == (3, 3) and resnet.conv1.stride == (1, 1) and resnet.conv1.in_channels == 1
    assert isinstance(resnet.maxpool, torch.nn.Identity)
    big = get_arch("resnet18").build((3, 64, 64), 10)
    assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)
    dense = get_arch("densenet").build((3, 32, 32), 10)
    assert dense.features.conv0.kernel_size == (3, 3) and isinstance(dense.features.pool0, torch.nn.Identity)
    # st-VGG sees 32×32 whatever the input size, so its dense layer is the paper's 2·2·256 → 512
    for shape in [(1, 8, 8), (3, 32, 32)]:
        dense_layers = [m for m in get_arch("st-vgg").build(shape, 10).modules() if isinstance(m, torch.nn.Linear)]
        assert [(m.in_features, m.out_features) for m in dense_layers] == [(1024, 512), (512, 10)]


def test_st_vgg_defaults_are_the_papers():
    hp = get_arch("st-vgg").hyperparameters()
    assert (hp["optimizer"], hp["lr"], hp["momentum"], hp["batch_size"], hp["schedule"]) == \
        ("sgd", 0.035, 0.0, 100, "step-vgg")


@pytest.mark.parametrize("name", ["tv:resnet18", "tv:mobilenet_v3_small"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (5, 16, 16)])
def test_torchvision_models_adapt_to_channels_and_size(name, shape):
    spec = get_arch(name)
    assert spec.name == name and spec.inputs == ("image",)
    out = logits(name, shape, 7, batch=2, train=True)   # training mode too (BN needs batch > 1)
    assert out.shape == (2, 7)


def test_torchvision_model_too_big_for_small_images_is_upsampled():
    # AlexNet's pools need more than 32 pixels a side; the adapter finds a size that works.
    model = get_arch("tv:alexnet").build((1, 8, 8), 10).eval()
    assert model.size is not None and model.size[0] > 32
    with torch.no_grad():
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_unknown_architectures_list_valid_names():
    with pytest.raises(OrderlabError) as e:
        get_arch("resnet-18")
    msg = str(e.value)
    assert "\n" not in msg and all(n in msg for n in ["mlp", "cnn", "st-vgg", "resnet18", "densenet", "vgg", "tv:"])
    with pytest.raises(OrderlabError) as e:
        get_arch("tv:resnet19")
    assert "tv:resnet18" in str(e.value) and "\n" not in str(e.value)


def train_on_digits(arch: str, epochs: int, seed: int = 0) -> float:
    """A plain loop with the architecture's own defaults; returns test accuracy."""
    from orderlab.trainer.data import load_dataset

    ds = load_dataset("digits")
    hp = get_arch(arch).hyperparameters()
    torch.manual_seed(seed)
    model = get_arch(arch).build(ds.input_shape, ds.n_classes)
    if hp["optimizer"] == "adam":
        opt = torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                              weight_decay=hp["weight_decay"])
    x, y = torch.as_tensor(ds.x_train), torch.as_tensor(ds.y_train)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=g).split(hp["batch_size"]):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(ds.x_test)).argmax(1).numpy()
    return float(np.mean(pred == ds.y_test))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_mlp_and_cnn_learn_digits_with_their_defaults(arch):
    assert train_on_digits(arch, epochs=3) > 0.85   # chance is 0.1


def test_listing_and_checking_architectures_imports_no_torch():
    """The registry's modules register without torch (the networks live in vision_nets/text_nets):
    a sweep's main process plans and validates in ~1.8 s less, while its workers import torch."""
    import subprocess
    import sys
    code = ("import sys; from orderlab.trainer.models import arch_specs, get_arch, check_compatible; "
            "specs = arch_specs(); spec = get_arch('resnet18'); spec.hyperparameters(); "
            "check_compatible(spec, 'image', 'digits'); print(len(specs), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 10 and out[1] == "False"
