"""What stages write for people and for DVC: JSON that DVC can parse, the threshold curve, the data report."""
from __future__ import annotations

import csv
import json
from pathlib import Path

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


def write_csv_rows(path: str | Path, rows: list[dict]) -> None:
    """Rows of equal keys as CSV (a DVC plot when dvc.yaml declares it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def plot_det_curve(path: str | Path, rows: list[dict], metrics: dict, target_fpr: float, target_fnr: float) -> None:
    """A DET curve PNG: false-reject rate against false accepts per hour (log x) on the test streams, the
    calibration streams' curve beside it, the calibrated threshold and the targets."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    floor = 0.5 / max(metrics.get("test", {}).get("hours", 1.0), 1e-3)  # where 0 false accepts is drawn
    figure, axis = plt.subplots(figsize=(6.5, 4.8))
    for prefix, label, style in (("", "test streams", "-"), ("calibration_", "calibration", ":")):
        x = [max(r[f"{prefix}false_accepts_per_hour"], floor) for r in rows]
        axis.plot(x, [r[f"{prefix}false_reject_rate"] for r in rows], style, marker=".", label=label)
    axis.errorbar([max(metrics["false_accepts_per_hour"], floor)], [metrics["false_reject_rate"]],
                  yerr=[[metrics["false_reject_rate"] - metrics["false_reject_rate_low95"]],
                        [metrics["false_reject_rate_high95"] - metrics["false_reject_rate"]]],
                  xerr=[[0], [max(metrics["false_accepts_per_hour_upper95"] - metrics["false_accepts_per_hour"], 0)]],
                  fmt="o", color="red", zorder=3, label=f"calibrated threshold {metrics['threshold']:.4g} (95%)")
    axis.axvline(target_fpr, color="grey", linestyle="--", label="targets")
    axis.axhline(target_fnr, color="grey", linestyle="--")
    axis.set_xscale("log")
    axis.set_xlabel(f"false accepts per hour (0 drawn at {floor:.2g})")
    axis.set_ylabel("false-reject rate")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    axis.set_title("Puertocho: DET on held-out voices, rooms and talk")
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
