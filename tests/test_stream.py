"""puertocho.stream: microphones and files of any rate and channel count, streamed to 16 kHz mono chunks.

No audio hardware here: the microphone path runs on a fake stream object with sounddevice's `read` interface,
and device choice runs on `query_devices()`-shaped lists.
"""
from __future__ import annotations

import logging
import math
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from puertocho.stream import (CHUNK, AudioInputError, InputFormat, InputStats, StreamResampler, convert_blocks,
                              describe_devices, downmix, file_chunks, pick_device, pick_format, stream_chunks)


def reference_16k(mono: np.ndarray, rate: int) -> np.ndarray:
    """What resampling the whole recording at once gives (puertocho.audio.resample does the same)."""
    divisor = math.gcd(rate, 16000)
    return resample_poly(mono.astype(np.float64), 16000 // divisor, rate // divisor)


@pytest.mark.parametrize("rate", [48000, 44100, 32000, 22050, 8000])
def test_streamed_resampling_equals_resampling_the_whole_signal(rate):
    rng = np.random.default_rng(rate)
    signal = rng.normal(0.0, 0.1, rate * 2 + 77).astype(np.float32)
    resampler, pieces, start = StreamResampler(rate), [], 0
    while start < len(signal):  # blocks of random sizes, as a device or a file hands them out
        size = int(rng.integers(1, 3000))
        pieces.append(resampler.process(signal[start:start + size]))
        start += size
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces)
    expected = reference_16k(signal, rate)
    assert len(streamed) == len(expected)
    np.testing.assert_allclose(streamed, expected, atol=1e-6)


def test_16k_passes_through_untouched():
    block = np.linspace(-1, 1, 1000, dtype=np.float32)
    assert np.array_equal(StreamResampler(16000).process(block), block)


def test_downmix_averages_channels_and_scales_int16():
    stereo = np.array([[0.5, -0.5], [1.0, 0.0]], np.float32)
    assert np.allclose(downmix(stereo), [0.0, 0.5])
    assert np.allclose(downmix(np.array([[16384, 16384]], np.int16)), [0.5])


def test_convert_blocks_gives_whole_int16_chunks_padded_at_the_end():
    chunks = list(convert_blocks([np.full((1000, 2), 0.25, np.float32)] * 5, 16000))
    assert [len(c) for c in chunks] == [CHUNK] * 4  # 5000 samples -> 3 whole chunks and one padded
    assert all(c.dtype == np.int16 for c in chunks)
    assert chunks[0][0] == int(0.25 * 32767) and chunks[-1][-1] == 0


class EndOfRecording(Exception):
    """The fake stream has nothing more (a real one blocks until audio comes)."""


class FakeStream:
    """sounddevice.InputStream's read(): (frames, channels) float32 blocks and an overflow flag."""

    def __init__(self, audio: np.ndarray, overflow_blocks: set[int]) -> None:
        self.audio, self.position, self.calls, self.overflow_blocks = audio, 0, 0, overflow_blocks

    def read(self, frames: int):
        if self.position >= len(self.audio):
            raise EndOfRecording
        block = self.audio[self.position:self.position + frames]
        self.position += frames
        self.calls += 1
        return block, (self.calls - 1) in self.overflow_blocks


def take(iterator, n):
    out = []
    try:
        for _ in range(n):
            out.append(next(iterator))
    except EndOfRecording:
        pass
    return out


def test_a_48k_stereo_microphone_gives_the_16k_mono_stream_and_counts_overflows(caplog):
    rate, seconds = 48000, 3
    t = np.arange(rate * seconds) / rate
    left, right = 0.4 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 1000 * t)
    stereo = np.stack([left, right], axis=1).astype(np.float32)
    stream = FakeStream(stereo, overflow_blocks={3, 7})
    stats = InputStats()
    fmt = InputFormat(index=2, name="USB PnP Sound Device", rate=rate, channels=2)
    with caplog.at_level(logging.WARNING, logger="puertocho.stream"):
        chunks = take(stream_chunks(stream, fmt, stats), 1000)
    assert stream.calls == stats.blocks and stats.overflows == 2
    assert any("overflow on device 2 ('USB PnP Sound Device')" in r.message for r in caplog.records)
    assert stats.blocks * CHUNK * 3 >= len(stereo)  # blocks of 3840 frames: 80 ms at 48 kHz
    received = np.concatenate(chunks).astype(np.float32) / 32767
    expected = reference_16k(stereo.mean(axis=1), rate)[:len(received)]
    assert len(received) >= 16000 * seconds - 2 * CHUNK
    np.testing.assert_allclose(received, expected, atol=2 / 32767)


DEVICES = [
    {"name": "bcm2835 Headphones", "max_input_channels": 0, "default_samplerate": 44100.0},
    {"name": "USB PnP Sound Device: Audio (hw:1,0)", "max_input_channels": 1, "default_samplerate": 44100.0},
    {"name": "ReSpeaker 4 Mic Array (hw:2,0)", "max_input_channels": 6, "default_samplerate": 16000.0},
    {"name": "USB Camera Mic (hw:3,0)", "max_input_channels": 2, "default_samplerate": 48000.0},
]


def test_devices_are_chosen_by_index_or_name():
    assert pick_device(DEVICES, "3", default_index=1) == 3
    assert pick_device(DEVICES, "respeaker", default_index=1) == 2
    assert pick_device(DEVICES, None, default_index=1) == 1


