"""From per-chunk scores to detection events, as a Pi assistant acts on them."""
from __future__ import annotations

import numpy as np

CHUNK_SECONDS = 0.08


def detection_events(scores: np.ndarray, threshold: float, patience_frames: int = 1,
                     refractory_frames: int = 25) -> np.ndarray:
    """Chunk indices where a detection fires: `patience_frames` consecutive scores >= threshold,
    then nothing for `refractory_frames` chunks (one utterance, one detection). scores: (n_chunks,)."""
    above = scores >= threshold
    events = []
    run = 0
    quiet_until = -1
    for index, is_above in enumerate(above):
        run = run + 1 if is_above else 0
        if index <= quiet_until:
            continue
        if run >= patience_frames:
            events.append(index)
            quiet_until = index + refractory_frames
            run = 0
    return np.asarray(events, dtype=np.int64)


def seconds_to_frames(seconds: float) -> int:
    return int(round(seconds / CHUNK_SECONDS))
