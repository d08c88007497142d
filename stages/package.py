"""Stage package: what the Pi pulls beside models/<name>.onnx, so it runs exactly as evaluated.

Writes the model card (models/<name>.card.json), the Pi's settings (models/<name>.env: calibrated threshold,
the VAD threshold and patience the evaluation ran with (metrics/eval.json's rules: evaluate.*, or the
calibration's pick from evaluate.*_choices), evaluate.refractory_seconds, model paths) and the Silero VAD
model the evaluation gated with (models/silero_vad.onnx, copied from openWakeWord 0.4.0's wheel: 0.6.0 has none).
"""
import json
import logging
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from puertocho.card import (FEATURE_MODELS, VAD_MODEL, CardError, build_card, env_text, evaluated_rules)
from puertocho.cli import stage_main
from puertocho.features import resource_path, sha256_of

log = logging.getLogger("package")


def read_json(path: str) -> dict:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found: run `dvc repro` so the stage that writes it runs first.")
    return json.loads(Path(path).read_text())


def run(params, args):
    try:
        package(params, args)
    except CardError as error:  # one clear line, as stage_main does for its expected errors
        log.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def package(params, args):
    name = params.model.name
    models = Path(args.models)
    onnx_path = models / f"{name}.onnx"
    feature_dir = models / "feature_models"
    for path in (onnx_path, *(feature_dir / file for file in FEATURE_MODELS)):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run the export stage (`dvc repro export`).")
    vad_path = models / VAD_MODEL
    shutil.copyfile(resource_path(VAD_MODEL), vad_path)  # the model evaluation.vad_per_chunk used
    settings = params.evaluate
    eval_metrics = read_json(args.eval)
    vad_threshold, patience_frames = evaluated_rules(eval_metrics)
    card = build_card(
        name=name,
        params=yaml.safe_load(Path(args.params).read_text()),
        data_summary=read_json(args.data),
        eval_metrics=eval_metrics,
        export_report=read_json(args.export),
        onnx_sha256=sha256_of(onnx_path),
        feature_sha256={file: sha256_of(feature_dir / file) for file in FEATURE_MODELS},
        openwakeword_version=version("openwakeword"),
        vad_threshold=vad_threshold,
        vad_sha256=sha256_of(vad_path),
        patience_frames=patience_frames,
        refractory_seconds=settings.refractory_seconds,
    )
    runtime, evaluation = card["runtime"], card["evaluation"]
    card_path = models / f"{name}.card.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    env_path = models / f"{name}.env"
    env_path.write_text(env_text(name, runtime["threshold"], runtime["vad_threshold"], runtime["patience_frames"],
                                 runtime["refractory_seconds"], evaluation["meets_targets"], models_dir=args.models))
    if not evaluation["meets_targets"]:
        log.warning("!! %s did NOT meet its targets (false accepts/hour %s, false-reject rate %s; targets %s and "
                    "%s): it is packaged, but the Pi will warn at start-up. Improve the data or the model before "
                    "deploying it.", name, evaluation["false_accepts_per_hour"], evaluation["false_reject_rate"],
                    params.data.target_fpr, params.data.target_fnr)
    log.info("Packaged %s: threshold %g, VAD %g, patience %d, refractory %gs; card %s, env %s, VAD model %s",
             name, runtime["threshold"], runtime["vad_threshold"], runtime["patience_frames"],
             runtime["refractory_seconds"], card_path, env_path, vad_path)


def add_arguments(parser):
    parser.add_argument("--models", default="models", help="folder with <model.name>.onnx and feature_models/")
    parser.add_argument("--eval", default="metrics/eval.json", help="evaluate stage's metrics (threshold)")
    parser.add_argument("--export", default="metrics/export.json", help="export stage's report")
    parser.add_argument("--data", default="metrics/data.json", help="features stage's training data summary")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
