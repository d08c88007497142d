"""Stage generate_positive: TTS clips of the wake phrases (+ the user's recordings) with a manifest."""
import csv
import json
import logging
import random
import shutil
from pathlib import Path

from puertocho.cli import stage_main
from puertocho.engine_shares import split_by_weight
from puertocho.espeak_voices import with_random_voices
from puertocho.sources import (training_voice_ids, training_voice_pool, available_engines, check_minimums, espeak_plan, gtts_plan, local_recordings,
                               synthesize_all, weighted_texts, write_manifest)
from puertocho.test_set import voice_plan
from puertocho.tts import CachedSynthesizer, default_workers

log = logging.getLogger("generate_positive")


def run(params, args):
    data = params.data
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(data.seed)
    synthesizer = CachedSynthesizer(args.cache)
    engines = available_engines(data, synthesizer)
    texts = weighted_texts(data.phrases, data.positive_count, rng)
    # Engines share the count by data.engine_weights; espeak cycles through every training voice.
    per_engine = split_by_weight(texts, engines, [getattr(data.engine_weights, name) for name in engines])
    plan = []
    if "espeak" in per_engine:
        plan += espeak_plan(per_engine["espeak"], data, rng, training_voice_ids(data))
    if "gtts" in per_engine:
        plan += gtts_plan(per_engine["gtts"], data, rng)
    for name in ("piper", "kokoro"):  # neural voices, when data.engines asks for them
        if name in per_engine:
            plan += voice_plan(per_engine[name], {name: 1.0}, training_voice_pool(data), rng)
    # A share of espeak's phrases (data.espeak_random_voice_share) in newly drawn voices, not the named variants.
    plan = with_random_voices(plan, data.espeak_random_voice_share, f"{data.seed}-positive")
    records, rejects = synthesize_all(plan, "positive", out, synthesizer, "positive", 0.2, 4.0, args.workers,
                                      data.voice_transform_probability, data.seed)
    if data.local_positive_dir:
        local, local_rejects = local_recordings(Path(data.local_positive_dir), out, 0.2, 4.0)
        records += local
        rejects += local_rejects
    check_minimums(records, ["positive"], data.min_clips_per_kind)
    write_manifest(out / "manifest.csv", records)
    with open(out / "rejects.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "source", "reason"])
        writer.writeheader()
        writer.writerows(rejects)
    summary = {"clips": len(records), "rejected": len(rejects), "engines": engines,
               "hours": round(sum(r.duration_s for r in records) / 3600, 4)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("Positive clips: %s (TTS cache: %d hits, %d misses)", summary, synthesizer.hits, synthesizer.misses)


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder (clips/, manifest.csv)")
    parser.add_argument("--cache", default=".cache/tts", help="TTS cache, reused across runs")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="synthesis processes (the output does not depend on it)")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
