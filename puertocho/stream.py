"""Audio as the listener receives it: any rate and channel count in, 16 kHz mono int16 chunks of 1280 out.

Everything streams: a microphone block or a file block goes through a stateful polyphase resampler (the same
filter as scipy's `resample_poly`, so a stream gives what the whole recording would) and a chunker, with flat
memory for any length. Needs numpy and scipy only; soundfile (WAV mode) and sounddevice (microphone) are
imported when used.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

SAMPLE_RATE = 16000
CHUNK = 1280                 # samples per openWakeWord step (80 ms)
FILE_BLOCK_SECONDS = 1.0     # how much of a file is read at once
PORTAUDIO_HINT = "sudo apt-get install libportaudio2, then pip install -r requirements-pi.txt"

log = logging.getLogger("puertocho.stream")


class AudioInputError(RuntimeError):
    """An input that cannot be opened or read; the message names it and the fix."""


def downmix(block: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) audio -> float32 mono (frames,), the mean of the channels."""
    block = np.asarray(block)
    if block.dtype == np.int16:
        block = block.astype(np.float32) / 32768.0
    if block.ndim == 2:
        block = block.mean(axis=1)
    return block.astype(np.float32, copy=False)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> int16 PCM, as openWakeWord expects (same scaling as puertocho.audio.to_int16)."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


