"""Stage evaluate: stream held-out audio through the front-end and the exported ONNX as the Pi does;
false accepts per hour, false rejects, detections per utterance, and a calibrated threshold."""
import csv
import dataclasses
import logging
from pathlib import Path

import numpy as np

from puertocho import audio
from puertocho.cli import stage_main
from puertocho.detect import detection_events, seconds_to_frames
from puertocho.evaluation import hours_of, positive_stream, stream_scores, vad_gate, vad_per_chunk
from puertocho.export import onnx_scores
from puertocho.features import FrontEnd, resource_path
from puertocho.metrics import choose_threshold, classification_scores, count_per_utterance, operating_point
from puertocho.report import plot_curve, share_detected_per_word, write_curve_csv, write_json
from puertocho.sources import read_manifest

log = logging.getLogger("evaluate")
# Fine steps near 1: a wake word's operating point usually lives there.
THRESHOLDS = np.concatenate([np.round(np.arange(0.02, 0.98, 0.02), 2), [0.98, 0.99, 0.995, 0.998, 0.999]])
REFERENCE_HEADS = ("hey_jarvis_v0.1.onnx", "alexa_v0.1.onnx")


def read_split(split_csv):
    with open(split_csv, newline="") as handle:
        return list(csv.DictReader(handle))


def split_clips(folder, split_csv, split, kind):
    rows = [r for r in read_split(split_csv) if r["split"] == split and r["kind"] == kind]
    return [audio.read_clip(Path(folder) / r["path"]) for r in rows]


def run(params, args):
    settings, model = params.evaluate, params.model
    head_path = Path(args.model)
    front_end = FrontEnd()
    rng = np.random.default_rng(params.data.seed + 10)
    refractory = seconds_to_frames(settings.refractory_seconds)
    tolerance = seconds_to_frames(1.0)  # a detection up to 1 s after the phrase ends still counts

    long_paths = [Path(args.negative) / r.path for r in read_manifest(Path(args.negative) / "manifest.csv")
                  if r.kind == "long"]
    reference_paths = [resource_path(name) for name in REFERENCE_HEADS]
    negative_scores, negative_vad, reference_scores = [], [], [[] for _ in REFERENCE_HEADS]
    for path in long_paths:
        stream = audio.read_clip(path)
        scores = stream_scores(front_end, [head_path, *reference_paths], stream, model.n_frames)
        negative_scores.append(scores[0])
        negative_vad.append(vad_gate(vad_per_chunk(stream), settings.vad_threshold))
        for bucket, reference in zip(reference_scores, scores[1:]):
            bucket.append(reference)
    negative_scores = np.concatenate(negative_scores)
    negative_gated = np.where(np.concatenate(negative_vad), negative_scores, 0.0)
    hours_negative = hours_of(len(negative_scores))

    results = {}
    for split in ("test", "validation"):  # test: voices held out of training
        clips = split_clips(args.positive, args.split, split, "positive")
        if not clips:
            log.warning("No %s positives: %s metrics are skipped", split, split)
            continue
        stream, utterances = positive_stream(clips, settings.positive_gap_seconds, settings.positive_snr_db, rng)
        positive_scores = stream_scores(front_end, [head_path], stream, model.n_frames)[0]
        positive_gated = np.where(vad_gate(vad_per_chunk(stream), settings.vad_threshold), positive_scores, 0.0)

        def point(threshold, negative=negative_scores, positive=positive_scores, utterances=utterances):
            return operating_point(threshold, negative, positive, utterances, settings.patience_frames,
                                   refractory, tolerance)
        results[split] = ([point(t) for t in THRESHOLDS], len(clips), point(settings.pi_threshold),
                          lambda t, p=positive_gated, u=utterances: point(t, negative_gated, p, u))
    if not results:
        raise FileNotFoundError("no held-out or validation positives to evaluate: raise data.positive_count")
    split = "test" if "test" in results else "validation"
    points, n_positive, at_pi, with_vad = results[split]
    chosen = choose_threshold(points, params.data.target_fpr)
    vad_chosen, vad_at_pi = with_vad(chosen.threshold), with_vad(settings.pi_threshold)

    validation = np.load(Path(args.features) / "validation.npz")
    window_scores = classification_scores(validation["labels"], onnx_scores(head_path, validation["windows"]),
                                          chosen.threshold)
    metrics = {
        "threshold": chosen.threshold,
        "false_accepts_per_hour": chosen.false_accepts_per_hour,
        "false_reject_rate": chosen.false_reject_rate,
        "multi_detections_per_utterance": chosen.multi_detections_per_utterance,
        "detections_per_utterance": chosen.detections_per_utterance,
        "latency_seconds": chosen.mean_latency_seconds,
        "accuracy": window_scores["accuracy"], "f1": window_scores["f1"],
        "hours_negative": hours_negative, "n_positive": n_positive, "positive_split": split,
        "meets_targets": bool(chosen.false_accepts_per_hour <= params.data.target_fpr
                              and chosen.false_reject_rate <= params.data.target_fnr),
        "at_pi_threshold": dataclasses.asdict(at_pi),
        "with_vad": {"vad_threshold": settings.vad_threshold, "at_threshold": dataclasses.asdict(vad_chosen),
                     "at_pi_threshold": dataclasses.asdict(vad_at_pi)},
        "confusables": confusable_report(front_end, head_path, args, settings, chosen.threshold, refractory,
                                         tolerance, model.n_frames, rng),
        "reference_false_accepts_per_hour": {
            name.split("_v")[0]: len(detection_events(np.concatenate(s), 0.5, settings.patience_frames, refractory))
            / hours_negative for name, s in zip(REFERENCE_HEADS, reference_scores)},
    }
    if "validation" in results and split != "validation":
        val_points = results["validation"][0]
        same = min(val_points, key=lambda p: abs(p.threshold - chosen.threshold))
        metrics["false_reject_rate_validation_voices"] = same.false_reject_rate
    write_json(args.metrics, metrics)
    write_curve_csv(args.curve, points)
    plot_curve(args.curve_png, points, chosen, params.data.target_fpr, params.data.target_fnr)
    log.info("Evaluation (%s voices, %.2f h negative): %s", split, hours_negative,
             {k: v for k, v in metrics.items() if not isinstance(v, dict)})


