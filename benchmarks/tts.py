"""TTS: clips per second per engine, straight through the engine (no cache)."""
from __future__ import annotations

import itertools

from benchmarks.common import Config, summary, timed_runs


def _utterances(engine: str, n: int, voices: list[str]) -> list:
    from puertocho.tts import Utterance
    texts = ["Puertocho", "Hola Puertocho", "Oye Puertocho", "Puertocho, por favor"]
    rates = [110, 160, 210]
    pitches = [25, 50, 75]
    combos = itertools.cycle(itertools.product(texts, voices, rates, pitches))
    return [Utterance(engine=engine, voice=voice, text=text, rate=rate if engine == "espeak" else 0,
                      pitch=pitch) for text, voice, rate, pitch in itertools.islice(combos, n)]


def _measure(engine, utterances: list, repeats: int) -> dict:
    produced = []

    def batch() -> None:
        produced.append(sum(len(engine.synthesize(u)) for u in utterances) / 16000)

    seconds = timed_runs(batch, repeats, warmup=1)
    result = summary(seconds)
    result["clips"] = len(utterances)
    result["clips_per_second"] = round(len(utterances) / result["median_s"], 3)
    result["audio_seconds_per_second"] = round(produced[-1] / result["median_s"], 3)
    return result


def run(config: Config) -> dict:
    from puertocho.tts import EngineUnavailable, EspeakEngine, GttsEngine
    n_clips = 2 if config.quick else 20
    results: dict = {"clips_per_run": n_clips}
    try:
        espeak = EspeakEngine()
        results["espeak"] = _measure(espeak, _utterances("espeak", n_clips, ["es", "es-419", "es+f3", "es-419+m3"]),
                                     config.repeats)
    except EngineUnavailable as error:
        results["espeak"] = {"status": f"unavailable: {error}"}
    try:
        gtts = GttsEngine()
        gtts.synthesize(_utterances("gtts", 1, ["es"])[0])  # one probe: offline fails here, in milliseconds
        results["gtts"] = _measure(gtts, _utterances("gtts", 1 if config.quick else 5, ["es", "com.mx"]),
                                   min(config.repeats, 3))
    except EngineUnavailable:
        results["gtts"] = {"status": "unavailable offline"}
    except ImportError as error:
        results["gtts"] = {"status": f"not installed ({error})"}
    return results


def rows(result: dict) -> list[tuple[str, str, object, str]]:
    out = []
    for engine in ("espeak", "gtts"):
        entry = result.get(engine, {})
        if "clips_per_second" in entry:
            out.append(("tts", f"{engine} (no cache)", entry["clips_per_second"], "clips/s"))
            out.append(("tts", f"{engine} audio made", entry["audio_seconds_per_second"], "audio s per wall s"))
        else:
            out.append(("tts", engine, entry.get("status", "not run"), ""))
    return out
