"""From per-chunk scores to detection events, as a Pi assistant acts on them."""
from __future__ import annotations

import numpy as np

CHUNK_SECONDS = 0.08


class Debouncer:
    """The Pi's rule, chunk by chunk: fire after `patience_frames` consecutive scores at or above the
    threshold, then stay quiet for `refractory_frames` chunks (one utterance, one detection)."""

    def __init__(self, threshold: float, patience_frames: int = 1, refractory_frames: int = 25) -> None:
        self.threshold = threshold
        self.patience_frames = patience_frames
        self.refractory_frames = refractory_frames
        self.index = -1
        self.run = 0
        self.quiet_until = -1

    def update(self, score: float) -> bool:
        """Feed the next chunk's score; True when a detection fires on this chunk."""
        self.index += 1
        self.run = self.run + 1 if score >= self.threshold else 0
        if self.index <= self.quiet_until or self.run < self.patience_frames:
            return False
        self.quiet_until = self.index + self.refractory_frames
        self.run = 0
        return True


def detection_events(scores: np.ndarray, threshold: float, patience_frames: int = 1,
                     refractory_frames: int = 25) -> np.ndarray:
    """Chunk indices where the Debouncer fires over a whole score sequence (n_chunks,).

    Same rule as Debouncer.update chunk by chunk, but it visits only the chunks at or above the threshold,
    so sweeping many thresholds over hours of scores stays fast."""
    above = np.flatnonzero(np.asarray(scores) >= threshold)
    events, run, previous, quiet_until = [], 0, -2, -1
    for index in above.tolist():
        run = run + 1 if index == previous + 1 else 1
        previous = index
        if index <= quiet_until or run < patience_frames:
            continue
        events.append(index)
        quiet_until = index + refractory_frames
        run = 0
    return np.asarray(events, dtype=np.int64)


def seconds_to_frames(seconds: float) -> int:
    return int(round(seconds / CHUNK_SECONDS))
