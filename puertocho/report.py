"""What stages write for people and for DVC: JSON that DVC can parse, the threshold curve, the data report."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from puertocho.metrics import OperatingPoint
from puertocho.real_speech import speaker_of
from puertocho.sources import ClipRecord


def finite(value):
    """NaN (e.g. a latency with no detection) -> null, recursively, so the JSON stays valid for DVC."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return None if isinstance(value, float) and value != value else value


def write_json(path: str | Path, value) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(finite(value), indent=2, ensure_ascii=False))


def write_curve_csv(path: str | Path, points: list[OperatingPoint]) -> None:
    """The threshold sweep as a DVC plot: threshold, false_accepts_per_hour, false_reject_rate."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["threshold", "false_accepts_per_hour", "false_reject_rate"])
        for point in points:
            writer.writerow([point.threshold, round(point.false_accepts_per_hour, 4), round(point.false_reject_rate, 4)])


def plot_curve(path: str | Path, points: list[OperatingPoint], chosen: OperatingPoint,
               target_fpr: float, target_fnr: float) -> None:
    """A PNG of false-reject rate against false accepts per hour, with the chosen threshold and the targets."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 4.5))
    axis.plot([p.false_accepts_per_hour for p in points], [p.false_reject_rate for p in points], marker=".")
    axis.scatter([chosen.false_accepts_per_hour], [chosen.false_reject_rate], color="red", zorder=3,
                 label=f"chosen threshold {chosen.threshold:.3g}")
    axis.axvline(target_fpr, color="grey", linestyle="--", label="targets")
    axis.axhline(target_fnr, color="grey", linestyle="--")
    axis.set_xlabel("false accepts per hour")
    axis.set_ylabel("false-reject rate")
    axis.set_xscale("symlog", linthresh=0.5)
    axis.set_xlim(left=0)
    axis.legend()
    axis.set_title("Puertocho: threshold sweep, streamed as on the Pi")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def share_detected_per_word(words: list[str], detections: list[int]) -> dict[str, dict]:
    """For each word, how many of its utterances were detected at least once, and out of how many."""
    per_word: dict[str, list[int]] = {}
    for word, count in zip(words, detections):
        hits_total = per_word.setdefault(word, [0, 0])
        hits_total[0] += int(count > 0)
        hits_total[1] += 1
    return {word: {"share_detected": round(hits / total, 3), "utterances": total}
            for word, (hits, total) in sorted(per_word.items())}


def data_report(records: dict[str, list[ClipRecord]], n_rejected: int, window_counts: dict) -> dict:
    """Counts and hours per kind and source, real speakers per source, the negative:positive ratio, rejects and
    the validation share."""
    report = {"clips": {}, "hours": {}}
    speakers: dict[str, set] = {}
    for rows in records.values():
        for row in rows:
            key = f"{row.kind}_{row.engine}"
            report["clips"][key] = report["clips"].get(key, 0) + 1
            report["hours"][key] = round(report["hours"].get(key, 0.0) + row.duration_s / 3600, 4)
            if speaker_of(row):
                speakers.setdefault(key, set()).add(speaker_of(row))
    if speakers:
        report["speakers"] = {key: len(people) for key, people in sorted(speakers.items())}
    n_positive, n_negative = len(records.get("positive", [])), len(records.get("negative", []))
    report["negative_to_positive_ratio"] = round(n_negative / n_positive, 2) if n_positive else None
    report["rejected"] = n_rejected
    total = sum(c["windows"] for c in window_counts.values())
    report["validation_share"] = round(window_counts["validation"]["windows"] / total, 3) if total else None
    report["windows"] = window_counts
    return report
