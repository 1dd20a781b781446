"""Text classifiers over token ids (``x`` int64 [B, L], 0 = padding; see trainer/data/text.py).

* ``text-bag``: fastText-like: the mean of the word embeddings (padding excluded), then a linear
  layer. Joulin et al. 2017 also hash bigrams; unigrams keep it the simplest strong baseline.
* ``text-cnn``: Kim (2014)-style 1-D convolutions of widths 3, 4 and 5 over the embedded text,
  max-pooled over time, dropout, then a linear layer.
"""
from __future__ import annotations

from orderlab.trainer.models import register_arch

TEXT_DEFAULTS = dict(optimizer="adam", lr=2e-3, weight_decay=0.0, batch_size=64, epochs=10, schedule="cosine")


def _nets():
    """The networks' module (torch), imported when a network is built: listing, validating and
    planning architectures stay free of torch (~1.8 s to import)."""
    from orderlab.trainer.models import text_nets
    return text_nets


@register_arch("text-bag", "fastText-like bag of embeddings (mean) + linear", inputs=("text",), **TEXT_DEFAULTS)
def build_text_bag(input_shape, n_classes, **info):
    return _nets().build_text_bag(input_shape, n_classes, **info)


@register_arch("text-cnn", "1-D CNN over word embeddings (widths 3/4/5, max-pool over time)", inputs=("text",),
               **TEXT_DEFAULTS)
def build_text_cnn(input_shape, n_classes, **info):
    return _nets().build_text_cnn(input_shape, n_classes, **info)
