import numpy as np
import pytest
import soundfile as sf

from puertocho import audio
from puertocho.noise import coloured_noise, spectral_slope_db_per_octave
from tests.conftest import tone


def test_clip_round_trip(tmp_path):
    path = tmp_path / "a.wav"
    audio.write_clip(path, tone(0.5))
    samples = audio.read_clip(path)
    assert samples.shape == (8000,) and samples.dtype == np.float32
    assert np.max(np.abs(samples - tone(0.5))) < 1e-4
    assert sf.info(str(path)).subtype == "PCM_16"


def test_corrupt_file_is_named(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 3)
    with pytest.raises(audio.AudioError, match="corrupt.wav: not a readable audio file"):
        audio.read_clip(path)


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(audio.AudioError, match="empty.wav: the file is empty"):
        audio.read_clip(path)


def test_stereo_44k_is_refused_by_the_strict_reader_with_the_fix(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([tone(0.5, rate=44100)] * 2, axis=1), 44100, subtype="PCM_16")
    with pytest.raises(audio.AudioError, match=r"stereo.wav: 44100 Hz instead of 16000 Hz, 2 channels.*sox"):
        audio.read_clip(path)


@pytest.mark.parametrize("rate,channels,suffix", [(44100, 2, ".wav"), (8000, 1, ".flac"), (22050, 2, ".ogg")])
def test_any_rate_and_channel_count_converts_to_16k_mono(tmp_path, rate, channels, suffix):
    path = tmp_path / f"rec{suffix}"
    samples = np.stack([tone(1.0, 440, rate)] * channels, axis=1)
    sf.write(str(path), samples, rate)
    converted = audio.read_any(path)
    assert converted.ndim == 1 and abs(len(converted) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(converted))
    assert abs(np.argmax(spectrum) * 16000 / len(converted) - 440) < 3


def test_trim_silence_keeps_the_sound():
    clip = np.concatenate([np.zeros(8000), tone(0.5), np.zeros(4000)]).astype(np.float32)
    trimmed = audio.trim_silence(clip)
    assert 7900 <= len(trimmed) <= 8200


def test_quality_problems_are_reported():
    assert audio.quality_problem(tone(1.0), 0.2, 4.0) is None
    assert "silent" in audio.quality_problem(np.zeros(16000, np.float32), 0.2, 4.0)
    assert "duration" in audio.quality_problem(tone(0.1), 0.2, 4.0)
    assert "clipped" in audio.quality_problem(np.sign(tone(1.0)), 0.2, 4.0)


@pytest.mark.parametrize("colour,slope", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_noise_colours_have_their_spectral_slope(colour, slope):
    noise = coloured_noise(colour, 16000 * 4, np.random.default_rng(0), level_db=-20)
    assert abs(spectral_slope_db_per_octave(noise) - slope) < 0.7
    assert abs(audio.rms_db(noise) - (-20)) < 0.1
