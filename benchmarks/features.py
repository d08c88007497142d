"""Features: seconds of audio through openWakeWord's front-end per second of wall time, 1 thread vs all."""
from __future__ import annotations

import os

from benchmarks.common import Config, summary, test_audio, timed_runs


def run(config: Config) -> dict:
    from puertocho.features import FrontEnd, clip_samples_for
    from puertocho.params import load_params
    n_frames = load_params(config.repo / "params.yaml").model.n_frames
    clip_samples = clip_samples_for(n_frames)
    n_clips = 8 if config.quick else 64
    stream_seconds = 10.0 if config.quick else 120.0
    audio = test_audio(n_clips * clip_samples / 16000 + stream_seconds, seed=1)
    clips = audio[: n_clips * clip_samples].reshape(n_clips, clip_samples)
    stream = audio[n_clips * clip_samples:]
    results: dict = {"clip_seconds": clip_samples / 16000, "clips_per_run": n_clips, "stream_seconds": stream_seconds,
                     "n_frames": n_frames}
    for threads in sorted({1, os.cpu_count() or 1}):
        front_end = FrontEnd(n_threads=threads)
        entry = {"provider": front_end._melspec.get_providers()[0]}  # noqa: SLF001 (what the session really uses)
        config.log(f"features: {threads} thread(s)")
        clip_runs = summary(timed_runs(lambda: front_end.clip_windows(clips, n_frames), config.repeats))
        clip_runs["audio_seconds_per_second"] = round(n_clips * clip_samples / 16000 / clip_runs["median_s"], 2)
        clip_runs["clips_per_second"] = round(n_clips / clip_runs["median_s"], 2)
        entry["clip_windows"] = clip_runs
        stream_runs = summary(timed_runs(lambda: front_end.stream_embeddings(stream), config.repeats))
        stream_runs["audio_seconds_per_second"] = round(stream_seconds / stream_runs["median_s"], 2)
        entry["stream_embeddings"] = stream_runs
        results[f"threads_{threads}"] = entry
    return results


def rows(result: dict) -> list[tuple[str, str, object, str]]:
    out = []
    for key in sorted(k for k in result if k.startswith("threads_")):
        threads = key.split("_")[1]
        entry = result[key]
        out.append(("features", f"clip_windows, {threads} thread(s), {result['clip_seconds']:g} s clips",
                    entry["clip_windows"]["audio_seconds_per_second"], "audio s per wall s"))
        out.append(("features", f"stream_embeddings, {threads} thread(s), {result['stream_seconds']:g} s stream",
                    entry["stream_embeddings"]["audio_seconds_per_second"], "audio s per wall s"))
    return out
