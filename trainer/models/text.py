"""Text classifiers over token ids (``x`` int64 [B, L], 0 = padding; see trainer/data/text.py).

* ``text-bag``: fastText-like: the mean of the word embeddings (padding excluded), then a linear
  layer. Joulin et al. 2017 also hash bigrams; unigrams keep it the simplest strong baseline.
* ``text-cnn``: Kim (2014)-style 1-D convolutions of widths 3, 4 and 5 over the embedded text,
  max-pooled over time, dropout, then a linear layer.
"""
from __future__ import annotations

import torch
from torch import nn

from orderlab.errors import OrderlabError
from orderlab.trainer.models import register_arch

TEXT_DEFAULTS = dict(optimizer="adam", lr=2e-3, weight_decay=0.0, batch_size=64, epochs=10, schedule="cosine")


def _vocab(info: dict) -> int:
    v = int(info.get("vocab_size") or 0)
    if v < 2:
        raise OrderlabError("text architectures need a text dataset (with a vocabulary); pick --dataset "
                            "ag-news, docstrings or text-csv:PATH")
    return v


class TextBag(nn.Module):
    def __init__(self, vocab_size: int, n_classes: int, dim: int = 64):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        self.fc = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


class TextCNN(nn.Module):
    def __init__(self, vocab_size: int, n_classes: int, dim: int = 64, channels: int = 64,
                 widths: tuple[int, ...] = (3, 4, 5), dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, w, padding=w - 1) for w in widths)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(channels * len(widths), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x).transpose(1, 2)                       # [B, dim, L]
        pooled = [torch.relu(c(h)).amax(dim=2) for c in self.convs]
        return self.fc(self.drop(torch.cat(pooled, dim=1)))


@register_arch("text-bag", "fastText-like bag of embeddings (mean) + linear", inputs=("text",), **TEXT_DEFAULTS)
def build_text_bag(input_shape, n_classes, **info):
    return TextBag(_vocab(info), n_classes)


@register_arch("text-cnn", "1-D CNN over word embeddings (widths 3/4/5, max-pool over time)", inputs=("text",),
               **TEXT_DEFAULTS)
def build_text_cnn(input_shape, n_classes, **info):
    return TextCNN(_vocab(info), n_classes)
