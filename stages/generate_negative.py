"""Stage generate_negative: confusable words, everyday speech and coloured noise for training and validation."""
import csv
import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np

from puertocho import hf_speech, text
from puertocho.cli import stage_main
from puertocho.sources import (check_minimums, espeak_plan, local_background, noise_clips, synthesize_all,
                               training_voice_ids, write_manifest, write_speech_clips)
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

    confusables = [rng.choice(text.confusable_texts()) for _ in range(data.confusable_count)]
    pool = text.everyday_sentences()  # the test set speaks its own pool (text.test_sentences)
    sentences = rng.sample(pool, min(data.speech_count, len(pool)))
    records, rejects = synthesize_all(espeak_plan(confusables, data, rng, voices), "confusable", out, synthesizer,
                                      "confusable", 0.2, 6.0, args.workers)
    speech, speech_rejects = synthesize_all(espeak_plan(sentences, data, rng, voices), "speech", out, synthesizer,
                                            "speech", 0.5, 12.0, args.workers)
    records += speech
    rejects += speech_rejects
    records += noise_clips(data.noise_count, data.noise_seconds_range, np.random.default_rng(data.seed), out)
    records += real_speech(data, out, Path(args.cache).parent / "hf", rejects)
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
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("Negative clips: %s", summary)


def real_speech(data, out, cache, rejects):
    """Hugging Face speech when reachable (or a clear fallback), plus the user's own background audio."""
    records = []
    if data.hf_speech.enabled:
        try:
            clips = hf_speech.load_speech(data.hf_speech, cache)
            records += write_speech_clips(clips, "hf", out, "hf")
        except EngineUnavailable as error:
            if data.hf_speech.required:
                raise
            log.warning("Falling back to the offline speech source: %s", error)
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
