"""Stage evaluate: the exported head over the test set's streams, as the Pi runs it. The threshold (and, when
evaluate.*_choices list several, the VAD gate and patience) is calibrated on validation positives and the test
set's calibration streams; the figures are the test streams'."""
import logging
from pathlib import Path

import numpy as np

from puertocho.cli import stage_main
from puertocho.export import onnx_scores
from puertocho.features import FrontEnd
from puertocho.metrics import classification_scores, rate_with_bound, share_with_interval
from puertocho.protocol import (Rules, StreamSet, calibration_blockers, choose_rules, false_accepts, join, missed,
                                per_text_detection_share, read_rows, report, rule_candidates, score_stream,
                                total_seconds, utterances_of)
from puertocho.report import plot_det_curve, write_csv_rows, write_json

log = logging.getLogger("evaluate")


def load_streams(folder: Path, names: list[str], rows: list[dict], head: Path, initial, n_frames,
                 seconds: dict[str, float] | None = None) -> StreamSet:
    """Score the named streams and attach the utterance rows that belong to each; `seconds` (name -> length
    as made, from streams.csv) sets the hours false accepts are counted against."""
    parts = []
    for name in names:
        scores, vad = score_stream(folder / f"{name}.npz", head, initial, n_frames)
        own = [r for r in rows if r["stream"] == name]
        parts.append((scores, vad, utterances_of(own), own))
    return join(parts, sum(seconds[name] for name in names) if seconds is not None else None)


def run(params, args):
    head, test_dir, features = Path(args.model), Path(args.test), Path(args.features)
    initial = FrontEnd().initial_embeddings()
    n_frames = params.model.n_frames
    rules = Rules.from_params(params.evaluate)

    positive_rows = read_rows(test_dir / "positive" / "utterances.csv")
    test_positive = load_streams(test_dir / "positive", sorted({r["stream"] for r in positive_rows}), positive_rows,
                                 head, initial, n_frames)
    streams = read_rows(test_dir / "negative" / "streams.csv")
    confusable_rows = read_rows(test_dir / "negative" / "confusable_utterances.csv")
    negative, seconds = {}, {row["stream"]: float(row["seconds"]) for row in streams}
    for row in streams:
        negative.setdefault((row["role"], row["kind"]), []).append(row["stream"])
    scored = {key: load_streams(test_dir / "negative", names, confusable_rows, head, initial, n_frames, seconds)
              for key, names in negative.items()}
    calibration_parts = [s for (role, _), s in scored.items() if role == "calibration"]
    calibration_negative = join([(s.scores, s.vad, [], []) for s in calibration_parts], total_seconds(calibration_parts))
    test_by_kind = {kind: s for (role, kind), s in scored.items() if role == "test"}
    confusables = test_by_kind.get("confusable", StreamSet(np.empty(0), np.empty(0)))

    saved = np.load(features / "calibration_positive.npz")
    calibration_scores, calibration_vad = score_stream(features / "calibration_positive.npz", head, initial, n_frames)
    calibration_positive = StreamSet(calibration_scores, calibration_vad,
                                     utterances_of([{"start_chunk": s, "end_chunk": e}
                                                    for s, e in zip(saved["starts"], saved["ends"])]))
    calibration_aim = params.data.target_fpr if params.evaluate.calibration_target_fpr is None \
        else params.evaluate.calibration_target_fpr
    candidates = rule_candidates(rules, params.evaluate.vad_threshold_choices, params.evaluate.patience_frames_choices)
    rules_search = None
    if len(candidates) > 1:
        rules, rules_search = choose_rules(calibration_positive, calibration_negative, candidates, calibration_aim)
        log.info("Runtime rules chosen on the calibration alone, from %d pairs: VAD %g, patience %d",
                 len(candidates), rules.vad_threshold, rules.patience_frames)
    metrics, det_rows = report(calibration_positive, calibration_negative, test_positive, test_by_kind, confusables,
                               rules, params.data.target_fpr, params.data.target_fnr,
                               trained_engines=frozenset(params.data.engines) - {"espeak"},
                               calibration_false_accepts_per_hour=calibration_aim)
    if rules_search is not None:
        metrics["calibration"]["rules_search"] = rules_search
    if params.evaluate.calibration_positive_stream != "plain":
        metrics["calibration"]["positive_stream"] = params.evaluate.calibration_positive_stream
    metrics["calibration"]["next_lower_threshold"] = calibration_blockers(
        {kind: s for (role, kind), s in scored.items() if role == "calibration"}, metrics["threshold"], rules)
    metrics["held_out_real"] = held_out_real(features, head, initial, n_frames, metrics["threshold"], rules)
    validation = np.load(features / "validation.npz")
    metrics["validation_windows"] = classification_scores(validation["labels"],
                                                          onnx_scores(head, validation["windows"]), metrics["threshold"])
    write_json(args.metrics, metrics)
    write_json(args.confusables, {"threshold": metrics["threshold"],
                                  "per_text": per_text_detection_share(confusables, metrics["threshold"], rules)})
    write_csv_rows(args.curve, det_rows)
    plot_det_curve(args.curve_png, det_rows, metrics, params.data.target_fpr, params.data.target_fnr)
    log.info("Test (threshold %.4g from calibration): %.2f false accepts/h (95%% upper %.2f) over %.2f h; "
             "false-reject rate %.1f%% [%.1f, %.1f] over %d utterances", metrics["threshold"],
             metrics["false_accepts_per_hour"], metrics["false_accepts_per_hour_upper95"], metrics["test"]["hours"],
             100 * metrics["false_reject_rate"], 100 * metrics["false_reject_rate_low95"],
             100 * metrics["false_reject_rate_high95"], metrics["test"]["utterances"])


def held_out_real(features, head, initial, n_frames, threshold, rules):
    """Figures on real people kept out of training, when configured (README "Real speech", your recordings):
    false accepts per hour on held-out real speakers, false rejects on your held-out takes."""
    result = {}
    if (features / "test_real_speech.npz").exists():
        scores, vad = score_stream(features / "test_real_speech.npz", head, initial, n_frames)
        streams = StreamSet(scores, vad)
        result["real_speech"] = rate_with_bound(false_accepts(streams, threshold, rules), streams.hours)
    if (features / "test_house_positive.npz").exists():
        saved = np.load(features / "test_house_positive.npz")
        scores, vad = score_stream(features / "test_house_positive.npz", head, initial, n_frames)
        streams = StreamSet(scores, vad, utterances_of([{"start_chunk": s, "end_chunk": e}
                                                        for s, e in zip(saved["starts"], saved["ends"])]))
        counts = missed(streams, threshold, rules)
        result["house_positive"] = share_with_interval(int(np.sum(counts == 0)), len(counts))
    return result


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="exported head (ONNX)")
    parser.add_argument("--test", required=True, help="make_test's folder")
    parser.add_argument("--features", required=True, help="features' folder (calibration positives, validation)")
    parser.add_argument("--metrics", required=True, help="headline, bounds and breakdowns (JSON, DVC metrics)")
    parser.add_argument("--confusables", required=True, help="per-text detection shares on test confusables (JSON)")
    parser.add_argument("--curve", required=True, help="DET curve on the test streams (CSV, DVC plot)")
    parser.add_argument("--curve-png", required=True, help="DET curve picture (PNG)")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
