"""Training examples: splits grouped by voice and text, and 2 s clips built the way the runtime will hear them."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from puertocho import audio
from puertocho.augment import align_direct_path, augment_batch, place_at_end, random_crop, speed_perturb
from puertocho.features import FrontEnd, clip_samples_for
from puertocho.real_speech import speaker_of
from puertocho.sources import ClipRecord

log = logging.getLogger(__name__)


def assign_splits(records: list[ClipRecord], validation_fraction: float, seed: int) -> list[str]:
    """'test' for held-out voices, else 'train' or 'validation', so that no (voice, text) pair of a kind, and no
    real speaker ("cv:<id>"), sits on both sides; the share is drawn by hashing the group with the seed."""
    splits = []
    for record in records:
        if record.holdout:
            splits.append("test")
            continue
        speaker = speaker_of(record)  # a real person: all of their clips, of every kind, on one side
        group = (f"{seed}|speaker|{speaker}" if speaker else f"{seed}|{record.kind}|{record.voice}|{record.text}").encode()
        draw = int.from_bytes(hashlib.sha256(group).digest()[:8], "big") / 2**64
        splits.append("validation" if draw < validation_fraction else "train")
    return splits


def load_clips(folder: Path, records: list[ClipRecord]) -> list[np.ndarray]:
    """Read each manifest clip with the strict reader (16 kHz mono 16-bit), naming any bad file."""
    return [audio.read_clip(folder / r.path) for r in tqdm(records, desc=f"reading {folder}", unit="clip",
                                                          mininterval=2)]


def load_rirs(folder: str) -> list[np.ndarray]:
    """Measured room impulse responses from a folder (any format and rate), direct path first; [] for ""."""
    if not folder:
        return []
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg"))
    if not paths:
        raise FileNotFoundError(f"augment.rir_dir: no WAV/FLAC/OGG impulse responses in '{folder}'")
    return [align_direct_path(audio.read_any(p)) for p in paths]


def build_windows(front_end: FrontEnd, clips: list[np.ndarray], placement: str, backgrounds: list[np.ndarray],
                  augment, n_frames: int, seed: int, batch_size: int = 256, desc: str = "",
                  measured_rirs: list[np.ndarray] | None = None) -> np.ndarray:
    """Features (n_clips * copies, n_frames, 96) for clips put in 2 s of augmented background.

    placement 'end': the clip ends end_offset_range seconds before the window closes (wake phrases,
    confusables: where the runtime decides); 'crop': a random 2 s piece (speech, noise)."""
    total = clip_samples_for(n_frames)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    jobs = [clip for clip in clips for _ in range(augment.copies_per_clip)]
    out = np.empty((len(jobs), n_frames, 96), dtype=np.float32)
    for first in tqdm(range(0, len(jobs), batch_size), desc=desc or "features", unit="batch", mininterval=2):
        batch = jobs[first:first + batch_size]
        if placement == "end":
            offsets = rng.uniform(*augment.end_offset_range, size=len(batch)) * audio.SAMPLE_RATE
            speeds = rng.uniform(*augment.speed_range, size=len(batch))
            clean = np.stack([place_at_end(speed_perturb(c, s), total, int(o))[0]
                              for c, s, o in zip(batch, speeds, offsets)])
        else:
            clean = np.stack([random_crop(c, total, rng) for c in batch])
        noise = np.stack([random_crop(backgrounds[rng.integers(len(backgrounds))], total, rng) for _ in batch])
        noisy = augment_batch(clean, noise, augment, generator, device, measured_rirs)
        out[first:first + len(batch)] = front_end.clip_windows(audio.to_int16(noisy), n_frames)
    return out
