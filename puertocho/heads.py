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


class ConvAttentionHead(nn.Module):
    """Convolutions over the frames, then self-attention across them, then attention pooling (livekit-wakeword's
    idea): the convolutions see a syllable's neighbourhood, the attention relates "Puer-" to "-cho" wherever they
    fall, and a learned positional embedding keeps their order. Attention is written with plain matmul and softmax
    so the TorchScript exporter maps it to ONNX opset 13 without the fused operators newer opsets need."""

    def __init__(self, n_frames: int, embedding_dim: int, hidden_size: int, n_layers: int, dropout: float,
                 attention_heads: int = 4):
        super().__init__()
        if hidden_size % attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of attention_heads {attention_heads}")
        layers: list[nn.Module] = []
        channels = embedding_dim
        for _ in range(n_layers):
            layers += [nn.Conv1d(channels, hidden_size, kernel_size=3, padding=1), nn.BatchNorm1d(hidden_size),
                       nn.ReLU(), nn.Dropout(dropout)]
            channels = hidden_size
        self.conv = nn.Sequential(*layers)
        self.position = nn.Parameter(torch.zeros(1, n_frames, hidden_size))
        nn.init.normal_(self.position, std=0.02)
        self.attention_heads = attention_heads
        self.attention_norm = nn.LayerNorm(hidden_size)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.attention_out = nn.Linear(hidden_size, hidden_size)
        self.feedforward_norm = nn.LayerNorm(hidden_size)
        self.feedforward = nn.Sequential(nn.Linear(hidden_size, 2 * hidden_size), nn.ReLU(), nn.Dropout(dropout),
                                         nn.Linear(2 * hidden_size, hidden_size))
        self.dropout = nn.Dropout(dropout)
        self.pool_score = nn.Linear(hidden_size, 1)
        self.out = nn.Linear(hidden_size, 1)

    def self_attention(self, frames: torch.Tensor) -> torch.Tensor:
        """Multi-head scaled dot-product attention over frames (batch, n_frames, hidden) -> same shape."""
        batch, n_frames, hidden = frames.shape
        head_dim = hidden // self.attention_heads
        query, key, value = (t.reshape(batch, n_frames, self.attention_heads, head_dim).transpose(1, 2)
                             for t in self.qkv(frames).chunk(3, dim=-1))  # each (batch, heads, n_frames, head_dim)
        weights = torch.softmax(query @ key.transpose(2, 3) * head_dim ** -0.5, dim=-1)
        mixed = (weights @ value).transpose(1, 2).reshape(batch, n_frames, hidden)
        return self.attention_out(mixed)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        frames = self.conv(windows.transpose(1, 2)).transpose(1, 2) + self.position  # (batch, n_frames, hidden)
        frames = frames + self.dropout(self.self_attention(self.attention_norm(frames)))
        frames = frames + self.dropout(self.feedforward(self.feedforward_norm(frames)))
        pool = torch.softmax(self.pool_score(frames), dim=1)  # (batch, n_frames, 1): which frames decide
        return self.out((pool * frames).sum(dim=1))


