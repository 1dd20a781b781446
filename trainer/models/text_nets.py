"""The text networks of :mod:`orderlab.trainer.models.text`, where they are registered and described."""
from __future__ import annotations

import torch
from torch import nn

from orderlab.errors import OrderlabError


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


def build_text_bag(input_shape, n_classes, **info):
    return TextBag(_vocab(info), n_classes)


def build_text_cnn(input_shape, n_classes, **info):
    return TextCNN(_vocab(info), n_classes)
