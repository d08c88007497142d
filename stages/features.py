"""Stage features: augmented 2 s examples -> openWakeWord embedding windows (n, 16, 96), split by voice and
text (by speaker for real people, by clip for noise); plus the validation wake phrases as one stream for
the evaluate stage's calibration."""
import csv
import json
import logging
from pathlib import Path

import numpy as np

from puertocho import audio
from puertocho.cli import stage_main
from puertocho.calibration import conditioned_positive_stream
from puertocho.evaluation import positive_stream, vad_per_chunk
from puertocho.examples import (assign_splits, background_pool, build_windows, image_source_rooms, load_clips,
                                load_rirs, talk_stream_windows)
from puertocho.features import FrontEnd, sha256_of
from puertocho.real_speech import open_precomputed, sample_precomputed
from puertocho.report import data_report, write_json
from puertocho.sources import read_manifest
from puertocho.test_set import room_bank

log = logging.getLogger("features")
# How each kind of clip sits in its window, and its label.
KINDS = {"positive": ("end", 1.0), "confusable": ("end", 0.0), "speech": ("crop", 0.0), "noise": ("crop", 0.0)}


def run(params, args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folders = {"positive": Path(args.positive), "negative": Path(args.negative)}
    records = {name: [r for r in read_manifest(folder / "manifest.csv") if r.kind != "long"]
               for name, folder in folders.items()}
    precomputed = params.data.precomputed_negatives
    if precomputed.path:
        open_precomputed(precomputed.path, params.model.n_frames)  # a wrong file fails now, not after the features
    front_end = FrontEnd()
    augment = params.augment
    # Rooms: measured (augment.rir_dir), image-source (augment.image_source_rooms), or else statistical tails.
    measured_rirs = load_rirs(augment.rir_dir) or image_source_rooms(augment.image_source_rooms, augment.rt60_range,
                                                                     augment.seed + 1000)
    split_rows = []
    arrays = {"train": ([], [], []), "validation": ([], [], [])}
    kind_names = list(KINDS) + (["talk_stream"] if augment.talk_stream_hours > 0 else []) + (
        ["precomputed"] if precomputed.path else [])
    clips_by_kind = {}
    for name, folder in folders.items():
        splits = assign_splits(records[name], params.data.validation_fraction, params.data.seed,
                               params.data.local_test_fraction)
        clips = load_clips(folder, records[name])
        for record, split, clip in zip(records[name], splits, clips):
            split_rows.append({"set": name, "path": record.path, "kind": record.kind, "split": split})
            clips_by_kind.setdefault((record.kind, split), []).append(clip)
    for split in ("train", "validation"):
        # Backgrounds come from the same split's noise and speech, so validation hears nothing trained on.
        if not clips_by_kind.get(("noise", split), []) + clips_by_kind.get(("speech", split), []):
            raise FileNotFoundError(f"no noise or speech clips in the {split} split: raise data.noise_count")
        # Plus babble, music and TV made from the same split (augment.*_backgrounds).
        backgrounds = background_pool(clips_by_kind.get(("noise", split), []), clips_by_kind.get(("speech", split), []),
                                      augment, augment.seed + 500 + (0 if split == "train" else 1))
        for kind_index, (kind, (placement, label)) in enumerate(KINDS.items()):
            clips = clips_by_kind.get((kind, split), [])
            if not clips:
                log.warning("No %s clips in the %s split", kind, split)
                continue
            seed = params.augment.seed + 100 * kind_index + (0 if split == "train" else 1)
            # Validation negatives get several crops each: checkpoint selection reads their top 0.1-1%.
            copies = params.augment.validation_negative_copies if split == "validation" and label == 0.0 else None
            if split == "train" and kind == "positive":
                copies = augment.positive_copies_per_clip
            # Wake phrases and confusables alike may be followed by the split's talk (augment.talk_after_probability)
            windows = build_windows(front_end, clips, placement, backgrounds, augment, params.model.n_frames,
                                    seed, desc=f"{split} {kind}", measured_rirs=measured_rirs, copies=copies,
                                    talk_after=clips_by_kind.get(("speech", split), []) if placement == "end" else None)
            arrays[split][0].append(windows)
            arrays[split][1].append(np.full(len(windows), label, np.float32))
            arrays[split][2].append(np.full(len(windows), kind_index, np.int8))
        if augment.talk_stream_hours > 0:
            # Validation gets hours in the split's proportion, so selection reads stream windows too.
            fraction = params.data.validation_fraction
            hours = augment.talk_stream_hours * (1.0 if split == "train" else fraction / max(1e-9, 1.0 - fraction))
            talk = clips_by_kind.get(("speech", split), []) + clips_by_kind.get(("confusable", split), [])
            windows = talk_stream_windows(front_end, talk, backgrounds, augment, params.model.n_frames,
                                          augment.seed + 700 + (0 if split == "train" else 1), hours,
                                          augment.talk_stream_stride_frames, measured_rirs=measured_rirs,
                                          desc=f"{split} talk streams")
            arrays[split][0].append(windows)
            arrays[split][1].append(np.zeros(len(windows), np.float32))
            arrays[split][2].append(np.full(len(windows), kind_names.index("talk_stream"), np.int8))
        count = precomputed.train_windows if split == "train" else precomputed.validation_windows
        if precomputed.path and count:
            # openWakeWord's windows are already features: appended as negatives, no augmentation.
            windows = sample_precomputed(precomputed.path, params.model.n_frames, count, split,
                                         params.data.validation_fraction, params.data.seed)
            arrays[split][0].append(windows)
            arrays[split][1].append(np.zeros(len(windows), np.float32))
            arrays[split][2].append(np.full(len(windows), kind_names.index("precomputed"), np.int8))
    counts = {}
    for split, (windows, labels, kinds) in arrays.items():
        if not windows:
            raise FileNotFoundError(f"the {split} split is empty: raise the clip counts in params.yaml (data.*)")
        np.savez(out / f"{split}.npz", windows=np.concatenate(windows), labels=np.concatenate(labels),
                 kinds=np.concatenate(kinds), kind_names=np.array(kind_names))
        labels_all = np.concatenate(labels)
        counts[split] = {"windows": int(len(labels_all)), "positive": int(labels_all.sum()),
                         "negative": int(len(labels_all) - labels_all.sum())}
    write_calibration_stream(out / "calibration_positive.npz", clips_by_kind, params, front_end)
    write_held_out_streams(out, clips_by_kind, params, front_end)
    with open(out / "split.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["set", "path", "kind", "split"])
        writer.writeheader()
        writer.writerows(split_rows)
    n_rejected = sum(max(0, len((folder / "rejects.csv").read_text().splitlines()) - 1)
                     for folder in folders.values() if (folder / "rejects.csv").exists())
    report = data_report(records, n_rejected, counts)
    if precomputed.path:
        report["precomputed_negatives"] = {"path": precomputed.path, "train_windows": precomputed.train_windows,
                                           "validation_windows": precomputed.validation_windows}
    write_json(args.data_report, report)
    info = {"counts": counts, "melspec_sha256": sha256_of(front_end.melspec_path),
            "embedding_sha256": sha256_of(front_end.embedding_path)}
    (out / "info.json").write_text(json.dumps(info, indent=2))
    log.info("Features: %s", counts)


def write_calibration_stream(path, clips_by_kind, params, front_end):
    """The validation split's wake phrases (training voices, never trained on) one after another in the
    validation backgrounds, or each in a drawn room, distance and background (evaluate.calibration_positive_stream):
    embeddings and VAD per chunk, and where each phrase sits (chunk indices)."""
    clips = [audio.to_float(c) for c in clips_by_kind.get(("positive", "validation"), [])]
    if not clips:
        raise FileNotFoundError("no validation positives to calibrate the threshold on: raise data.positive_count")
    backgrounds = [audio.to_float(c) for c in
                   clips_by_kind.get(("noise", "validation"), []) + clips_by_kind.get(("speech", "validation"), [])]
    rng = np.random.default_rng(params.data.seed + 10)
    settings = params.evaluate
    if settings.calibration_positive_stream == "conditions":
        speech = [audio.to_float(c) for c in clips_by_kind.get(("speech", "validation"), [])]
        if not speech:
            raise FileNotFoundError("evaluate.calibration_positive_stream=conditions builds babble and TV from the "
                                    "validation split's sentences, and it has none: raise data.speech_count")
        rooms = room_bank(settings.calibration_rooms, settings.calibration_rt60_range,
                          np.random.default_rng(params.data.seed + 11))
        stream, utterances = conditioned_positive_stream(clips, speech, settings, rooms, rng)
    else:
        stream, utterances = positive_stream(clips, settings.calibration_gap_seconds,
                                             settings.calibration_snr_db_range, rng, backgrounds)
    log.info("Calibration wake phrases: %d (%s), %.1f min of stream", len(utterances),
             settings.calibration_positive_stream, len(stream) / audio.SAMPLE_RATE / 60)
    np.savez(path, embeddings=front_end.stream_embeddings(audio.to_int16(stream)), vad=vad_per_chunk(stream),
             starts=np.array([u.start for u in utterances]), ends=np.array([u.end for u in utterances]))


def write_held_out_streams(out, clips_by_kind, params, front_end):
    """Material kept out of training that only exists when the user configured it: real speakers held out
    (test_real_speech.npz, negatives) and the user's own held-out takes (test_house_positive.npz). The
    evaluate stage reports each apart from the synthetic test set; nothing is written when there is none."""
    rng = np.random.default_rng(params.data.seed + 20)
    talk = [audio.to_float(c) for kind in ("speech", "confusable") for c in clips_by_kind.get((kind, "test"), [])]
    for path in (out / "test_real_speech.npz", out / "test_house_positive.npz"):
        path.unlink(missing_ok=True)
    if talk:
        stream, _ = positive_stream(talk, 0.5, [30.0, 40.0], rng)
        np.savez(out / "test_real_speech.npz", embeddings=front_end.stream_embeddings(audio.to_int16(stream)),
                 vad=vad_per_chunk(stream))
    house = [audio.to_float(c) for c in clips_by_kind.get(("positive", "test"), [])]
    if house:
        stream, utterances = positive_stream(house, params.evaluate.calibration_gap_seconds, [20.0, 30.0], rng)
        np.savez(out / "test_house_positive.npz", embeddings=front_end.stream_embeddings(audio.to_int16(stream)),
                 vad=vad_per_chunk(stream), starts=np.array([u.start for u in utterances]),
                 ends=np.array([u.end for u in utterances]))


def add_arguments(parser):
    parser.add_argument("--data-report", required=True, help="balance report (DVC metrics)")
    parser.add_argument("--positive", required=True, help="generate_positive's folder")
    parser.add_argument("--negative", required=True, help="generate_negative's folder")
    parser.add_argument("--out", required=True, help="output folder (train.npz, validation.npz, calibration)")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
