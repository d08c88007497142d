"""Audio I/O and checks: every clip in the pipeline is 16 kHz mono 16-bit PCM."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 16000
CONVERT_HINT = "convert it with: sox IN -r 16000 -c 1 -b 16 OUT.wav"


class AudioError(ValueError):
    """An audio file the pipeline cannot use; the message names the file and the fix."""


def _open(path: Path, dtype: str = "float32") -> tuple[np.ndarray, int, str]:
    """Decode any soundfile-readable file to float32 (or int16) (frames, channels)."""
    if not path.exists():
        raise AudioError(f"{path}: file not found.")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); delete it or record it again.")
    try:
        info = sf.info(str(path))
        samples, rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error}); delete it or {CONVERT_HINT}.") from error
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: holds no audio samples; delete it or record it again.")
    return samples, rate, info.subtype


def read_clip(path: str | Path, pcm16: bool = False) -> np.ndarray:
    """Read a pipeline clip that must already be 16 kHz mono 16-bit; return float32 (n,) in [-1, 1], or with
    pcm16 the int16 samples themselves (half the memory; to_float gives the same float32 back)."""
    path = Path(path)
    samples, rate, subtype = _open(path, "int16" if pcm16 else "float32")
    problems = []
    if rate != SAMPLE_RATE:
        problems.append(f"{rate} Hz instead of {SAMPLE_RATE} Hz")
    if samples.shape[1] != 1:
        problems.append(f"{samples.shape[1]} channels instead of 1 (mono)")
    if subtype != "PCM_16":
        problems.append(f"{subtype} instead of 16-bit PCM")
    if problems:
        raise AudioError(f"{path}: {', '.join(problems)}; re-run the stage that wrote it, or {CONVERT_HINT}.")
    return samples[:, 0]


def read_any(path: str | Path) -> np.ndarray:
    """Read any rate and channel count (a user's recording); return 16 kHz mono float32 (n,)."""
    samples, rate, _ = _open(Path(path))
    mono = samples.mean(axis=1)
    return resample(mono, rate, SAMPLE_RATE)


def resample(samples: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of float32 (n,) audio."""
    if rate_in == rate_out:
        return samples.astype(np.float32)
    divisor = math.gcd(int(rate_in), int(rate_out))
    return resample_poly(samples, rate_out // divisor, rate_in // divisor).astype(np.float32)


def write_clip(path: str | Path, samples: np.ndarray) -> None:
    """Write float32 (n,) audio as 16 kHz mono 16-bit PCM WAV, clipping to [-1, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(samples, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 PCM -> float32 in [-1, 1) exactly as soundfile reads a 16-bit file (x / 32768); float passes through."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768
    return samples


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> int16 PCM, as openWakeWord expects."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def trim_silence(samples: np.ndarray, threshold_db: float = -40.0, frame: int = 160) -> np.ndarray:
    """Cut leading and trailing frames quieter than threshold_db below the clip's peak frame."""
    n_frames = len(samples) // frame
    if n_frames == 0:
        return samples
    energy = np.sqrt(np.mean(samples[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1) + 1e-12)
    level_db = 20 * np.log10(energy / energy.max())
    loud = np.flatnonzero(level_db > threshold_db)
    return samples[loud[0] * frame : (loud[-1] + 1) * frame]


def rms_db(samples: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale."""
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64))) + 1e-12))


def quality_problem(samples: np.ndarray, min_seconds: float, max_seconds: float,
                    max_clipped_fraction: float = 0.01, silent_db: float = -60.0) -> str | None:
    """Why a clip is unusable (silent, clipped, too short or long), or None if it is fine."""
    seconds = len(samples) / SAMPLE_RATE
    if seconds < min_seconds or seconds > max_seconds:
        return f"duration {seconds:.2f} s outside [{min_seconds}, {max_seconds}]"
    if rms_db(samples) < silent_db:
        return f"silent (level {rms_db(samples):.1f} dBFS)"
    clipped = float(np.mean(np.abs(samples) >= 0.999))
    if clipped > max_clipped_fraction:
        return f"clipped ({clipped:.1%} of samples at full scale)"
    return None