@pytest.mark.parametrize("query, message", [("0", "device 0 does not exist or cannot record"),
                                            ("9", "device 9 does not exist"),
                                            ("usb", "2 input devices matching 'usb'"),
                                            ("jabra", "no input device matching 'jabra'")])
def test_a_wrong_device_gets_the_list_of_inputs(query, message):
    with pytest.raises(AudioInputError, match=message) as error:
        pick_device(DEVICES, query, default_index=1)
    assert "ReSpeaker 4 Mic Array" in str(error.value) and "bcm2835" not in str(error.value)


def test_no_default_input_says_to_pick_one():
    with pytest.raises(AudioInputError, match="--list-devices"):
        pick_device(DEVICES, None, default_index=0)


def test_device_listing_marks_the_default():
    listing = describe_devices(DEVICES, default_index=3)
    assert "*   3  USB Camera Mic (hw:3,0)  (2 ch, 48000 Hz default)" in listing
    assert "bcm2835" not in listing


def test_format_prefers_16k_mono_then_the_device_rate_and_channels():
    def only(*accepted):
        return lambda rate, channels: (rate, channels) in accepted
    assert pick_format(2, DEVICES[2], only((16000, 1), (48000, 2))) == InputFormat(2, DEVICES[2]["name"], 16000, 1)
    assert pick_format(3, DEVICES[3], only((48000, 2))).rate == 48000
    assert pick_format(3, DEVICES[3], only((48000, 2))).channels == 2
    assert pick_format(1, DEVICES[1], only((44100, 1))).rate == 44100
    with pytest.raises(AudioInputError, match="'USB Camera Mic.*arecord"):
        pick_format(3, DEVICES[3], only())


def peak_bytes_reading(path) -> tuple[int, int]:
    """(peak traced bytes while streaming the file, chunks read)."""
    tracemalloc.start()
    count = sum(1 for _ in file_chunks(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, count


def write_long_wav(path, seconds: int, rate: int = 44100) -> None:
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=2, subtype="PCM_16") as handle:
        for _ in range(seconds // 10):
            handle.write(rng.normal(0.0, 0.1, (rate * 10, 2)).astype(np.float32))


def test_files_stream_in_flat_memory(tmp_path):
    """A 10-minute 44.1 kHz stereo file (106 MB) reads with the same small peak as a 1-minute one."""
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    write_long_wav(short, 60)
    write_long_wav(long, 600)
    peak_short, chunks_short = peak_bytes_reading(short)
    peak_long, chunks_long = peak_bytes_reading(long)
    assert chunks_long == math.ceil(600 * 16000 / CHUNK) and chunks_short == math.ceil(60 * 16000 / CHUNK)
    assert peak_long < 8 * 2**20, peak_long                  # a few MB, not the 106 MB file
    assert peak_long < 1.5 * peak_short + 2**20, (peak_short, peak_long)


def test_an_unreadable_file_names_itself_and_the_fix(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(AudioInputError, match="notes.wav: not a readable audio file.*sox"):
        list(file_chunks(bad))
    with pytest.raises(AudioInputError, match="missing.wav: file not found"):
        list(file_chunks(tmp_path / "missing.wav"))


class FakeSoundDevice:
    """The parts of the sounddevice module the listener uses, for a 48 kHz-only stereo USB microphone."""

    class PortAudioError(Exception):
        pass

    class _Pair:  # sounddevice's default.device is an (input, output) pair object, not a tuple
        def __init__(self, pair):
            self.pair = pair

        def __getitem__(self, index):
            return self.pair[index]

    def __init__(self, audio: np.ndarray):
        self.audio = audio
        self.default = type("Default", (), {"device": self._Pair((3, 0))})()
        self.opened = None

    def query_devices(self):
        return DEVICES

    def check_input_settings(self, device, samplerate, channels, dtype):
        if (samplerate, channels) != (48000, 2):
            raise self.PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    def InputStream(self, device, samplerate, channels, dtype, blocksize):  # noqa: N802 (sounddevice's name)
        self.opened = (device, samplerate, channels, dtype, blocksize)
        return FakeInputStream(self.audio)


class FakeInputStream(FakeStream):
    def __init__(self, audio):
        super().__init__(audio, overflow_blocks=set())

    def start(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_default_microphone_opens_at_a_format_it_supports(monkeypatch):
    import sys

    from puertocho.stream import list_devices_text, open_microphone
    rate = 48000
    t = np.arange(rate * 2) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 300 * t)] * 2, axis=1).astype(np.float32)
    fake = FakeSoundDevice(stereo)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    fmt, chunks = open_microphone(None, InputStats())
    assert (fmt.index, fmt.rate, fmt.channels) == (3, 48000, 2)
    assert fake.opened == (3, 48000, 2, "float32", 3840)
    received = np.concatenate(take(chunks, 100)).astype(np.float32) / 32767
    np.testing.assert_allclose(received, reference_16k(stereo[:, 0], rate)[:len(received)], atol=2 / 32767)
    assert "*   3  USB Camera Mic" in list_devices_text()
    with pytest.raises(AudioInputError, match="device 1 .'USB PnP Sound Device.*accepts none of the rates"):
        open_microphone("pnp", InputStats())  # mono only, and this fake takes 48 kHz stereo only
