"""The model card and the Pi's .env: what ships beside models/<name>.onnx, built from the pipeline's reports.

Pure functions (no file or network access besides `read_env`), so the package stage stays a thin script.
The deployable set a Pi pulls is `deployable_paths(name)`: the head, the feature models, the Silero VAD model,
the card and the .env. The .env holds every runtime setting the evaluation used (threshold, VAD threshold,
patience, refractory period) and the paths of the exact models it ran, so the Pi behaves as evaluated.
"""
from __future__ import annotations

import math
from pathlib import Path

CARD_VERSION = 1
FEATURE_MODELS = ("melspectrogram.onnx", "embedding_model.onnx")
VAD_MODEL = "silero_vad.onnx"   # openWakeWord 0.4.0's Silero VAD; 0.6.0's wheel has none
ENV_MODEL = "OPENWAKEWORD_MODEL_PATHS"
ENV_THRESHOLD = "OPENWAKEWORD_THRESHOLD"
ENV_VAD = "OPENWAKEWORD_VAD_THRESHOLD"
ENV_MELSPEC = "OPENWAKEWORD_MELSPEC_MODEL_PATH"
ENV_EMBEDDING = "OPENWAKEWORD_EMBEDDING_MODEL_PATH"
ENV_VAD_MODEL = "OPENWAKEWORD_VAD_MODEL_PATH"
ENV_PATIENCE = "PUERTOCHO_PATIENCE_FRAMES"        # ours: openWakeWord's runtime has no debounce of its own
ENV_REFRACTORY = "PUERTOCHO_REFRACTORY_SECONDS"
# The top-level keys of metrics/eval.json the card relies on (the rest of that file may change shape).
EVAL_SUMMARY_KEYS = ("threshold", "meets_targets", "false_accepts_per_hour", "false_reject_rate")


class CardError(ValueError):
    """A report the card is built from is missing a value or holds one the Pi cannot use."""


def model_paths(name: str, models_dir: str = "models") -> dict[str, str]:
    """Repository-relative paths of one model's deployable files (forward slashes, as in dvc.yaml)."""
    return {"onnx": f"{models_dir}/{name}.onnx", "feature_models": f"{models_dir}/feature_models",
            "vad_model": f"{models_dir}/{VAD_MODEL}",
            "card": f"{models_dir}/{name}.card.json", "env": f"{models_dir}/{name}.env"}


def deployable_paths(name: str, models_dir: str = "models") -> list[str]:
    """The DVC targets `scripts/pi_pull.sh` pulls, in order: head, feature models, VAD model, card, .env."""
    paths = model_paths(name, models_dir)
    return [paths["onnx"], paths["feature_models"], paths["vad_model"], paths["card"], paths["env"]]


def calibrated_threshold(eval_metrics: dict) -> float:
    """metrics/eval.json's chosen threshold, checked to be a probability."""
    value = eval_metrics.get("threshold")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 < value < 1.0:
        raise CardError(f"metrics/eval.json: 'threshold' must be a number in (0, 1), got {value!r}; "
                        "re-run the evaluate stage.")
    return float(value)


def evaluated_rules(eval_metrics: dict) -> tuple[float, int]:
    """(VAD threshold, patience) the evaluation ran with: metrics/eval.json's rules (evaluate.* as set, or the
    pair the calibration chose), never evaluate.* as params.yaml holds them now; the Pi must run what was
    measured."""
    rules = eval_metrics.get("rules")
    if not isinstance(rules, dict) or "vad_threshold" not in rules or "patience_frames" not in rules:
        raise CardError("metrics/eval.json has no 'rules' with 'vad_threshold' and 'patience_frames' (written by "
                        "an older evaluate stage): re-run it with `dvc repro evaluate`.")
    return rules["vad_threshold"], rules["patience_frames"]


