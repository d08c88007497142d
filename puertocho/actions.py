"""What the listener does besides printing a detection: run a command (--on-detect) and keep clips (--save-clips).

Neither blocks the audio loop: the command runs in the background (its exit is checked later), and a clip is
written once the seconds after the event have streamed in. Clips are 16 kHz mono 16-bit WAV written with the
standard library, so the Pi needs nothing more.
"""
from __future__ import annotations

import collections
import csv
import logging
import os
import subprocess
import wave
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from puertocho.stream import CHUNK, SAMPLE_RATE

log = logging.getLogger("puertocho.listen")
CLIPS_CSV = "clips.csv"
CSV_FIELDS = ["file", "kind", "score", "threshold", "time_utc", "stream_seconds", "model"]


@dataclass(frozen=True)
class Event:
    """A detection (score >= threshold, debounced) or a near miss (the peak of a run of scores just below)."""
    kind: str             # "detection" or "near_miss"
    score: float
    stream_seconds: float  # end of the chunk that fired, from the start of the stream
    time_utc: str         # wall-clock time of that chunk, ISO 8601
    model: str
    threshold: float


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class CommandRunner:
    """--on-detect CMD: run CMD through /bin/sh for each detection, with PUERTOCHO_SCORE, PUERTOCHO_TIME (ISO
    8601, UTC), PUERTOCHO_STREAM_SECONDS, PUERTOCHO_MODEL and PUERTOCHO_THRESHOLD in its environment."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.running: list[subprocess.Popen] = []
        self.failures = 0

    def run(self, event: Event) -> None:
        self.check()
        env = dict(os.environ, PUERTOCHO_SCORE=f"{event.score:.4f}", PUERTOCHO_TIME=event.time_utc,
                   PUERTOCHO_STREAM_SECONDS=f"{event.stream_seconds:.2f}", PUERTOCHO_MODEL=event.model,
                   PUERTOCHO_THRESHOLD=f"{event.threshold:g}")
        try:
            self.running.append(subprocess.Popen(["/bin/sh", "-c", self.command], env=env, stdin=subprocess.DEVNULL))
        except OSError as error:
            self.failures += 1
            log.error("--on-detect command could not start (%s): %s", error, self.command)

    def check(self) -> None:
        """Reap finished commands; a non-zero exit is logged (the listener goes on)."""
        still = []
        for process in self.running:
            code = process.poll()
            if code is None:
                still.append(process)
            elif code != 0:
                self.failures += 1
                log.warning("--on-detect command exited with status %d: %s", code, self.command)
        self.running = still

    def wait(self, timeout: float = 10.0) -> None:
        """At exit: let running commands finish (up to `timeout` seconds each)."""
        for process in self.running:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("--on-detect command still running at exit: %s", self.command)
        self.check()


def write_wav(path: Path, samples_int16: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM WAV with the standard library."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(np.asarray(samples_int16, np.int16).tobytes())


class ClipSaver:
    """--save-clips DIR: keeps `before_seconds` of audio, and after an event `after_seconds` more, then writes
    DIR/<kind>_<UTC time>_<score>.wav and appends a row to DIR/clips.csv (the review step reads it)."""

    def __init__(self, folder: Path, before_seconds: float = 2.0, after_seconds: float = 1.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.before = max(1, round(before_seconds * SAMPLE_RATE / CHUNK))
        self.after = max(0, round(after_seconds * SAMPLE_RATE / CHUNK))
        self.history: collections.deque[np.ndarray] = collections.deque(maxlen=self.before + self.after)
        self.pending: list[tuple[int, Event]] = []  # (chunks still to come, event)
        self.saved: list[Path] = []

    def add_chunk(self, chunk: np.ndarray) -> None:
        """Feed every 80 ms chunk (int16, CHUNK samples), after its events were reported."""
        self.history.append(chunk)
        ready = [event for left, event in self.pending if left <= 1]
        self.pending = [(left - 1, event) for left, event in self.pending if left > 1]
        for event in ready:
            self._write(event)

    def add_event(self, event: Event, chunks_ago: int = 0) -> None:
        """Called before `add_chunk` of the current chunk; `chunks_ago`: how long before it the event peaked
        (a near miss is known only when its run ends)."""
        self.pending.append((max(1, self.after + 1 - chunks_ago), event))

    def flush(self) -> None:
        """At the end of the stream: write what is pending with the audio there is."""
        for _, event in self.pending:
            self._write(event)
        self.pending = []

    def _write(self, event: Event) -> None:
        stamp = event.time_utc.replace(":", "").replace("-", "").replace("+0000", "Z").replace("+00:00", "Z")
        path = self.folder / f"{event.kind}_{stamp}_{event.score:.3f}.wav"
        write_wav(path, np.concatenate(list(self.history)) if self.history else np.zeros(0, np.int16))
        table = self.folder / CLIPS_CSV
        new = not table.is_file()
        with open(table, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({"file": path.name, "kind": event.kind, "score": f"{event.score:.4f}",
                             "threshold": f"{event.threshold:g}", "time_utc": event.time_utc,
                             "stream_seconds": f"{event.stream_seconds:.2f}", "model": event.model})
        self.saved.append(path)
        log.info("saved %s clip %s", event.kind, path)


class NearMissTracker:
    """Near misses: runs of scores in [near_miss, threshold) that never reach the threshold; one event per run,
    at its peak, reported when the run ends. Runs that end in a detection are not near misses."""

    def __init__(self, near_miss: float, threshold: float) -> None:
        self.near_miss, self.threshold = near_miss, threshold
        self.peak: tuple[float, float, str] | None = None  # (score, stream seconds, time)
        self.reached = False

    def update(self, score: float, stream_seconds: float) -> tuple[float, float, str] | None:
        """Feed a chunk's score; returns (peak score, its stream seconds, its time) when a near-miss run ends."""
        if score >= self.threshold:
            self.reached = True
        if score >= self.near_miss:
            if not self.reached and (self.peak is None or score > self.peak[0]):
                self.peak = (score, stream_seconds, now_utc())
            return None
        finished = None if self.reached else self.peak
        self.peak, self.reached = None, False
        return finished
