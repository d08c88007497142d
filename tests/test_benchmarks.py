"""`python -m benchmarks --quick`: every section runs and reports positive numbers. No timing is asserted."""
from __future__ import annotations

import json
import numbers

from conftest import REPO, run

SECTIONS = ["tts", "features", "training", "streaming"]


def _positive(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0


def test_quick_benchmarks_write_every_section_and_print_the_table(tmp_path):
    out = tmp_path / "bench.json"
    result = run(["python", "-m", "benchmarks", "--quick", "--only", ",".join(SECTIONS), "--repeats", "1",
                  "--out", str(out)], cwd=REPO)
    data = json.loads(out.read_text())

    assert data["meta"]["cpu_count"] >= 1 and data["meta"]["cpu_model"]
    assert data["meta"]["sections"] == SECTIONS
    for section in SECTIONS:
        assert "error" not in data[section], data[section]

    espeak = data["tts"]["espeak"]
    assert _positive(espeak["clips_per_second"]) and _positive(espeak["audio_seconds_per_second"])
    gtts = data["tts"]["gtts"]
    assert _positive(gtts.get("clips_per_second")) or gtts["status"] == "unavailable offline"

    threads = [key for key in data["features"] if key.startswith("threads_")]
    assert "threads_1" in threads
    for key in threads:
        for measure in ("clip_windows", "stream_embeddings"):
            assert _positive(data["features"][key][measure]["audio_seconds_per_second"])

    training = data["training"]
    assert _positive(training["train_windows"]) and _positive(training["batch_size"])
    assert set(training["devices"]["cpu"]) == {"fc", "cnn", "gru", "convattn", "cnn x3"}
    for device in training["devices"].values():
        for entry in device.values():
            assert _positive(entry["windows_per_second"]) and _positive(entry["seconds_per_epoch"])

    streaming = data["streaming"]
    assert len(streaming["worker_affinity"]) == 1  # pinned to one core
    for name in ("ours", "reference", "front_end"):
        assert _positive(streaming["ms_per_chunk"][name])
        assert _positive(streaming["real_time_cpu_share"][name])
    for name in ("ours", "reference"):
        assert _positive(streaming["head_alone_ms"][name])
        assert _positive(streaming["onnx_bytes"][name])
        assert _positive(streaming["peak_rss_mib"][name])
    assert _positive(streaming["ours_vs_reference_ratio"]) and _positive(streaming["head_share_of_front_end"])
    assert all(_positive(x) for x in streaming["pi4_estimate"]["ms_per_chunk"])

    assert len(data["aims"]) >= 2 and all(line.startswith("aim:") for line in data["aims"])
    table = result.stdout
    for text in ("section", "measure", "tts", "features", "training", "streaming", "ms per 80 ms chunk",
                 "aim: our head adds < 10%", "aim: the whole detector < 5%", "Pi 4", "cpu_count() = "):
        assert text in table, f"{text!r} missing from the printed table:\n{table}"


def test_help_and_unknown_section():
    assert "--only" in run(["python", "-m", "benchmarks", "--help"], cwd=REPO).stdout
    result = run(["python", "-m", "benchmarks", "--only", "nope"], cwd=REPO, check=False)
    assert result.returncode == 2 and "unknown section" in result.stderr


def test_small_times_keep_their_significant_figures():
    # CI's faster machine timed a quick epoch at a few milliseconds, which two fixed decimals made 0.0.
    from benchmarks.common import significant
    assert significant(0.00412) == 0.00412 and significant(0.0041234) == 0.00412
    assert significant(13565.1, 4) == 13570.0 and significant(0.0) == 0.0
