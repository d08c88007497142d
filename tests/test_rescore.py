"""scripts/rescore_experiments.py: which files make the reported test streams, and the refusal to re-score an
experiment whose test streams are not the workspace's."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import rescore_experiments as rescore  # noqa: E402


def lock_with_test_set(md5: str) -> dict:
    return {"stages": {"make_test": {"outs": [{"path": "data/test", "md5": md5}]}}}


def cache_directory(root: Path, md5: str, files: dict[str, str]) -> None:
    path = root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"relpath": name, "md5": digest} for name, digest in files.items()]))


TEST_SET = {"positive/stream_000.npz": "p0", "positive/utterances.csv": "pu",
            "negative/test_speech_000.npz": "t0", "negative/calibration_speech_000.npz": "c0",
            "negative/streams.csv": "s1", "summary.json": "j1"}


def test_reported_streams_are_the_positive_and_test_role_files():
    assert rescore.test_streams(TEST_SET) == {"positive/stream_000.npz": "p0", "positive/utterances.csv": "pu",
                                              "negative/test_speech_000.npz": "t0"}


def test_other_calibration_streams_may_differ_but_not_the_test_streams(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with_extra = {**TEST_SET, "negative/calibration_extra_speech_000.npz": "e0", "negative/streams.csv": "s2"}
    other_test = {**TEST_SET, "negative/test_speech_000.npz": "t9"}
    cache_directory(tmp_path, "aa11.dir", TEST_SET)
    cache_directory(tmp_path, "bb22.dir", with_extra)
    cache_directory(tmp_path, "cc33.dir", other_test)
    rescore.check_same_test_streams("old", lock_with_test_set("aa11.dir"), lock_with_test_set("bb22.dir"))
    with pytest.raises(SystemExit, match="other: its test streams differ .*negative/test_speech_000.npz"):
        rescore.check_same_test_streams("other", lock_with_test_set("cc33.dir"), lock_with_test_set("bb22.dir"))


def test_other_test_streams_are_scored_on_request_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cache_directory(tmp_path, "aa11.dir", TEST_SET)
    cache_directory(tmp_path, "cc33.dir", {**TEST_SET, "negative/test_speech_000.npz": "t9"})
    rescore.check_same_test_streams("other", lock_with_test_set("cc33.dir"), lock_with_test_set("aa11.dir"),
                                    allow_other=True)
    assert "WARNING other: first scored on other test streams (1 files differ" in capsys.readouterr().out


def test_a_missing_cache_entry_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="dvc pull"):
        rescore.directory_listing("dd44.dir")


def test_only_evaluate_keys_can_be_set_and_values_are_typed():
    assert rescore.evaluate_overrides(["evaluate.vad_threshold=0.0", "evaluate.patience_frames=2"]) == {
        "vad_threshold": 0.0, "patience_frames": 2}
    for wrong in ("training.learning_rate=3e-4", "evaluate.patience_frames", "evaluate=1", "evaluate.a.b=1"):
        with pytest.raises(SystemExit, match="evaluate.KEY=VALUE"):
            rescore.evaluate_overrides([wrong])


def test_rule_choices_are_read_as_lists():
    assert rescore.evaluate_overrides(["evaluate.vad_threshold_choices=[0.0,0.2]",
                                       "evaluate.calibration_positive_stream=conditions"]) == {
        "vad_threshold_choices": [0.0, 0.2], "calibration_positive_stream": "conditions"}
