"""Classifier heads on openWakeWord embeddings: (batch, n_frames, 96) float32 -> (batch, 1) logit."""
from __future__ import annotations

import torch
from torch import nn

from puertocho.params import ModelParams


class FullyConnectedHead(nn.Module):
    """openWakeWord's default shape: flatten, then dense layers with layer norm."""

    def __init__(self, n_frames: int, embedding_dim: int, hidden_size: int, n_layers: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = n_frames * embedding_dim
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden_size), nn.LayerNorm(hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.net(windows)


class ConvHead(nn.Module):
    """1D convolutions over the embedding frames (time), then global max pooling."""

    def __init__(self, n_frames: int, embedding_dim: int, hidden_size: int, n_layers: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        channels = embedding_dim
        for _ in range(n_layers):
            layers += [nn.Conv1d(channels, hidden_size, kernel_size=3, padding=1), nn.BatchNorm1d(hidden_size),
                       nn.ReLU(), nn.Dropout(dropout)]
            channels = hidden_size
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        features = self.conv(windows.transpose(1, 2))  # (batch, hidden, n_frames)
        return self.out(features.amax(dim=2))


class GruHead(nn.Module):
    """A small GRU over the frames; the last state decides."""

    def __init__(self, n_frames: int, embedding_dim: int, hidden_size: int, n_layers: int, dropout: float):
        super().__init__()
        self.gru = nn.GRU(embedding_dim, hidden_size, num_layers=n_layers, batch_first=True,
                          dropout=dropout if n_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(windows)
        return self.out(self.dropout(states[:, -1]))


HEADS = {"fc": FullyConnectedHead, "cnn": ConvHead, "gru": GruHead}


def build_head(model: ModelParams) -> nn.Module:
    """The head named by model.head, sized by params."""
    return HEADS[model.head](model.n_frames, model.embedding_dim, model.hidden_size, model.n_layers, model.dropout)


class ProbabilityModel(nn.Module):
    """What ships: the head plus a sigmoid, so the ONNX output is the 0..1 score openWakeWord expects."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(windows))
