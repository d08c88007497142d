"""Stage make_test: the test set, from the `test` params alone: held-out voices saying the wake phrases in
hard conditions, hours of held-out talk, confusables and noise as continuous streams, a calibration share
kept apart, and the runtime's embeddings and VAD scores of every stream (so evaluate only runs the head)."""
import csv
import dataclasses
import json
import logging
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from puertocho import audio, text
from puertocho.cli import stage_main
from puertocho.evaluation import vad_per_chunk
from puertocho.features import FrontEnd
from puertocho.sources import maybe_new_speaker
from puertocho.test_set import (chunk_index, condition_row, draw_condition, negative_hours_by_kind, negative_stream,
                                positive_segment, room_bank, voice_family, voice_plan)
from puertocho.tts import CachedSynthesizer, default_workers

log = logging.getLogger("make_test")
STREAM_MINUTES = 10.0
ROLES = ("calibration", "test")
EXTRA_CALIBRATION_STREAM = 1   # the extra calibration's random streams: seeded by (test.seed, this)


def synthesize(plan, synthesizer, workers, desc, min_s, max_s, transform_probability=0.0, seed=0):
    """[(utterance, trimmed clip)] for the planned utterances that pass the quality checks; a share of them
    spoken by a transformed voice (the utterance's voice then ends in '~vt')."""
    kept = []
    for index, (utterance, samples) in enumerate(tqdm(zip(plan, synthesizer.iter_synthesize(plan, workers)),
                                                      total=len(plan), desc=desc, unit="clip", mininterval=2)):
        if transform_probability > 0 and len(samples):
            samples, changed = maybe_new_speaker(samples, transform_probability, [seed, index])
            if changed:
                utterance = dataclasses.replace(utterance, voice=f"{utterance.voice}~vt")
        samples = audio.trim_silence(samples)
        problem = audio.quality_problem(samples, min_s, max_s)
        if problem:
            log.warning("Test %s: dropped %s:%s %r (%s)", desc, utterance.engine, utterance.voice, utterance.text, problem)
            continue
        kept.append((utterance, samples))
    return kept


def save_stream(out, name, stream, front_end):
    """The stream as FLAC plus its per-chunk embeddings and VAD scores (npz)."""
    audio.write_clip(out / f"{name}.flac", stream)
    samples = audio.to_int16(stream)
    # The VAD steps through the stream in small sequential calls on one core, leaving the other idle; run beside
    # the embedding model, it uses that idle time (the same scores; about a tenth off the streams' time).
    with ThreadPoolExecutor(max_workers=1) as pool:
        vad = pool.submit(vad_per_chunk, stream)
        embeddings = front_end.stream_embeddings(samples)
        np.savez(out / f"{name}.npz", embeddings=embeddings, vad=vad.result())


