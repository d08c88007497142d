import json
import math

from puertocho.report import data_report, finite, plot_det_curve, share_detected_per_word, write_csv_rows, write_json
from puertocho.sources import ClipRecord


def test_nan_becomes_null_so_dvc_can_read_the_json(tmp_path):
    write_json(tmp_path / "m.json", {"latency": math.nan, "nested": {"x": math.nan, "y": 1.5}})
    assert json.loads((tmp_path / "m.json").read_text()) == {"latency": None, "nested": {"x": None, "y": 1.5}}
    assert finite(2.0) == 2.0


def test_share_detected_per_word():
    shares = share_detected_per_word(["Puerto", "Ocho", "Puerto", "Puerto"], [1, 0, 2, 0])
    assert shares == {"Ocho": {"share_detected": 0.0, "utterances": 1},
                      "Puerto": {"share_detected": 0.667, "utterances": 3}}


def test_data_report_counts_hours_and_ratio():
    def record(kind, engine, seconds):
        return ClipRecord("p.wav", kind, engine, "es", "t", 0, 0, seconds, False)
    records = {"positive": [record("positive", "espeak", 1.8)] * 2,
               "negative": [record("speech", "espeak", 3.6)] * 6 + [record("noise", "synthetic", 1.0)] * 2}
    counts = {"train": {"windows": 80}, "validation": {"windows": 20}}
    report = data_report(records, 3, counts)
    assert report["clips"] == {"positive_espeak": 2, "speech_espeak": 6, "noise_synthetic": 2}
    assert report["hours"]["speech_espeak"] == round(6 * 3.6 / 3600, 4)
    assert report["negative_to_positive_ratio"] == 4.0
    assert report["rejected"] == 3 and report["validation_share"] == 0.2


def test_det_csv_and_png(tmp_path):
    rows = [{"threshold": t, "false_accepts_per_hour": fa, "false_reject_rate": frr,
             "calibration_false_accepts_per_hour": fa, "calibration_false_reject_rate": frr}
            for t, fa, frr in [(0.5, 3.0, 0.0), (0.9, 0.0, 0.1)]]
    write_csv_rows(tmp_path / "c.csv", rows)
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0].startswith("threshold,false_accepts_per_hour,false_reject_rate") and lines[2].startswith("0.9,0.0,0.1")
    metrics = {"threshold": 0.9, "false_accepts_per_hour": 0.0, "false_accepts_per_hour_upper95": 0.6,
               "false_reject_rate": 0.1, "false_reject_rate_low95": 0.05, "false_reject_rate_high95": 0.2,
               "test": {"hours": 5.0}}
    plot_det_curve(tmp_path / "c.png", rows, metrics, 0.5, 0.05)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