class StreamResampler:
    """Stateful polyphase resampling of float32 mono blocks, equal to scipy.signal.resample_poly on the whole
    signal (same Kaiser-windowed FIR, same alignment) except at the very end, where `flush` pads with zeros
    as resample_poly does. Output is held back by the filter's half-length (under 1 ms at 48 kHz)."""

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        from scipy.signal import firwin
        divisor = math.gcd(int(rate_in), int(rate_out))
        self.up, self.down = int(rate_out) // divisor, int(rate_in) // divisor
        self.passthrough = self.up == self.down
        self.n_in = self.n_out = 0
        if self.passthrough:
            return
        max_rate = max(self.up, self.down)
        self.half_len = 10 * max_rate  # resample_poly's default filter length
        taps = firwin(2 * self.half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
        self.n_taps = -(-len(taps) // self.up)
        # phases[p, k] = taps[p + k * up]: output n at upsampled position n*down + half_len uses phase
        # (position % up) against input samples position // up, position // up - 1, ...
        padded = np.zeros(self.n_taps * self.up)
        padded[:len(taps)] = taps
        self.phases = padded.reshape(self.n_taps, self.up).T.astype(np.float64)
        self.history = np.zeros(0, np.float64)  # input samples still needed, starting at input index `start`
        self.start = 0

    def _emit(self, last_output: int) -> np.ndarray:
        """Outputs self.n_out .. last_output - 1 from the history (indices beyond it read as zeros)."""
        if last_output <= self.n_out:
            return np.zeros(0, np.float32)
        padded = np.concatenate([np.zeros(self.n_taps), self.history, np.zeros(self.n_taps)])
        pieces = []
        for first in range(self.n_out, last_output, 1024):  # bounded work arrays: (1024, n_taps)
            outputs = np.arange(first, min(first + 1024, last_output), dtype=np.int64)
            position = outputs * self.down + self.half_len
            newest = position // self.up                                # input index of tap 0
            indices = newest[:, None] - np.arange(self.n_taps)[None, :] - self.start
            valid = (indices + self.start >= 0)                         # before the stream began: zeros
            values = padded[np.clip(indices + self.n_taps, 0, len(padded) - 1)] * valid
            pieces.append(np.einsum("ij,ij->i", values, self.phases[position % self.up]))
        result = np.concatenate(pieces)
        self.n_out = last_output
        # Keep only the input the next output can still reach.
        keep_from = max(0, (self.n_out * self.down + self.half_len) // self.up - self.n_taps + 1)
        drop = min(max(0, keep_from - self.start), len(self.history))
        self.history, self.start = self.history[drop:], self.start + drop
        return result.astype(np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed float32 mono (n,); returns the 16 kHz samples that are now final."""
        if self.passthrough:
            return np.asarray(block, np.float32)
        self.history = np.concatenate([self.history, np.asarray(block, np.float64)])
        self.n_in += len(block)
        # Output n is final once its newest tap (n*down + half_len) // up has arrived.
        ready = (self.n_in * self.up - self.half_len - 1) // self.down + 1 if self.n_in * self.up > self.half_len else 0
        return self._emit(max(0, min(ready, self._total_out())))

    def flush(self) -> np.ndarray:
        """The remaining outputs once the input has ended (zeros beyond its end, as resample_poly)."""
        if self.passthrough:
            return np.zeros(0, np.float32)
        return self._emit(self._total_out())

    def _total_out(self) -> int:
        return -(-self.n_in * self.up // self.down)


class Chunker:
    """Collects 16 kHz float32 samples and hands out int16 chunks of exactly CHUNK samples."""

    def __init__(self) -> None:
        self.pending = np.zeros(0, np.float32)

    def push(self, samples: np.ndarray) -> Iterator[np.ndarray]:
        self.pending = np.concatenate([self.pending, samples])
        whole = len(self.pending) // CHUNK * CHUNK
        ready, self.pending = self.pending[:whole], self.pending[whole:]
        for start in range(0, whole, CHUNK):
            yield to_int16(ready[start:start + CHUNK])

    def finish(self) -> Iterator[np.ndarray]:
        """The last partial chunk, padded with silence (nothing when the stream ended on a chunk boundary)."""
        if len(self.pending):
            yield to_int16(np.concatenate([self.pending, np.zeros(CHUNK - len(self.pending), np.float32)]))
            self.pending = np.zeros(0, np.float32)


def convert_blocks(blocks: Iterable[np.ndarray], rate: int) -> Iterator[np.ndarray]:
    """Blocks of any channel count at `rate` -> 16 kHz mono int16 chunks of CHUNK samples."""
    resampler, chunker = StreamResampler(rate), Chunker()
    for block in blocks:
        yield from chunker.push(resampler.process(downmix(block)))
    yield from chunker.push(resampler.flush())
    yield from chunker.finish()


def file_chunks(path: str | Path, block_seconds: float = FILE_BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """An audio file of any length, rate and channel count as 16 kHz mono int16 chunks, read block by block."""
    path = Path(path)
    try:
        import soundfile as sf
    except (ImportError, OSError) as error:
        raise AudioInputError(f"cannot read {path}: soundfile is not available ({error}); "
                              "pip install -r requirements-pi.txt.") from error
    if not path.is_file():
        raise AudioInputError(f"{path}: file not found.")
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioInputError(f"{path}: not a readable audio file ({error}); convert it with: "
                              f"sox {path} -r 16000 -c 1 -b 16 out.wav") from error
    with handle:
        rate = handle.samplerate
        blocks = handle.blocks(blocksize=max(1, int(rate * block_seconds)), dtype="float32", always_2d=True)
        yield from convert_blocks(blocks, rate)


# ---- microphones ----------------------------------------------------------------------------------------------

@dataclass
class InputFormat:
    """What the device is opened with: its index, name, rate and channel count."""
    index: int
    name: str
    rate: int
    channels: int


def input_devices(devices: list[dict]) -> list[tuple[int, dict]]:
    """(index, info) of the devices that can record (sounddevice.query_devices() entries)."""
    return [(index, info) for index, info in enumerate(devices) if info.get("max_input_channels", 0) > 0]


def describe_devices(devices: list[dict], default_index: int | None = None) -> str:
    """One line per input device: index, name, channels, default rate; '*' marks the default."""
    lines = []
    for index, info in input_devices(devices):
        mark = "*" if index == default_index else " "
        lines.append(f"{mark} {index:3d}  {info['name']}  ({info['max_input_channels']} ch, "
                     f"{info.get('default_samplerate', 0):g} Hz default)")
    return "\n".join(lines) if lines else "  (no input devices)"


def pick_device(devices: list[dict], query: str | None, default_index: int | None) -> int:
    """Index of the input device named by `query` (an index, or a case-insensitive name substring)."""
    inputs = input_devices(devices)
    listing = describe_devices(devices, default_index)
    if query is None or query == "":
        if default_index is None or default_index < 0 or default_index >= len(devices) \
                or devices[default_index].get("max_input_channels", 0) < 1:
            raise AudioInputError("no default input device; pick one with --device (python -m puertocho.listen "
                                  f"--list-devices):\n{listing}")
        return default_index
    if query.strip().isdigit():
        index = int(query)
        if not any(index == i for i, _ in inputs):
            raise AudioInputError(f"input device {index} does not exist or cannot record; the input devices "
                                  f"are:\n{listing}")
        return index
    matches = [i for i, info in inputs if query.lower() in info["name"].lower()]
    if len(matches) != 1:
        problem = "no input device" if not matches else f"{len(matches)} input devices"
        raise AudioInputError(f"{problem} matching '{query}'; use its index or a longer part of its name:\n{listing}")
    return matches[0]


def pick_format(index: int, info: dict, supported: Callable[[int, int], bool]) -> InputFormat:
    """The rate and channel count to open the device with: 16 kHz mono when it takes that, else its default
    rate (then 48000, 44100) and mono, else stereo or its channel count. `supported(rate, channels)` asks
    the device (sounddevice.check_input_settings)."""
    rates = [SAMPLE_RATE]
    for rate in (int(info.get("default_samplerate") or 0), 48000, 44100, 32000, 22050):
        if rate > 0 and rate not in rates:
            rates.append(rate)
    max_channels = int(info.get("max_input_channels", 1))
    channel_options = sorted({1, min(2, max_channels), max_channels})
    for rate in rates:
        for channels in channel_options:
            if supported(rate, channels):
                return InputFormat(index, info["name"], rate, channels)
    raise AudioInputError(f"input device {index} ('{info['name']}') accepts none of the rates {rates} with "
                          f"{channel_options} channels; check it with `arecord -l` / `arecord --dump-hw-params "
                          "-D hw:CARD`, or pick another with --device")


@dataclass
class InputStats:
    """Counters the listener reports: blocks read and blocks that overflowed (audio lost)."""
    blocks: int = 0
    overflows: int = 0


def stream_chunks(stream, fmt: InputFormat, stats: InputStats, block_frames: int | None = None,
                  warn_every: int = 50) -> Iterator[np.ndarray]:
    """Read an open input stream forever (`stream.read(frames) -> (array (frames, channels), overflowed)`, the
    sounddevice interface) and yield 16 kHz mono int16 chunks; overflows are counted and logged."""
    block_frames = block_frames or max(1, round(fmt.rate * CHUNK / SAMPLE_RATE))
    resampler, chunker = StreamResampler(fmt.rate), Chunker()
    while True:
        block, overflowed = stream.read(block_frames)
        stats.blocks += 1
        if overflowed:
            stats.overflows += 1
            if stats.overflows == 1 or stats.overflows % warn_every == 0:
                log.warning("input overflow on device %d ('%s'): %d so far in %d blocks (audio was lost: the CPU "
                            "is busy; close other programs or use a lighter model)", fmt.index, fmt.name,
                            stats.overflows, stats.blocks)
        yield from chunker.push(resampler.process(downmix(block)))


def import_sounddevice():
    """sounddevice, or an AudioInputError that says what is missing (the module or PortAudio itself)."""
    try:
        import sounddevice as sd
    except ImportError as error:
        raise AudioInputError(f"no audio input: the sounddevice module is not installed ({error}); "
                              "pip install -r requirements-pi.txt, or use --wav FILE.") from error
    except OSError as error:  # sounddevice is there, the PortAudio library it loads is not
        raise AudioInputError(f"no audio input: sounddevice is installed but the PortAudio library is missing "
                              f"({error}); sudo apt-get install libportaudio2, or use --wav FILE.") from error
    return sd


def default_input(sd) -> int | None:
    """The default input device's index (sd.default.device is an (input, output) pair; -1 means none)."""
    try:
        value = sd.default.device[0]
    except (TypeError, IndexError, KeyError):
        value = sd.default.device
    return value if isinstance(value, int) and value >= 0 else None


def list_devices_text() -> str:
    """The input devices as --list-devices prints them."""
    sd = import_sounddevice()
    return describe_devices(list(sd.query_devices()), default_input(sd))


def open_microphone(device: str | None, stats: InputStats) -> tuple[InputFormat, Iterator[np.ndarray]]:
    """Open a microphone at a format it supports; returns its format and its 16 kHz mono int16 chunks."""
    sd = import_sounddevice()
    try:
        devices = list(sd.query_devices())
    except sd.PortAudioError as error:
        raise AudioInputError(f"no audio input: PortAudio cannot list devices ({error}); is a microphone "
                              "plugged in? Check with `arecord -l`.") from error
    index = pick_device(devices, device, default_input(sd))

    def supported(rate: int, channels: int) -> bool:
        try:
            sd.check_input_settings(device=index, samplerate=rate, channels=channels, dtype="float32")
            return True
        except (sd.PortAudioError, ValueError):
            return False

    fmt = pick_format(index, devices[index], supported)
    block_frames = max(1, round(fmt.rate * CHUNK / SAMPLE_RATE))
    try:
        stream = sd.InputStream(device=index, samplerate=fmt.rate, channels=fmt.channels, dtype="float32",
                                blocksize=block_frames)
        stream.start()
    except (sd.PortAudioError, ValueError) as error:
        raise AudioInputError(f"cannot open input device {index} ('{fmt.name}') at {fmt.rate} Hz, {fmt.channels} "
                              f"ch ({error}); is it in use by another program (`fuser -v /dev/snd/*`)? Pick "
                              "another with --device (see --list-devices).") from error

    def chunks() -> Iterator[np.ndarray]:
        with stream:
            yield from stream_chunks(stream, fmt, stats, block_frames)

    return fmt, chunks()
