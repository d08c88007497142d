"""Stage generate_negative: confusable words, everyday speech and coloured noise for training and validation."""
import csv
import dataclasses
import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np

from puertocho import hf_speech, lexicon, real_speech, text
from puertocho.cli import stage_main
from puertocho.espeak_voices import with_random_voices
from puertocho.sources import (check_minimums, espeak_plan, local_background, noise_clips, synthesize_all,
                               training_voice_ids, training_voice_pool, write_manifest, write_speech_clips)
from puertocho.test_set import voice_plan
from puertocho.tts import CachedSynthesizer, EngineUnavailable, default_workers

log = logging.getLogger("generate_negative")


def run(params, args):
    data = params.data
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(data.seed + 1)
    synthesizer = CachedSynthesizer(args.cache)
    voices = training_voice_ids(data)

    # Words and near-misses, and (data.confusable_sentence_share) confusable words inside running sentences.
    in_sentences = int(round(data.confusable_sentence_share * data.confusable_count))
    confusables = [rng.choice(text.confusable_texts()) for _ in range(data.confusable_count - in_sentences)]
    confusables += [rng.choice(text.confusable_sentences()) for _ in range(in_sentences)]
    pool = text.everyday_sentences()  # the test set speaks its own pool (text.test_sentences)
    sentences = rng.sample(pool, min(data.speech_count, len(pool)))
    # Plus runs of frequent words (data.lexicon_speech_count): the templates' hundred words are too few sounds.
    sentences += lexicon.word_runs(data.lexicon_speech_count, random.Random(data.seed + 2), data.lexicon_size)
    # data.espeak_random_voice_share: the drawn espeak voices speak negatives too, as many as wake phrases, so
    # that a new voice is not itself a sign of the wake word.
    confusable_plan = with_random_voices(negative_plan(confusables, data, rng, voices, data.neural_confusable_share),
                                         data.espeak_random_voice_share, f"{data.seed}-confusable")
    speech_plan = with_random_voices(negative_plan(sentences, data, rng, voices, data.neural_speech_share),
                                     data.espeak_random_voice_share, f"{data.seed}-speech")
    records, rejects = synthesize_all(confusable_plan, "confusable", out, synthesizer, "confusable", 0.2, 6.0,
                                      args.workers)
    speech, speech_rejects = synthesize_all(speech_plan, "speech", out, synthesizer, "speech", 0.5, 12.0,
                                            args.workers)
    records += speech
    rejects += speech_rejects
    records += noise_clips(data.noise_count, data.noise_seconds_range, np.random.default_rng(data.seed), out)
    records += real_speech_records(data, out, Path(args.cache).parent / "real_speech", rejects)
    check_minimums(records, ["confusable", "speech", "noise"], data.min_clips_per_kind)

    write_manifest(out / "manifest.csv", records)
    with open(out / "rejects.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "source", "reason"])
        writer.writeheader()
        writer.writerows(rejects)
    kinds = sorted({r.kind for r in records})
    summary = {kind: {"clips": sum(r.kind == kind for r in records),
                      "hours": round(sum(r.duration_s for r in records if r.kind == kind) / 3600, 4)} for kind in kinds}
    summary["rejected"] = len(rejects)
    if real_speech.summarize_sources(records):
        summary["real_speech"] = real_speech.summarize_sources(records)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("Negative clips: %s", summary)


def negative_plan(texts, data, rng, voices, neural_share):
    """espeak for every text, or, when data.engines has neural engines (piper, kokoro), that share of the
    texts spoken by them: a model that hears only espeak talk as negative fires on other voices' talk."""
    neural = [name for name in data.engines if name in ("piper", "kokoro")]
    if not neural or neural_share <= 0:
        return espeak_plan(texts, data, rng, voices)
    chosen = [rng.random() < neural_share for _ in texts]
    spoken_by_espeak = espeak_plan([t for t, c in zip(texts, chosen) if not c], data, rng, voices)
    spoken_by_neural = voice_plan([t for t, c in zip(texts, chosen) if c], {name: 1.0 for name in neural},
                                  training_voice_pool(data), rng)
    return spoken_by_espeak + spoken_by_neural


def real_speech_records(data, out, cache, rejects):
    """Real people (README "Real speech"): each configured source, its speakers partly held out of training,
    plus the user's own background audio. Nothing here touches the network unless a hub source is enabled."""
    loaded = []  # (clips, engine, kind)
    for section, settings, kind in (("hf_speech", data.hf_speech, "speech"),
                                    ("spoken_words.hub", data.spoken_words.hub, "confusable")):
        if not settings.enabled:
            continue
        try:
            clips, source_rejects = hf_speech.load_speech(settings, cache, data.seed, section, kind)
            loaded.append((clips, settings.name, kind))
            rejects += source_rejects
        except EngineUnavailable as error:
            if settings.required:
                raise
            log.warning("Going on without data.%s: %s", section, error)
    if data.common_voice.dir:
        clips, source_rejects = real_speech.load_common_voice(data.common_voice, cache, data.seed)
        loaded.append((clips, "cv", "speech"))
        rejects += source_rejects
    if data.spoken_words.dir:
        clips, source_rejects = real_speech.load_spoken_words(data.spoken_words, cache, data.seed)
        loaded.append((clips, "mswc", "confusable"))
        rejects += source_rejects
    records = []
    for clips, engine, kind in loaded:
        records += write_speech_clips(clips, engine, out, f"{engine}_{kind}", kind)
    _, test = real_speech.split_speakers_for_test(records, data.real_speech_test_fraction, data.seed)
    test_paths = {r.path for r in test}
    records = [dataclasses.replace(r, holdout=r.path in test_paths) for r in records]
    if data.local_negative_dir:
        clips, local_rejects = local_background(Path(data.local_negative_dir))
        rejects += local_rejects
        records += write_speech_clips(clips, "local", out, "local")
    return records


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder (clips/, manifest.csv)")
    parser.add_argument("--cache", default=".cache/tts", help="TTS cache, reused across runs")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="synthesis processes (the output does not depend on it)")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