class EnsembleHead(nn.Module):
    """Several heads of one kind, trained side by side on the same batches from their own random starts; the
    output is the mean of their logits. Each member makes its own mistakes where the data says little (a
    single run's seed moved the held-out miss rate by 5.5 points), and a window fires only where most of them
    agree. Exported as one ONNX graph with openWakeWord's contract: [batch, frames, 96] -> [batch, 1]."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def member_logits(self, windows: torch.Tensor) -> torch.Tensor:
        """(batch, n_members) logits, one column per member: what training puts a loss on."""
        return torch.cat([member(windows) for member in self.members], dim=1)

    def clip_member_gradients(self, max_norm: float) -> None:
        for member in self.members:
            nn.utils.clip_grad_norm_(member.parameters(), max_norm)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.member_logits(windows).mean(dim=1, keepdim=True)


class ConvEnsembleHead(nn.Module):
    """n_members ConvHeads computed as one network, for speed: on a CPU at batch 8 a step is mostly overhead, so
    three heads as a list cost 2.6 times one head's step, and as one grouped network 1.4 times. The first
    convolution's output channels are the members' channels side by side (they share the input), every later
    convolution is grouped by member, batch norm is per channel anyway, and the output layer is a grouped 1x1
    convolution. Member i owns the i-th n_members-th slice of every parameter along its first axis, which is
    what `member_state_dict` reads and `clip_member_gradients` clips by."""

    def __init__(self, n_frames: int, embedding_dim: int, hidden_size: int, n_layers: int, dropout: float,
                 n_members: int):
        super().__init__()
        self.n_members, self.hidden_size = n_members, hidden_size
        width = n_members * hidden_size
        layers: list[nn.Module] = []
        for layer in range(n_layers):
            layers += [nn.Conv1d(embedding_dim if layer == 0 else width, width, kernel_size=3, padding=1,
                                 groups=1 if layer == 0 else n_members),
                       nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)]
        self.conv = nn.Sequential(*layers)
        self.out = nn.Conv1d(width, n_members, kernel_size=1, groups=n_members)

    def member_logits(self, windows: torch.Tensor) -> torch.Tensor:
        features = self.conv(windows.transpose(1, 2)).amax(dim=2, keepdim=True)  # (batch, members * hidden, 1)
        return self.out(features).squeeze(-1)                                      # (batch, members)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.member_logits(windows).mean(dim=1, keepdim=True)

    def member_state_dict(self, index: int) -> dict:
        """Member `index` as the state dict of a lone ConvHead of the same sizes (for inspection and tests)."""
        single = {}
        for name, value in self.state_dict().items():
            if value.dim() == 0:          # batch norm's step counter
                single[name] = value.clone()
                continue
            part = value.shape[0] // self.n_members
            single[name] = value[index * part:(index + 1) * part].clone()
        single["out.weight"] = single["out.weight"].reshape(1, self.hidden_size)
        return single

    def clip_member_gradients(self, max_norm: float) -> None:
        """torch's clip_grad_norm_ applied to each member's slices alone (same formula, same epsilon)."""
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        parts = [g.view(self.n_members, -1) for g in grads]               # (members, slice) per parameter, views
        norms = torch.stack([part.norm(dim=1) for part in parts]).norm(dim=0)   # (members,)
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for part in parts:
            part.mul_(scale[:, None])   # a view of its gradient: scales it in place


HEADS = {"fc": FullyConnectedHead, "cnn": ConvHead, "gru": GruHead, "convattn": ConvAttentionHead}


def build_one_head(model: ModelParams) -> nn.Module:
    """One head of the kind model.head names, sized by params."""
    sizes = (model.n_frames, model.embedding_dim, model.hidden_size, model.n_layers, model.dropout)
    if model.head == "convattn":
        return ConvAttentionHead(*sizes, attention_heads=model.attention_heads)
    return HEADS[model.head](*sizes)


def build_head(model: ModelParams) -> nn.Module:
    """The head params describe: one head, or an ensemble of model.ensemble_size of them, each from its own random
    start (cnn: one grouped network; the others: a list of heads built one after the other). ensemble_size 1
    builds exactly the single head, with the same initial weights as before ensembles existed."""
    if model.ensemble_size == 1:
        return build_one_head(model)
    if model.head == "cnn":
        return ConvEnsembleHead(model.n_frames, model.embedding_dim, model.hidden_size, model.n_layers,
                                model.dropout, model.ensemble_size)
    return EnsembleHead([build_one_head(model) for _ in range(model.ensemble_size)])


def member_logits(model: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """(batch, n_members) logits: an ensemble's members apart, or a single head's one column."""
    if hasattr(model, "member_logits"):
        return model.member_logits(windows)
    return model(windows)


def clip_member_gradients(model: nn.Module, max_norm: float) -> None:
    """Gradient clipping member by member (the whole model for a single head), so a member trains as alone."""
    if hasattr(model, "clip_member_gradients"):
        model.clip_member_gradients(max_norm)
    else:
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)


class ProbabilityModel(nn.Module):
    """What ships: the head plus a sigmoid, so the ONNX output is the 0..1 score openWakeWord expects."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(windows))