def confusable_report(front_end, head_path, args, settings, threshold, refractory, tolerance, n_frames, rng):
    """Detections on confusable words never trained on (validation and held-out voices), per utterance and word."""
    rows = [r for r in read_split(args.split) if r["kind"] == "confusable" and r["split"] != "train"]
    if not rows:
        return {}
    texts = {r.path: r.text for r in read_manifest(Path(args.negative) / "manifest.csv")}
    clips = [audio.read_clip(Path(args.negative) / r["path"]) for r in rows]
    stream, utterances = positive_stream(clips, settings.positive_gap_seconds, settings.positive_snr_db, rng)
    scores = stream_scores(front_end, [head_path], stream, n_frames)[0]
    events = detection_events(scores, threshold, settings.patience_frames, refractory)
    counts = count_per_utterance(events, utterances, tolerance)
    write_json(args.confusables, {"threshold": threshold,
                                  "per_word": share_detected_per_word([texts[r["path"]] for r in rows], counts)})
    return {"utterances": len(rows), "false_accepts_per_utterance": float(np.mean(counts > 0))}


def add_arguments(parser):
    parser.add_argument("--model", default="models/puertocho_v1.onnx", help="exported head")
    parser.add_argument("--positive", default="data/positive")
    parser.add_argument("--negative", default="data/negative")
    parser.add_argument("--features", default="data/features")
    parser.add_argument("--split", default="data/features/split.csv")
    parser.add_argument("--metrics", default="metrics/eval.json")
    parser.add_argument("--confusables", default="metrics/confusables.json", help="per-word detection shares")
    parser.add_argument("--curve", default="metrics/threshold_curve.csv")
    parser.add_argument("--curve-png", default="metrics/threshold_curve.png")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
