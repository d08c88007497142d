"""Neural TTS engines (Piper, Kokoro): clips per second in one process, and through synthesize_many's pool."""
from __future__ import annotations

import json
import os
import sys

from benchmarks.common import Config, summary, timed_runs

TEXTS = {"word": "Puertocho", "sentence": "Puertocho, enciende la luz de la cocina"}
VOICES = {"piper": ["joe"], "kokoro": ["jf_alpha", "jm_kumo", "jf_nezumi*0.5+jm_kumo*0.5"]}


def _utterances(engine: str, text: str, n: int) -> list:
    from puertocho.tts import Utterance
    voices = VOICES[engine]
    # A different option per clip, so no two clips are the same work (nothing is cached inside the engines).
    option = "length_scale" if engine == "piper" else "speed"
    return [Utterance(engine, voices[i % len(voices)], text, options=((option, round(0.9 + 0.2 * i / n, 4)),))
            for i in range(n)]


def _measure_engine(name: str, n_clips: int, repeats: int, pool_workers: int) -> dict:
    from puertocho.neural_tts import NEURAL_ENGINES, synthesize_many
    from puertocho.tts import EngineUnavailable
    factory = NEURAL_ENGINES[name]
    try:
        engine = factory()
    except EngineUnavailable as error:
        return {"status": f"unavailable: {error}"}
    result: dict = {}
    for label, text in TEXTS.items():
        utterances = _utterances(name, text, n_clips)
        produced = []

        def batch() -> None:
            produced.append(sum(len(engine.synthesize(u)) for u in utterances) / 16000)

        entry = summary(timed_runs(batch, repeats, warmup=1))
        entry["clips"] = n_clips
        entry["clips_per_second"] = round(n_clips / entry["median_s"], 3)
        entry["real_time_factor"] = round(produced[-1] / entry["median_s"], 2)
        result[label] = entry
    if pool_workers > 1:
        # Pool start-up (spawn + loading the model per worker) is included: it is what a stage pays.
        utterances = _utterances(name, TEXTS["word"], 4 * n_clips)
        entry = summary(timed_runs(lambda: synthesize_many(factory, utterances, pool_workers), 1, warmup=0))
        entry["clips"] = len(utterances)
        entry["workers"] = pool_workers
        entry["clips_per_second"] = round(len(utterances) / entry["median_s"], 3)
        result["word_pool"] = entry
    return result


def run(config: Config) -> dict:
    n_clips = 2 if config.quick else 12
    workers = 0 if config.quick else max(1, os.cpu_count() or 1)
    return {name: _measure_engine(name, n_clips, config.repeats, workers) for name in ("piper", "kokoro")}


def rows(result: dict) -> list[tuple[str, str, object, str]]:
    out = []
    for engine, entries in result.items():
        for label, entry in entries.items():
            if isinstance(entry, dict) and "clips_per_second" in entry:
                out.append(("tts", f"{engine} {label}", entry["clips_per_second"], "clips/s"))
    return out


if __name__ == "__main__":
    measured = run(Config(repeats=3, quick="--quick" in sys.argv))
    print(json.dumps(measured, indent=1))
    for row in rows(measured):
        print(*row)
