"""Wake-word metrics: false accepts per hour, false rejects, detections per utterance, threshold sweep."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from puertocho.detect import CHUNK_SECONDS, detection_events


@dataclass(frozen=True)
class Utterance:
    """Where a positive sits in a test stream, in chunk indices (end is the chunk where it ends)."""
    start: int
    end: int


def count_per_utterance(events: np.ndarray, utterances: list[Utterance], tolerance_frames: int) -> np.ndarray:
    """Detections falling inside each utterance, from its start to tolerance_frames after its end."""
    return np.array([np.count_nonzero((events >= u.start) & (events <= u.end + tolerance_frames))
                     for u in utterances], dtype=np.int64)


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    false_accepts_per_hour: float
    false_accepts: int
    false_reject_rate: float
    detections_per_utterance: float
    multi_detections_per_utterance: float   # share of utterances detected more than once
    mean_latency_seconds: float


def operating_point(threshold: float, negative_scores: np.ndarray, positive_scores: np.ndarray,
                    utterances: list[Utterance], patience_frames: int, refractory_frames: int,
                    tolerance_frames: int) -> OperatingPoint:
    """Both error rates at one threshold. Scores are per 80 ms chunk of the negative and positive streams."""
    negative_events = detection_events(negative_scores, threshold, patience_frames, refractory_frames)
    hours = len(negative_scores) * CHUNK_SECONDS / 3600
    positive_events = detection_events(positive_scores, threshold, patience_frames, refractory_frames)
    per_utterance = count_per_utterance(positive_events, utterances, tolerance_frames)
    latencies = []
    for utterance, count in zip(utterances, per_utterance):
        if count:
            first = positive_events[(positive_events >= utterance.start)][0]
            latencies.append((first - utterance.end) * CHUNK_SECONDS)
    return OperatingPoint(
        threshold=float(threshold),
        false_accepts_per_hour=float(len(negative_events) / hours) if hours else float("nan"),
        false_accepts=int(len(negative_events)),
        false_reject_rate=float(np.mean(per_utterance == 0)) if len(utterances) else float("nan"),
        detections_per_utterance=float(per_utterance.mean()) if len(utterances) else float("nan"),
        multi_detections_per_utterance=float(np.mean(per_utterance > 1)) if len(utterances) else float("nan"),
        mean_latency_seconds=float(np.mean(latencies)) if latencies else float("nan"),
    )


def choose_threshold(points: list[OperatingPoint], target_false_accepts_per_hour: float) -> OperatingPoint:
    """Lowest false-reject rate among thresholds meeting the false-accept target; when several thresholds
    tie, the middle one, which keeps a margin on both sides for voices and rooms the test did not have.
    If no threshold meets the target, the one with the fewest false accepts (ties: fewer rejects)."""
    meeting = [p for p in points if p.false_accepts_per_hour <= target_false_accepts_per_hour]
    if not meeting:
        return min(points, key=lambda p: (p.false_accepts_per_hour, p.false_reject_rate))
    best_rate = min(p.false_reject_rate for p in meeting)
    tied = sorted((p for p in meeting if p.false_reject_rate == best_rate), key=lambda p: p.threshold)
    return tied[(len(tied) - 1) // 2]


def classification_scores(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Window-level accuracy, precision, recall and F1 at a threshold. labels, probabilities: (n,)."""
    predicted = probabilities >= threshold
    positive = labels >= 0.5
    true_pos = np.count_nonzero(predicted & positive)
    false_pos = np.count_nonzero(predicted & ~positive)
    false_neg = np.count_nonzero(~predicted & positive)
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float(np.mean(predicted == positive)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}


def poisson_upper_per_hour(count: int, hours: float, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a rate from `count` events in `hours` (exact Poisson, Garwood):
    0 false accepts in 1 hour still allows up to 3.0 per hour at 95%."""
    from scipy.stats import chi2
    if hours <= 0:
        return float("nan")
    return float(0.5 * chi2.ppf(confidence, 2 * (count + 1)) / hours)


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (low, high), (nan, nan) when total is 0."""
    from scipy.stats import norm
    if total == 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + confidence / 2))
    share = successes / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def rate_with_bound(count: int, hours: float) -> dict:
    """False accepts per hour with its 95% upper bound, and the evidence behind it."""
    return {"false_accepts": int(count), "hours": round(hours, 4),
            "false_accepts_per_hour": float(count / hours) if hours else float("nan"),
            "false_accepts_per_hour_upper95": poisson_upper_per_hour(count, hours)}


def share_with_interval(misses: int, total: int) -> dict:
    """A false-reject rate with its 95% Wilson interval and the number of utterances behind it."""
    low, high = wilson_interval(misses, total)
    return {"false_reject_rate": float(misses / total) if total else float("nan"),
            "false_reject_rate_low95": low, "false_reject_rate_high95": high, "utterances": int(total)}
