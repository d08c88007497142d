"""Shared pieces: the run configuration, timing, system facts, subprocess environment."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CHUNK_MS = 80.0
# Not measured: a Raspberry Pi 4 core (Cortex-A72, 1.5-1.8 GHz) against one core of a recent x86 server or
# desktop CPU running the same onnxruntime kernels. The range is an assumption stated wherever it is used.
PI4_SLOWDOWN = (4.0, 6.0)


@dataclass
class Config:
    repeats: int = 5
    quick: bool = False
    repo: Path = REPO
    keep: bool = False          # keep temporary folders (repro clone) for inspection
    verbose: bool = True

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed_runs(function: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of `repeats` calls of function, after `warmup` untimed calls."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def significant(value: float, digits: int = 3) -> float:
    """`value` to `digits` significant figures: fixed decimals would round a fast machine's small times to 0."""
    return float(f"{value:.{digits}g}")


def summary(seconds: list[float]) -> dict:
    """Median and the raw runs (seconds), rounded for the JSON."""
    return {"median_s": round(median(seconds), 6), "runs_s": [round(s, 6) for s in seconds]}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def system_info(config: Config) -> dict:
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity) if affinity is not None else os.cpu_count(),
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": package_version("onnxruntime"),
        "torch": package_version("torch"),
        "openwakeword": package_version("openwakeword"),
        "dvc": package_version("dvc"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "repeats": config.repeats,
        "quick": config.quick,
        "pi4_slowdown_assumed": list(PI4_SLOWDOWN),
    }


def tool_env(**extra: str) -> dict:
    """Environment for child processes: the venv first on PATH (DVC stages call 'python'), offline, quiet."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", HF_HUB_OFFLINE="1",
               DVC_NO_ANALYTICS="1", PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def run_timed(command: list[str], cwd: Path, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command to completion; (wall seconds, result with text output)."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env or tool_env(), capture_output=True, text=True)
    return time.perf_counter() - started, result


def npz_length(path: Path, key: str = "labels") -> int | None:
    """Rows of one array inside an .npz, read from its header without loading the data."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = reader(member)
            return int(shape[0])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def test_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Int16 audio that keeps the front-end busy like a room does: pink noise with tones coming and going."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequencies = np.fft.rfftfreq(n)
    frequencies[0] = frequencies[1] if n > 1 else 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(frequencies), n=n)
    noise = noise / (np.sqrt(np.mean(noise**2)) + 1e-12) * 0.02
    t = np.arange(n) / 16000
    tones = 0.1 * np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    return np.clip((noise + tones) * 32767, -32768, 32767).astype(np.int16)
