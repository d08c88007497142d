"""Synthetic coloured noise: white, pink (1/f) and brown (1/f^2), as float32 at 16 kHz."""
from __future__ import annotations

import numpy as np

COLOURS = ("white", "pink", "brown")
_EXPONENT = {"white": 0.0, "pink": 0.5, "brown": 1.0}  # amplitude ~ f^-exponent


def coloured_noise(colour: str, n_samples: int, rng: np.random.Generator, level_db: float = -20.0) -> np.ndarray:
    """Noise of the given colour with RMS level_db dBFS; float32 (n_samples,)."""
    if colour not in _EXPONENT:
        raise ValueError(f"unknown noise colour {colour!r}; use one of {COLOURS}")
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    frequencies = np.fft.rfftfreq(n_samples)
    frequencies[0] = frequencies[1] if n_samples > 1 else 1.0  # keep DC finite
    spectrum *= frequencies ** -_EXPONENT[colour]
    noise = np.fft.irfft(spectrum, n=n_samples)
    noise -= noise.mean()
    rms = np.sqrt(np.mean(noise**2)) + 1e-12
    return (noise / rms * 10 ** (level_db / 20)).astype(np.float32)


def spectral_slope_db_per_octave(samples: np.ndarray) -> float:
    """Least-squares slope of the power spectrum in dB per octave (white 0, pink -3, brown -6)."""
    power = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(len(samples), d=1 / 16000)
    band = (frequencies > 50) & (frequencies < 4000)
    slope, _ = np.polyfit(np.log2(frequencies[band]), 10 * np.log10(power[band] + 1e-20), 1)
    return float(slope)
