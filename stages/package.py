"""Stage package: the model card (models/<name>.card.json) and the Pi's .env (models/<name>.env)."""
import json
import logging
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from puertocho.card import FEATURE_MODELS, CardError, build_card, calibrated_threshold, env_text
from puertocho.cli import stage_main
from puertocho.features import sha256_of

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
    eval_metrics = read_json(args.eval)
    card = build_card(
        name=name,
        params=yaml.safe_load(Path(args.params).read_text()),
        data_summary=read_json(args.data),
        eval_metrics=eval_metrics,
        export_report=read_json(args.export),
        onnx_sha256=sha256_of(onnx_path),
        feature_sha256={file: sha256_of(feature_dir / file) for file in FEATURE_MODELS},
        openwakeword_version=version("openwakeword"),
        vad_threshold=params.evaluate.vad_threshold,
    )
    card_path = models / f"{name}.card.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    env_path = models / f"{name}.env"
    env_path.write_text(env_text(name, calibrated_threshold(eval_metrics), params.evaluate.vad_threshold,
                                 models_dir=args.models))
    log.info("Packaged %s: threshold %.2f, card %s, env %s", name, card["runtime"]["threshold"], card_path,
             env_path)


def add_arguments(parser):
    parser.add_argument("--models", default="models", help="folder with <model.name>.onnx and feature_models/")
    parser.add_argument("--eval", default="metrics/eval.json", help="evaluate stage's metrics (threshold)")
    parser.add_argument("--export", default="metrics/export.json", help="export stage's report")
    parser.add_argument("--data", default="metrics/data.json", help="features stage's training data summary")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
