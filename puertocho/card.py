"""The model card and the Pi's .env: what ships beside models/<name>.onnx, built from the pipeline's reports.

Pure functions (no file or network access besides `read_env`), so the package stage stays a thin script.
The deployable set a Pi pulls is `deployable_paths(name)`: the head, the feature models, the card and the .env.
"""
from __future__ import annotations

import math
from pathlib import Path

CARD_VERSION = 1
FEATURE_MODELS = ("melspectrogram.onnx", "embedding_model.onnx")
ENV_MODEL = "OPENWAKEWORD_MODEL_PATHS"
ENV_THRESHOLD = "OPENWAKEWORD_THRESHOLD"
ENV_VAD = "OPENWAKEWORD_VAD_THRESHOLD"
ENV_MELSPEC = "OPENWAKEWORD_MELSPEC_MODEL_PATH"
ENV_EMBEDDING = "OPENWAKEWORD_EMBEDDING_MODEL_PATH"


class CardError(ValueError):
    """A report the card is built from is missing a value or holds one the Pi cannot use."""


def model_paths(name: str, models_dir: str = "models") -> dict[str, str]:
    """Repository-relative paths of one model's deployable files (forward slashes, as in dvc.yaml)."""
    return {"onnx": f"{models_dir}/{name}.onnx", "feature_models": f"{models_dir}/feature_models",
            "card": f"{models_dir}/{name}.card.json", "env": f"{models_dir}/{name}.env"}


def deployable_paths(name: str, models_dir: str = "models") -> list[str]:
    """The DVC targets `scripts/pi_pull.sh` pulls, in order: head, feature models, card, .env."""
    paths = model_paths(name, models_dir)
    return [paths["onnx"], paths["feature_models"], paths["card"], paths["env"]]


def calibrated_threshold(eval_metrics: dict) -> float:
    """metrics/eval.json's chosen threshold, checked to be a probability."""
    value = eval_metrics.get("threshold")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 < value < 1.0:
        raise CardError(f"metrics/eval.json: 'threshold' must be a number in (0, 1), got {value!r}; "
                        "re-run the evaluate stage.")
    return float(value)


def check_vad_threshold(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise CardError(f"params.yaml: 'evaluate.vad_threshold' must be a number in [0, 1], got {value!r}.")
    return float(value)


def build_card(name: str, params: dict, data_summary: dict, eval_metrics: dict, export_report: dict,
               onnx_sha256: str, feature_sha256: dict[str, str], openwakeword_version: str,
               vad_threshold: float) -> dict:
    """The model card as a JSON-ready dict.

    params: the whole params.yaml as parsed; data_summary: metrics/data.json; eval_metrics: metrics/eval.json;
    export_report: metrics/export.json; *_sha256: digests of the files as they ship.
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
            "refractory_seconds": params.get("evaluate", {}).get("refractory_seconds"),
            "patience_frames": params.get("evaluate", {}).get("patience_frames"),
        },
        "files": {
            paths["onnx"]: onnx_sha256,
            **{f"{paths['feature_models']}/{file}": digest for file, digest in sorted(feature_sha256.items())},
        },
        "training_data": data_summary,
        "metrics": eval_metrics,
        "params": params,
    }


def env_text(name: str, threshold: float, vad_threshold: float, models_dir: str = "models") -> str:
    """The Pi's environment file: KEY=value lines, paths relative to the repository root."""
    paths = model_paths(name, models_dir)
    lines = [
        f"{ENV_MODEL}={paths['onnx']}",
        f"{ENV_THRESHOLD}={threshold:g}",
        f"{ENV_VAD}={vad_threshold:g}",
        f"{ENV_MELSPEC}={paths['feature_models']}/melspectrogram.onnx",
        f"{ENV_EMBEDDING}={paths['feature_models']}/embedding_model.onnx",
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
