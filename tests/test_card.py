"""puertocho.card: the model card and the Pi's .env, as pure functions."""
import json

import pytest

from puertocho.card import (CardError, build_card, deployable_paths, env_text, evaluated_rules, parse_env,
                            read_env)

SHA = {"melspectrogram.onnx": "a" * 64, "embedding_model.onnx": "b" * 64}
PARAMS = {"model": {"name": "puertocho_v1", "n_frames": 16},
          "data": {"phrases": [{"text": "Puertocho", "weight": 3.0}, {"text": "Oye Puertocho", "weight": 1.0}]},
          "evaluate": {"refractory_seconds": 2.0, "patience_frames": 1, "vad_threshold": 0.2}}
EVAL = {"threshold": 0.65, "false_accepts_per_hour": 0.2, "false_reject_rate": 0.04, "meets_targets": True,
        "restructured": {"by": "the lead"}}
DATA = {"clips": {"positive_espeak": 48}, "negative_to_positive_ratio": 1.1}


def card(**changes):
    arguments = dict(name="puertocho_v1", params=PARAMS, data_summary=DATA, eval_metrics=EVAL,
                     export_report={"sha256": "c" * 64}, onnx_sha256="c" * 64, feature_sha256=SHA,
                     openwakeword_version="0.4.0", vad_threshold=0.2, vad_sha256="e" * 64, patience_frames=2,
                     refractory_seconds=1.5)
    arguments.update(changes)
    return build_card(**arguments)


def test_card_holds_data_params_metrics_threshold_version_and_digests():
    built = card()
    assert built["name"] == "puertocho_v1"
    assert built["wake_phrases"] == ["Puertocho", "Oye Puertocho"]
    assert built["training_data"] == DATA and built["metrics"] == EVAL and built["params"] == PARAMS
    assert built["runtime"]["threshold"] == 0.65 and built["runtime"]["vad_threshold"] == 0.2
    assert built["runtime"]["openwakeword_version"] == "0.4.0"
    assert built["runtime"]["input_shape"] == ["batch", 16, 96]
    assert built["runtime"]["patience_frames"] == 2 and built["runtime"]["refractory_seconds"] == 1.5
    assert built["evaluation"] == {"threshold": 0.65, "meets_targets": True, "false_accepts_per_hour": 0.2,
                                   "false_reject_rate": 0.04}
    assert built["files"] == {"models/puertocho_v1.onnx": "c" * 64,
                              "models/feature_models/embedding_model.onnx": "b" * 64,
                              "models/feature_models/melspectrogram.onnx": "a" * 64,
                              "models/silero_vad.onnx": "e" * 64}
    json.dumps(built)  # JSON-ready


@pytest.mark.parametrize("threshold", [None, "0.5", float("nan"), 0.0, 1.5, True])
def test_a_threshold_the_pi_cannot_use_is_refused(threshold):
    with pytest.raises(CardError, match="threshold"):
        card(eval_metrics={**EVAL, "threshold": threshold})


@pytest.mark.parametrize("change, key", [({"patience_frames": 0}, "patience_frames"),
                                         ({"patience_frames": 1.5}, "patience_frames"),
                                         ({"refractory_seconds": -1.0}, "refractory_seconds"),
                                         ({"refractory_seconds": None}, "refractory_seconds"),
                                         ({"vad_threshold": 1.2}, "vad_threshold")])
def test_runtime_settings_the_pi_cannot_use_are_refused(change, key):
    with pytest.raises(CardError, match=key):
        card(**change)


def test_an_evaluation_without_a_verdict_is_refused():
    with pytest.raises(CardError, match="meets_targets"):
        card(eval_metrics={k: v for k, v in EVAL.items() if k != "meets_targets"})


def test_an_onnx_changed_after_export_is_refused():
    with pytest.raises(CardError, match="changed after export"):
        card(onnx_sha256="d" * 64)


def test_missing_feature_model_is_refused():
    with pytest.raises(CardError, match="feature models missing"):
        card(feature_sha256={"melspectrogram.onnx": "a" * 64})


def test_env_lines_and_round_trip(tmp_path):
    text = env_text("puertocho_v1", 0.65, 0.2, 2, 1.5)
    assert text.splitlines() == [
        "OPENWAKEWORD_MODEL_PATHS=models/puertocho_v1.onnx",
        "OPENWAKEWORD_THRESHOLD=0.65",
        "OPENWAKEWORD_VAD_THRESHOLD=0.2",
        "PUERTOCHO_PATIENCE_FRAMES=2",
        "PUERTOCHO_REFRACTORY_SECONDS=1.5",
        "OPENWAKEWORD_MELSPEC_MODEL_PATH=models/feature_models/melspectrogram.onnx",
        "OPENWAKEWORD_EMBEDDING_MODEL_PATH=models/feature_models/embedding_model.onnx",
        "OPENWAKEWORD_VAD_MODEL_PATH=models/silero_vad.onnx",
    ]
    (tmp_path / "x.env").write_text(text)
    assert read_env(tmp_path / "x.env")["OPENWAKEWORD_THRESHOLD"] == "0.65"
    assert read_env(tmp_path / "missing.env") == {}


def test_env_of_a_model_that_missed_its_targets_says_so_first():
    lines = env_text("puertocho_v1", 0.65, 0.2, 1, 2.0, meets_targets=False).splitlines()
    assert lines[0].startswith("# WARNING") and "did NOT meet its targets" in lines[0]
    assert parse_env("\n".join(lines))["OPENWAKEWORD_THRESHOLD"] == "0.65"


def test_parse_env_accepts_comments_export_and_quotes():
    assert parse_env("# c\n\nexport A='1'\nB = \"x y\"\nnot a line\n") == {"A": "1", "B": "x y"}


def test_deployable_paths_are_the_pi_pull_targets():
    assert deployable_paths("m") == ["models/m.onnx", "models/feature_models", "models/silero_vad.onnx",
                                     "models/m.card.json", "models/m.env"]


def test_pi_pull_pulls_exactly_the_deployable_paths():
    """scripts/pi_pull.sh is bash and lists its targets itself: they must be deployable_paths."""
    from tests.conftest import REPO, run
    result = run(["bash", "scripts/pi_pull.sh", "--dry-run", "--model", "m", "--remote", "r"], REPO)
    pulled = next(line for line in result.stdout.splitlines() if " pull " in line)
    assert pulled.split()[-5:] == deployable_paths("m")


def test_the_pi_gets_the_rules_the_evaluation_ran_with_or_a_clear_error():
    assert evaluated_rules({"rules": {"vad_threshold": 0.0, "patience_frames": 3}}) == (0.0, 3)
    for stale in ({}, {"rules": {"vad_threshold": 0.2}}, {"rules": None}):
        with pytest.raises(CardError, match="dvc repro evaluate"):
            evaluated_rules(stale)