def check_vad_threshold(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise CardError(f"metrics/eval.json: rules 'vad_threshold' (evaluate.vad_threshold or one of "
                        f"evaluate.vad_threshold_choices) must be a number in [0, 1], got {value!r}.")
    return float(value)


def check_patience(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CardError(f"metrics/eval.json: rules 'patience_frames' (evaluate.patience_frames or one of "
                        f"evaluate.patience_frames_choices) must be an integer >= 1, got {value!r}.")
    return value


def check_refractory(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CardError(f"params.yaml: 'evaluate.refractory_seconds' must be a number >= 0, got {value!r}.")
    return float(value)


def evaluation_summary(eval_metrics: dict) -> dict:
    """The stable top-level keys of metrics/eval.json (threshold, meets_targets, false accepts/h, FRR)."""
    meets = eval_metrics.get("meets_targets")
    if not isinstance(meets, bool):
        raise CardError(f"metrics/eval.json: 'meets_targets' must be true or false, got {meets!r}; "
                        "re-run the evaluate stage.")
    return {key: eval_metrics.get(key) for key in EVAL_SUMMARY_KEYS}


def build_card(name: str, params: dict, data_summary: dict, eval_metrics: dict, export_report: dict,
               onnx_sha256: str, feature_sha256: dict[str, str], openwakeword_version: str,
               vad_threshold: float, vad_sha256: str, patience_frames: int, refractory_seconds: float) -> dict:
    """The model card as a JSON-ready dict.

    params: the whole params.yaml as parsed; data_summary: metrics/data.json; eval_metrics: metrics/eval.json;
    export_report: metrics/export.json; *_sha256: digests of the files as they ship; vad_threshold,
    patience_frames: the rules the evaluation ran with (evaluated_rules); refractory_seconds: evaluate.*.
    """
    missing = sorted(set(FEATURE_MODELS) - set(feature_sha256))
    if missing:
        raise CardError(f"feature models missing from the package: {missing}; re-run the export stage.")
    exported = export_report.get("sha256")
    if exported is not None and exported != onnx_sha256:
        raise CardError(f"models/{name}.onnx changed after export (sha256 {onnx_sha256[:12]}… vs "
                        f"metrics/export.json {exported[:12]}…); re-run the export and evaluate stages.")
    threshold = calibrated_threshold(eval_metrics)
    paths = model_paths(name)
    return {
        "card_version": CARD_VERSION,
        "name": name,
        "wake_phrases": [phrase.get("text") for phrase in params.get("data", {}).get("phrases", [])],
        "runtime": {
            "openwakeword_version": openwakeword_version,
            "sample_rate": 16000,
            "chunk_samples": 1280,
            "input_shape": ["batch", params.get("model", {}).get("n_frames"), 96],
            "threshold": threshold,
            "vad_threshold": check_vad_threshold(vad_threshold),
            "refractory_seconds": check_refractory(refractory_seconds),
            "patience_frames": check_patience(patience_frames),
        },
        "evaluation": evaluation_summary(eval_metrics),
        "files": {
            paths["onnx"]: onnx_sha256,
            **{f"{paths['feature_models']}/{file}": digest for file, digest in sorted(feature_sha256.items())},
            paths["vad_model"]: vad_sha256,
        },
        "training_data": data_summary,
        "metrics": eval_metrics,
        "params": params,
    }


def env_text(name: str, threshold: float, vad_threshold: float, patience_frames: int, refractory_seconds: float,
             meets_targets: bool = True, models_dir: str = "models") -> str:
    """The Pi's environment file: KEY=value lines, paths relative to the repository root.

    Every runtime setting the evaluation used is here, so the listener needs nothing else; a model that
    missed its targets says so in a comment at the top (the listener warns from the card as well).
    """
    paths = model_paths(name, models_dir)
    lines = [] if meets_targets else [
        "# WARNING: this model did NOT meet its targets (metrics/eval.json meets_targets: false); see the card."]
    lines += [
        f"{ENV_MODEL}={paths['onnx']}",
        f"{ENV_THRESHOLD}={threshold:g}",
        f"{ENV_VAD}={vad_threshold:g}",
        f"{ENV_PATIENCE}={patience_frames:d}",
        f"{ENV_REFRACTORY}={refractory_seconds:g}",
        f"{ENV_MELSPEC}={paths['feature_models']}/melspectrogram.onnx",
        f"{ENV_EMBEDDING}={paths['feature_models']}/embedding_model.onnx",
        f"{ENV_VAD_MODEL}={paths['vad_model']}",
    ]
    return "\n".join(lines) + "\n"


def parse_env(text: str) -> dict[str, str]:
    """KEY=value lines (blank lines, '#' comments and an 'export ' prefix allowed; quotes stripped)."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def read_env(path: str | Path) -> dict[str, str]:
    """parse_env of a file; {} when it does not exist."""
    path = Path(path)
    return parse_env(path.read_text()) if path.is_file() else {}
