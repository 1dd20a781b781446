"""Vision architectures (and the MLP), adapted to the dataset's channels, image size and classes.

Every builder takes ``(input_shape, n_classes, **info)`` and returns an ``nn.Module`` mapping a
float batch ``[B, *input_shape]`` to logits ``[B, n_classes]``; ``info`` (e.g. ``vocab_size``)
is for text models and ignored here.

Adapting to image size (8×8 digits up to ImageNet sizes):

* Images of at most 32×32 get the usual small-image stem in ``resnet18``, ``densenet`` and
  ``vgg``: a 3×3 stride-1 first convolution and no initial max-pool (as in CIFAR ResNets), so
  an 8×8 digit is not reduced to 2×2 by the stem alone.
* st-VGG was designed for 32×32 images (its four pools leave a 2×2 map); smaller images are
  upsampled (bilinear) to 32×32 inside the module, so it is exactly the paper's network on
  digits and MNIST too. (Skipping pools instead learns digits about as well, but changes the
  network.) Larger images keep their size; the dense layer's input grows with them.
* Other pooling stages use ``ceil_mode=True``, so a 1×1 map stays 1×1 instead of vanishing:
  VGG-16's five pools take 8×8 to 4→2→1→1→1, DenseNet's transitions likewise. Heads use
  adaptive average pooling or a flat size computed from the input.
* ``tv:NAME`` models that need a larger input than given (AlexNet, Inception-v3, ViT, …)
  upsample inside the module to the smallest size that works (found once per model by trial).

Evaluation is deterministic in ``model.eval()``: dropout is off and batch norm uses running
statistics. ``mlp`` and ``cnn`` have neither (no buffers: they learn within a few steps, evaluate
well at once, and vectorise over an ensemble without batch-norm state).
"""
from __future__ import annotations

from orderlab.trainer.models import register_arch


def _nets():
    """The networks' module (torch), imported when a network is built: listing, validating and
    planning architectures stay free of torch (~1.8 s to import)."""
    from orderlab.trainer.models import vision_nets
    return vision_nets


@register_arch("mlp", "multilayer perceptron: flatten → 256 → 256 (ReLU) → classes; images or features",
               inputs=("image", "features"), optimizer="adam", lr=3e-3, weight_decay=1e-4, batch_size=32)
def build_mlp(input_shape, n_classes, **info):
    return _nets().build_mlp(input_shape, n_classes, **info)


@register_arch("cnn", "small LeNet-like conv net: 3×3 convs 32-64 (ReLU, max-pool) → dense 128 → classes",
               inputs=("image",), optimizer="adam", lr=3e-3, weight_decay=1e-4, batch_size=32)
def build_cnn(input_shape, n_classes, **info):
    return _nets().build_cnn(input_shape, n_classes, **info)


# Keras' l2(5e-3) penalty on the loss is 5e-3·Σw², i.e. an SGD weight decay of 1e-2 on the weights.
@register_arch("st-vgg", "small VGG of the paper (Hacohen & Weinshall): 32-32/64-64/128-128/256-256 ELU, "
               "dropout, dense 512; plain SGD lr .035, ×1/1.5 every 300 batches",
               inputs=("image",), optimizer="sgd", lr=0.035, momentum=0.0, weight_decay=1e-2,
               batch_size=100, schedule="step-vgg")
def build_st_vgg(input_shape, n_classes, **info):
    return _nets().build_st_vgg(input_shape, n_classes, **info)


@register_arch("resnet18", "ResNet-18 (torchvision); 3×3 stride-1 stem, no max-pool for images ≤ 32×32",
               inputs=("image",), lr=0.05, batch_size=128)
def build_resnet18(input_shape, n_classes, **info):
    return _nets().build_resnet18(input_shape, n_classes, **info)


# Batch 128, not 64: on digits (1,347 = 21·64 + 3) a last batch of 3 wrecks batch-norm statistics;
# measured on an H100, 4 seeds × 5 epochs: lr .05 batch 128 reaches 0.98-0.99, batch 64 0.3-0.9.
@register_arch("densenet", "DenseNet-121 (torchvision); 3×3 stride-1 stem, no max-pool for images ≤ 32×32",
               inputs=("image",), lr=0.05, batch_size=128)
def build_densenet(input_shape, n_classes, **info):
    return _nets().build_densenet(input_shape, n_classes, **info)


@register_arch("vgg", "VGG-16 with batch norm (torchvision); ceil-mode pools; 512→512→classes head for ≤ 32×32",
               inputs=("image",), lr=0.02, batch_size=128)
def build_vgg(input_shape, n_classes, **info):
    return _nets().build_vgg(input_shape, n_classes, **info)
