"""Which parts of the pipeline give other bits on another CPU: a fingerprint per component, compared across hosts.

The same params and code made `dvc.lock`'s hashes on one host and other hashes on another (README "Honest
limits"). Float kernels pick their code by the CPU (onnxruntime's MLAS, oneMKL, PyTorch's ATen and oneDNN,
numpy's dispatch), so one utterance can come out a few bits apart. Comparing whole stage outputs cannot say
which kernel it was, and two hosts are rarely at hand at once. Instead, each host hashes one small fixed input
through each component, in pipeline order, and the hashes are committed (`benchmarks/fingerprints/`): a later
host compares its own against them, and the first component that differs is where the bits part.
"""
from __future__ import annotations

import hashlib
import io
import platform
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

FLAGS_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                     "amx_tile", "amx_int8")


def digest(data) -> str:
    """12 hex digits of the md5 of bytes, or of an array's dtype, shape and bytes."""
    if isinstance(data, np.ndarray):
        data = str(data.dtype).encode() + str(data.shape).encode() + np.ascontiguousarray(data).tobytes()
    return hashlib.md5(data).hexdigest()[:12]


def cpu_description(cpuinfo: str | None = None) -> dict:
    """Model name, vendor and the vector-instruction flags that decide which kernels run (from /proc/cpuinfo)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {"model_name": fields.get("model name", platform.processor()),
            "vendor": fields.get("vendor_id", ""),
            "family_model": f"{fields.get('cpu family', '?')}/{fields.get('model', '?')}",
            "flags": [flag for flag in FLAGS_OF_INTEREST if flag in flags]}


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    found = {}
    for name in ("numpy", "scipy", "onnxruntime", "torch", "torchaudio", "praat-parselmouth", "pyroomacoustics",
                 "soundfile", "piper-tts", "openwakeword"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.split("Data at")[0]
    found["espeak-ng"] = espeak.strip()
    return found


# What each component reads from another component (the rest read fixed inputs that give the same bits on
# any host): a component may differ only because what it reads does.
INPUTS = {"resample_to_16k": ["espeak_ng_wav"],
          "praat_revoice": ["resample_to_16k"],
          "clip_16bit_wav": ["praat_revoice"],
          "scipy_fftconvolve_reverb": ["resample_to_16k", "image_source_room"],
          "torchaudio_fftconvolve_reverb": ["resample_to_16k"],
          "openwakeword_melspectrogram": ["resample_to_16k"],
          "openwakeword_embedding": ["openwakeword_melspectrogram"]}


def compare(mine: dict, theirs: dict) -> list[tuple[str, str, str, list[str]]]:
    """(component, my hash, their hash, the differing components it reads) for every component both
    fingerprints have and hash differently, in pipeline order. An empty last item: the component's own
    kernels give other bits; otherwise it may only inherit its input's difference."""
    differing = [name for name, value in mine.items() if name in theirs and theirs[name] != value]
    return [(name, mine[name], theirs[name], [source for source in INPUTS.get(name, []) if source in differing])
            for name in differing]


def fingerprint() -> dict:
    """component -> hash, in pipeline order. Each component reads a fixed input (or the previous component's
    output, as the pipeline does), so a difference is that component's own or one inherited from above."""
    import soundfile
    import torch
    from puertocho import audio, augment
    from puertocho.features import FrontEnd
    from puertocho.params import load_params
    from puertocho.sources import maybe_new_speaker
    from puertocho.test_set import room_bank, reverberate, voice_plan
    from puertocho.tts import CachedSynthesizer

    hashes = {}
    # numpy's own transcendental kernels (dispatched by CPU)
    grid = np.linspace(-20, 20, 100_003)
    hashes["numpy_sin_exp_log"] = digest(np.concatenate([np.sin(grid), np.exp(grid / 10), np.log1p(grid ** 2),
                                                         np.sin(grid.astype(np.float32)).astype(np.float64)]))
    workdir = Path(tempfile.mkdtemp(prefix="puertocho-host-"))
    try:
        wav = workdir / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "es+m3", "-s", "150", "-p", "50", "-w", str(wav), "Hola Puertocho"],
                       check=True)
        hashes["espeak_ng_wav"] = digest(wav.read_bytes())                       # 22,050 Hz, as espeak-ng writes it
        clip = audio.read_any(wav)
        hashes["resample_to_16k"] = digest(clip)                                 # scipy's resample_poly
        revoiced, _ = maybe_new_speaker(clip, 1.0, [42, 0])
        hashes["praat_revoice"] = digest(revoiced)
        buffer = io.BytesIO()  # the 16-bit WAV a manifest's clip is: small float differences may round away here
        soundfile.write(buffer, np.clip(audio.trim_silence(revoiced), -1, 1), audio.SAMPLE_RATE, subtype="PCM_16",
                        format="WAV")
        hashes["clip_16bit_wav"] = digest(buffer.getvalue())
        params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
        synthesizer = CachedSynthesizer(workdir / "tts")
        rng = random.Random(7)
        for engine in ("piper", "kokoro"):
            utterance = voice_plan(["Hola Puertocho"], {engine: 1.0}, params.test, rng)[0]
            hashes[f"{engine}_synthesis"] = digest(synthesizer.synthesize(utterance))
        rooms = room_bank(1, (0.4, 0.8), np.random.default_rng(3))
        hashes["image_source_room"] = digest(rooms[0].impulse_response)          # pyroomacoustics
        hashes["scipy_fftconvolve_reverb"] = digest(reverberate(clip, rooms[0]))
        generator = torch.Generator().manual_seed(5)
        hashes["torch_synthetic_rir"] = digest(augment.synthetic_rir(0.5, generator).numpy())   # torch.exp, randn
        # A room tail from integers alone (the same bits on any host), so the convolution is judged on its own.
        tail = (np.random.default_rng(9).standard_normal(8000).astype(np.float32)
                * np.linspace(1, 0, 8000, dtype=np.float32))
        tail[0] = 1.0
        signal = torch.from_numpy(np.pad(clip, (0, 32000 - len(clip) % 32000))[None])
        reverberant = augment.reverberate(signal, torch.from_numpy(tail)[None])
        hashes["torchaudio_fftconvolve_reverb"] = digest(reverberant.numpy())
        front_end = FrontEnd(n_threads=1)
        mels = front_end.chunk_mels((np.clip(signal.numpy()[0], -1, 1) * 32767).astype(np.int16)[None])[0]
        hashes["openwakeword_melspectrogram"] = digest(mels)
        windows = np.stack([mels[s:s + 76] for s in range(0, len(mels) - 75, 8)])
        hashes["openwakeword_embedding"] = digest(front_end.embed(windows))
        hashes["torch_head_training_steps"] = _training_steps_digest()
    finally:  # a few MB of TTS cache and WAVs: nothing to keep
        shutil.rmtree(workdir, ignore_errors=True)
    return hashes


def _training_steps_digest() -> str:
    """A small convolutional head, three AdamW steps on fixed random windows: ATen's and oneDNN's kernels."""
    import torch
    from torch import nn
    torch.manual_seed(11)
    head = nn.Sequential(nn.Conv1d(96, 32, 3), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(32, 1))
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.01)
    windows, labels = torch.randn(64, 96, 24), (torch.rand(64, 1) > 0.5).float()
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(head(windows), labels).backward()
        optimizer.step()
    return digest(torch.cat([p.detach().flatten() for p in head.parameters()]).numpy())
