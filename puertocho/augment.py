"""Augmentation on batches with torch/torchaudio (GPU when present): placement, gain, noise at an SNR,
reverberation through simulated room impulse responses."""
from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as AF

SAMPLE_RATE = 16000


def place_at_end(clip: np.ndarray, total_samples: int, end_offset_samples: int) -> tuple[np.ndarray, int]:
    """Put a clip in a zero buffer so it ends end_offset_samples before the buffer's end (its start is cut
    if it does not fit). Returns (buffer (total_samples,), index of the clip's first sample, may be < 0)."""
    buffer = np.zeros(total_samples, dtype=np.float32)
    end = total_samples - end_offset_samples
    start = end - len(clip)
    buffer[max(start, 0):end] = clip[max(-start, 0):]
    return buffer, start


def speed_perturb(clip: np.ndarray, factor: float) -> np.ndarray:
    """Play a clip factor times faster (tempo and pitch together, like tape), by FFT resampling; (n / factor,)."""
    from scipy.signal import resample
    if abs(factor - 1.0) < 1e-3 or len(clip) < 2:
        return clip.astype(np.float32)
    return resample(clip, max(2, int(round(len(clip) / factor)))).astype(np.float32)


def random_crop(clip: np.ndarray, total_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A random total_samples-long piece of a clip, zero-padded at a random place when shorter."""
    if len(clip) >= total_samples:
        start = rng.integers(0, len(clip) - total_samples + 1)
        return clip[start:start + total_samples].astype(np.float32)
    buffer = np.zeros(total_samples, dtype=np.float32)
    start = rng.integers(0, total_samples - len(clip) + 1)
    buffer[start:start + len(clip)] = clip
    return buffer


def mix_at_snr(signal: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """signal + noise scaled so 10 log10(P_signal / P_noise) = snr_db; (b, n), (b, n), (b,)."""
    return AF.add_noise(signal, noise, snr_db)


def synthetic_rir(rt60_seconds: float, generator: torch.Generator, length_seconds: float | None = None) -> torch.Tensor:
    """A simulated room: a direct path then exponentially decaying noise reaching -60 dB at rt60; (n,)."""
    length = int(SAMPLE_RATE * (length_seconds or rt60_seconds))
    time = torch.arange(length, dtype=torch.float32) / SAMPLE_RATE
    decay = torch.exp(-6.9078 * time / rt60_seconds)  # ln(1000): amplitude -60 dB at rt60
    tail = torch.randn(length, generator=generator) * decay * 0.3
    tail[0] = 1.0
    return tail / tail.norm()


def align_direct_path(rir: np.ndarray) -> np.ndarray:
    """A measured impulse response starting at its strongest peak (the direct sound), so reverb adds no delay."""
    return rir[int(np.argmax(np.abs(rir))):].astype(np.float32)


def reverberate(signal: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """Convolve (b, n) audio with (b, m) impulse responses, aligned on the direct path, same length and RMS."""
    wet = AF.fftconvolve(signal, rir)[..., : signal.shape[-1]]
    dry_rms = signal.pow(2).mean(dim=-1, keepdim=True).sqrt()
    wet_rms = wet.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-8)
    return wet * dry_rms / wet_rms


def apply_gain_db(signal: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """Scale (b, n) audio by gain_db (b,) decibels."""
    return signal * (10 ** (gain_db / 20)).unsqueeze(-1)


def uniform(low_high, size: int, generator: torch.Generator) -> torch.Tensor:
    low, high = low_high
    return low + (high - low) * torch.rand(size, generator=generator)


def voice_snr_offset_db(clean: np.ndarray, voice_rms: np.ndarray) -> np.ndarray:
    """dB to add to an SNR that torchaudio measures over the whole window so that it holds over the voice:
    a 0.8 s phrase in 2 s of silence has a window power 4 dB under its own, so mixing "at 0 dB" over the
    window puts the noise 4 dB under the voice. (b, n) windows and (b,) voice RMS in, (b,) float32 out;
    0 where either is silent."""
    window_rms = np.sqrt(np.mean(np.square(clean, dtype=np.float64), axis=-1))
    voice_rms = np.asarray(voice_rms, dtype=np.float64)
    ok = (window_rms > 1e-6) & (voice_rms > 1e-6)
    offset = np.zeros(len(clean), dtype=np.float64)
    offset[ok] = 20 * np.log10(window_rms[ok] / voice_rms[ok])
    return offset.astype(np.float32)


def augment_batch(clean: np.ndarray, noise: np.ndarray, settings, generator: torch.Generator,
                  device: str = "cpu", measured_rirs: list[np.ndarray] | None = None,
                  voice_rms: np.ndarray | None = None) -> np.ndarray:
    """Reverb, noise at an SNR, then gain, per row, as settings (AugmentParams) say; float32 (b, n) in/out.
    Rows drawn as 'clean' keep only the gain; all rows get a faint noise floor, as every microphone has.
    measured_rirs: real room impulse responses to use instead of simulated rooms.
    voice_rms: (b,) RMS of the voice itself in each row; the SNR then holds over the voice, as the test and
    calibration streams measure it, instead of over the window (None: over the window)."""
    n_rows = len(clean)
    snr_offset = torch.from_numpy(voice_snr_offset_db(clean, voice_rms)) if voice_rms is not None else None
    signal = torch.from_numpy(clean).to(device)
    noise_t = torch.from_numpy(noise).to(device)
    is_clean = torch.rand(n_rows, generator=generator) < settings.clean_probability
    reverb = (torch.rand(n_rows, generator=generator) < settings.reverb_probability) & ~is_clean
    if reverb.any():
        if measured_rirs:
            picks = torch.randint(len(measured_rirs), (n_rows,), generator=generator)
            length = max(len(r) for r in measured_rirs)
            rirs = torch.zeros(n_rows, length)
            for row, pick in enumerate(picks.tolist()):
                rir = torch.from_numpy(measured_rirs[pick])
                rirs[row, :len(rir)] = rir / rir.norm().clamp_min(1e-8)
            rirs = rirs.to(device)
        else:
            rt60s = uniform(settings.rt60_range, n_rows, generator)
            length = int(SAMPLE_RATE * max(settings.rt60_range[1], 0.05))
            rirs = torch.stack([synthetic_rir(float(rt), generator, length / SAMPLE_RATE) for rt in rt60s]).to(device)
        signal = torch.where(reverb.to(device).unsqueeze(-1), reverberate(signal, rirs), signal)
    snr = uniform(settings.snr_db_range, n_rows, generator).to(device)
    if snr_offset is not None:
        snr = snr + snr_offset.to(device)
    snr = torch.where(is_clean.to(device), torch.full_like(snr, 60.0), snr)
    has_signal = signal.pow(2).mean(dim=-1, keepdim=True) > 1e-10
    has_noise = noise_t.pow(2).mean(dim=-1, keepdim=True) > 1e-10
    # No speech: the noise alone. Digital-silence noise: the speech alone (an SNR against nothing is undefined).
    mixed = torch.where(has_signal & has_noise, mix_at_snr(signal, noise_t, snr), torch.where(has_signal, signal, noise_t))
    gain = uniform(settings.gain_db_range, n_rows, generator).to(device)
    out = apply_gain_db(mixed, gain)
    dither = torch.randn(out.shape, generator=generator).to(device) * (2.0 / 32768)
    return (out + dither).clamp(-1, 1).cpu().numpy().astype(np.float32)