def run(params, args):
    test = params.test
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "positive").mkdir(parents=True)
    (out / "negative").mkdir(parents=True)
    rng = random.Random(test.seed)
    np_rng = np.random.default_rng(test.seed)
    synthesizer = CachedSynthesizer(args.cache)
    front_end = FrontEnd()
    positive_weights = {v.engine: v.weight for v in test.voices}
    speech_weights = {v.engine: v.speech_weight for v in test.voices}

    wake = text.test_wake_texts(rng, test.positive_count, test.carrier_share)
    in_carrier = {phrase: carrier for phrase, carrier in wake}
    positives = synthesize(voice_plan([t for t, _ in wake], positive_weights, test, rng), synthesizer, args.workers,
                           "positives", 0.2, 6.0, test.voice_transform_probability, test.seed)
    pool = rng.sample(text.test_sentences(), min(test.sentence_pool, len(text.test_sentences())))
    sentences = synthesize(voice_plan(pool, speech_weights, test, rng), synthesizer, args.workers, "sentences", 0.5, 15.0)
    confusable_texts = [rng.choice(text.TEST_CONFUSABLE_SENTENCES) for _ in range(max(20, test.sentence_pool // 10))]
    confusables = synthesize(voice_plan(confusable_texts, speech_weights, test, rng), synthesizer, args.workers,
                             "confusables", 0.3, 8.0)
    rooms = room_bank(test.rooms, test.rt60_range, np_rng)

    # Calibration and test never share a sentence clip: the pools are cut in proportion to their hours.
    share = test.calibration_hours / (test.calibration_hours + test.negative_hours)
    pools = {role: {} for role in ROLES}
    for name, clips in (("sentences", sentences), ("confusables", confusables)):
        cut = max(1, int(round(len(clips) * share)))
        pools["calibration"][name], pools["test"][name] = clips[:cut], clips[cut:] or clips[:cut]
    test_speech = [clip for _, clip in pools["test"]["sentences"]]

    # Positive streams: each wake phrase in its own drawn condition, one after another.
    rows, stream, stream_index, samples_so_far = [], [], 0, 0

    def flush():
        nonlocal stream, stream_index, samples_so_far
        if stream:
            save_stream(out / "positive", f"stream_{stream_index:03d}", np.concatenate(stream), front_end)
            stream, stream_index, samples_so_far = [], stream_index + 1, 0
    for utterance, clip in tqdm(positives, desc="positive streams", unit="clip", mininterval=2):
        condition, room = draw_condition(test, rooms, np_rng)
        segment, speech_start, speech_end = positive_segment(clip, condition, room, test.positive_gap_seconds,
                                                             test_speech, np_rng)
        rows.append({"stream": f"stream_{stream_index:03d}", "start_chunk": chunk_index(samples_so_far + speech_start),
                     "end_chunk": chunk_index(samples_so_far + speech_end), "engine": utterance.engine,
                     "voice": utterance.voice, "family": voice_family(utterance), "text": utterance.text,
                     "in_carrier": in_carrier.get(utterance.text, False), **condition_row(condition)})
        stream.append(segment)
        samples_so_far += len(segment)
        if samples_so_far >= STREAM_MINUTES * 60 * audio.SAMPLE_RATE:
            flush()
    flush()
    write_csv(out / "positive" / "utterances.csv", rows)

    # Negative streams per role and kind, in files of at most STREAM_MINUTES.
    stream_rows, confusable_rows = [], []
    hours = {"calibration": test.calibration_hours, "test": test.negative_hours}
    for role in ROLES:
        written = negative_streams(out / "negative", role, role, hours[role], pools[role]["sentences"],
                                   pools[role]["confusables"], test, rooms, np_rng, front_end)
        stream_rows += written[0]
        confusable_rows += written[1]

    # Extra calibration hours come last, from their own random streams and sentences the test never voices:
    # the streams above do not depend on test.extra_calibration_hours.
    if test.extra_calibration_hours > 0:
        extra_sentences, extra_confusables = extra_calibration_clips(test, pool, speech_weights, synthesizer,
                                                                     args.workers)
        written = negative_streams(out / "negative", "calibration", "calibration_extra", test.extra_calibration_hours,
                                   extra_sentences, extra_confusables, test, rooms,
                                   np.random.default_rng([test.seed, EXTRA_CALIBRATION_STREAM]), front_end)
        stream_rows += written[0]
        confusable_rows += written[1]
    write_csv(out / "negative" / "streams.csv", stream_rows)
    write_csv(out / "negative" / "confusable_utterances.csv", confusable_rows)
    summary = {"positives": len(rows), "positive_families": sorted({r["family"] for r in rows}),
               "negative_hours": {role: round(sum(r["seconds"] for r in stream_rows if r["role"] == role) / 3600, 4)
                                  for role in ROLES},
               "sentences": len(sentences), "confusable_utterances": len(confusable_rows), "rooms": len(rooms)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("Test set: %s (TTS cache: %d hits, %d misses)", summary, synthesizer.hits, synthesizer.misses)


def extra_calibration_clips(test, used_sentences, speech_weights, synthesizer, workers):
    """Sentence and confusable clips for the extra calibration hours: held-out sentences outside the test's
    pool, in the test's voices, in proportion to the hours (the pool covers calibration_hours + negative_hours)."""
    rng = random.Random(f"{test.seed}:extra-calibration")
    used = set(used_sentences)
    unused = [sentence for sentence in text.test_sentences() if sentence not in used]
    count = max(10, int(round(test.sentence_pool * test.extra_calibration_hours
                              / (test.calibration_hours + test.negative_hours))))
    texts = rng.sample(unused, min(count, len(unused)))
    sentences = synthesize(voice_plan(texts, speech_weights, test, rng), synthesizer, workers,
                           "extra calibration sentences", 0.5, 15.0)
    confusable_texts = [rng.choice(text.TEST_CONFUSABLE_SENTENCES) for _ in range(max(20, count // 10))]
    confusables = synthesize(voice_plan(confusable_texts, speech_weights, test, rng), synthesizer, workers,
                             "extra calibration confusables", 0.3, 8.0)
    return sentences, confusables


def negative_streams(folder, role, prefix, hours, sentences, confusables, test, rooms, np_rng, front_end):
    """Write one role's negative streams (talk, confusables, noise) as files of at most STREAM_MINUTES named
    <prefix>_<kind>_<index>; (stream rows, confusable utterance rows)."""
    stream_rows, confusable_rows = [], []
    role_speech = [clip for _, clip in sentences]
    for kind, kind_hours in negative_hours_by_kind(test, hours).items():
        spoken = confusables if kind == "confusable" else sentences
        remaining, index = kind_hours * 60, 0
        while remaining > 1e-6:
            minutes = min(STREAM_MINUTES, remaining)
            name = f"{prefix}_{kind}_{index:03d}"
            samples, placed = negative_stream(kind, int(minutes * 60 * audio.SAMPLE_RATE),
                                              [clip for _, clip in spoken], role_speech, test, rooms, np_rng)
            save_stream(folder, name, samples, front_end)
            stream_rows.append({"stream": name, "role": role, "kind": kind, "seconds": round(minutes * 60, 3)})
            if kind == "confusable":
                confusable_rows += [{"stream": name, "start_chunk": chunk_index(start), "end_chunk": chunk_index(end),
                                     "text": spoken[sentence][0].text, "family": voice_family(spoken[sentence][0])}
                                    for start, end, sentence in placed]
            remaining -= minutes
            index += 1
            log.info("Wrote %s (%.1f min)", name, minutes)
    return stream_rows, confusable_rows


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder (positive/, negative/, summary.json)")
    parser.add_argument("--cache", default=".cache/tts", help="TTS cache, reused across runs")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="synthesis processes (the output does not depend on it)")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
