"""Training material beyond one crop per clip: continuous talk streamed as the Pi hears it, babble and music
backgrounds, image-source rooms."""
import dataclasses

import numpy as np
import pytest

from puertocho import audio
from puertocho.examples import (background_pool, image_source_rooms, looped_background, talk_segments,
                                talk_stream_windows)
from puertocho.features import CHUNK
from puertocho.params import AugmentParams, ParamsError


def sentences(count: int, seed: int = 0) -> list[np.ndarray]:
    """Voiced-like int16 clips: tones with a syllable envelope, 0.6-1.5 s each."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(count):
        n = int(rng.uniform(0.6, 1.5) * audio.SAMPLE_RATE)
        t = np.arange(n) / audio.SAMPLE_RATE
        tone = np.sin(2 * np.pi * rng.uniform(100, 250) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * 0.2
        clips.append(audio.to_int16(tone.astype(np.float32)))
    return clips


def noise_clips(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [audio.to_int16((rng.standard_normal(32000) * 0.05).astype(np.float32)) for _ in range(count)]


def test_talk_stream_windows_count_seed_and_stride(front_end):
    settings = AugmentParams()
    talk, backgrounds = sentences(12), noise_clips(4)
    hours = 2 * 10.0 / 3600   # two 10 s segments
    first = talk_stream_windows(front_end, talk, backgrounds, settings, 16, 3, hours, 4, segment_seconds=10.0)
    again = talk_stream_windows(front_end, talk, backgrounds, settings, 16, 3, hours, 4, segment_seconds=10.0)
    other = talk_stream_windows(front_end, talk, backgrounds, settings, 16, 4, hours, 4, segment_seconds=10.0)
    chunks = int(10.0 * audio.SAMPLE_RATE) // CHUNK
    # per segment: every 4th head input after the first 16 (they still hold the start-up silence)
    assert first.shape == (2 * len(range(16, chunks, 4)), 16, 96)
    assert first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    sparse = talk_stream_windows(front_end, talk, backgrounds, settings, 16, 3, hours, 8, segment_seconds=10.0)
    assert len(sparse) == 2 * len(range(16, chunks, 8))


def test_talk_stream_windows_are_the_runtime_inputs_of_the_laid_out_talk(front_end):
    """No noise, room or gain: each kept window is the runtime's head input at its own place in talk_segments'
    talk, nearer to it than to the inputs 1-3 chunks either side (the dither, 2 LSB in the pauses, keeps them
    from being equal)."""
    quiet = dataclasses.replace(AugmentParams(), clean_probability=1.0, reverb_probability=0.0, gain_db_range=[0.0, 0.0])
    talk = sentences(6)
    windows = talk_stream_windows(front_end, talk, [np.zeros(16000, np.int16)], quiet, 16, 5, 10.0 / 3600, 2,
                                  segment_seconds=10.0)
    segment = int(10.0 * audio.SAMPLE_RATE) // CHUNK * CHUNK
    laid = next(talk_segments(talk, 1, segment, np.random.default_rng(5)))
    runtime = front_end.stream_windows(audio.to_int16(laid), 16)
    kept = np.arange(16, len(runtime), 2)
    assert windows.shape == (len(kept), 16, 96)
    distance = np.stack([np.abs(windows - runtime[np.clip(kept + shift, 0, len(runtime) - 1)]).mean(axis=(1, 2))
                         for shift in range(-3, 4)])
    assert np.all(distance.argmin(axis=0) == 3)


def test_talk_segments_lay_every_clip_before_repeating_one():
    """Clips told apart by their lengths: the first five voiced runs are the five clips, each once, in some
    order, each at a level within -6..+3 dB, with silent pauses between them."""
    lengths = [1600 + 320 * k for k in range(5)]
    clips = [np.full(n, 1000, np.int16) for n in lengths]
    rows = list(talk_segments(clips, 2, 5 * audio.SAMPLE_RATE, np.random.default_rng(0)))
    assert len(rows) == 2 and all(row.shape == (5 * audio.SAMPLE_RATE,) for row in rows)
    voiced = np.concatenate([[0], (rows[0] != 0).astype(np.int8), [0]])
    starts, ends = np.flatnonzero(np.diff(voiced) == 1), np.flatnonzero(np.diff(voiced) == -1)
    assert sorted((ends - starts)[:5]) == lengths
    levels_db = 20 * np.log10(np.abs(rows[0][starts[:5]]) / (1000 / 32768))
    assert np.all((levels_db > -6.01) & (levels_db < 3.01)) and np.ptp(levels_db) > 0.1


def test_no_hours_or_no_clips_give_no_windows(front_end):
    assert talk_stream_windows(front_end, sentences(2), noise_clips(1), AugmentParams(), 16, 0, 0.0, 4).shape == (0, 16, 96)
    assert talk_stream_windows(front_end, [], noise_clips(1), AugmentParams(), 16, 0, 1.0, 4).shape == (0, 16, 96)


def test_background_pool_adds_babble_and_music_from_the_split():
    noise, talk = noise_clips(3), sentences(10)
    settings = dataclasses.replace(AugmentParams(), babble_backgrounds=4, music_backgrounds=5)
    pool = background_pool(noise, talk, settings, seed=0)
    assert len(pool) == 3 + 10 + 4 + 5
    assert all(clip.dtype == np.int16 for clip in pool)
    made = pool[13:]
    assert all(len(clip) == 4 * audio.SAMPLE_RATE and np.abs(clip).max() > 0 for clip in made)
    np.testing.assert_array_equal(made[0], background_pool(noise, talk, settings, seed=0)[13])
    # no sentences in the split: no babble (it would be silence), the music still comes
    assert len(background_pool(noise, [], settings, seed=0)) == 3 + 5
    assert len(background_pool(noise, talk, AugmentParams(), seed=0)) == 13


def test_tv_backgrounds_come_after_babble_and_music_and_leave_them_as_they_were():
    noise, talk = noise_clips(3), sentences(10)
    settings = dataclasses.replace(AugmentParams(), babble_backgrounds=4, music_backgrounds=5)
    with_tv = background_pool(noise, talk, dataclasses.replace(settings, tv_backgrounds=3), seed=0)
    without = background_pool(noise, talk, settings, seed=0)
    assert len(with_tv) == len(without) + 3
    for kept, before in zip(with_tv, without):
        np.testing.assert_array_equal(kept, before)
    tv = with_tv[len(without):]
    assert all(len(clip) == 4 * audio.SAMPLE_RATE and np.abs(clip).max() > 0 for clip in tv)
    # TV alone (no babble) still has the split's sentences to speak
    assert len(background_pool(noise, talk, dataclasses.replace(AugmentParams(), tv_backgrounds=2), seed=0)) == 15
    # no sentences in the split: no TV talk
    assert len(background_pool(noise, [], dataclasses.replace(AugmentParams(), tv_backgrounds=2), seed=0)) == 3


def test_looped_background_fills_the_length():
    rng = np.random.default_rng(0)
    out = looped_background(noise_clips(2), 5 * audio.SAMPLE_RATE, rng)
    assert out.shape == (5 * audio.SAMPLE_RATE,)
    assert np.all(np.abs(out.reshape(-1, 1600)).max(axis=1) > 0)   # no silent 0.1 s gap


def test_image_source_rooms_start_at_the_direct_path():
    rooms = image_source_rooms(3, [0.3, 0.8], seed=1)
    assert len(rooms) == 3 and image_source_rooms(0, [0.3, 0.8], seed=1) == []
    for response in rooms:
        assert int(np.argmax(np.abs(response))) == 0 and len(response) > 1000
    np.testing.assert_array_equal(rooms[0], image_source_rooms(3, [0.3, 0.8], seed=1)[0])


@pytest.mark.parametrize("key, value", [("talk_stream_hours", -1.0), ("talk_stream_stride_frames", 0),
                                        ("babble_backgrounds", -2), ("tv_backgrounds", -1),
                                        ("image_source_rooms", -1)])
def test_bad_augment_values_name_their_key(key, value):
    with pytest.raises(ParamsError, match=f"augment.{key}"):
        dataclasses.replace(AugmentParams(), **{key: value}).check("augment")


def test_measured_and_simulated_rooms_are_exclusive():
    with pytest.raises(ParamsError, match="augment.image_source_rooms"):
        dataclasses.replace(AugmentParams(), rir_dir="rooms", image_source_rooms=4).check("augment")


def test_talk_follows_the_phrase_after_its_pause_at_the_phrase_level():
    """follow_with_talk: talk starts pause_range after the phrase's end, at the phrase's RMS (level 0 dB), and
    windows not drawn (probability 0) or whose phrase ends too late for a pause are left as they were."""
    from puertocho.examples import follow_with_talk
    total, rate = 32000, audio.SAMPLE_RATE
    voice = np.full(8000, 0.1, np.float32)
    talk = [np.full(40000, 0.4, np.float32)]
    offsets = np.array([8000, 1000])       # 0.5 s and 62 ms before the window's end
    windows = np.zeros((2, total), np.float32)
    windows[:, total - 16000:total - 8000] = 0.1
    windows[1] = 0
    windows[1, total - 9000:total - 1000] = 0.1
    before = windows.copy()
    followed = follow_with_talk(windows, [voice, voice], offsets, talk, 1.0, np.random.default_rng(3),
                                pause_range=(0.1, 0.1), level_db_range=(0.0, 0.0))
    assert list(followed) == [0]           # the second phrase ends 62 ms before the end: no room for a 0.1 s pause
    start = total - 8000 + int(0.1 * rate)
    assert np.allclose(windows[0, start:], 0.1) and np.array_equal(windows[0, :start], before[0, :start])
    assert np.array_equal(windows[1], before[1])
    untouched = before.copy()
    assert len(follow_with_talk(untouched, [voice, voice], offsets, talk, 0.0, np.random.default_rng(3))) == 0
    assert np.array_equal(untouched, before)


def test_talk_after_changes_only_the_windows_it_is_asked_for(front_end):
    """augment.talk_after_probability: 0 leaves build_windows' output as it was (same draws); 1 puts talk
    after every phrase that leaves room for it; speech crops ('crop') never get it."""
    from puertocho.examples import build_windows
    rng = np.random.default_rng(5)
    phrases = [(rng.standard_normal(9000) * 0.1).astype(np.float32) for _ in range(4)]
    talk = [(rng.standard_normal(30000) * 0.1).astype(np.float32) for _ in range(3)]
    backgrounds = [(rng.standard_normal(40000) * 0.01).astype(np.float32)]
    quiet = AugmentParams(clean_probability=1.0, end_offset_range=[0.3, 0.3])
    plain = build_windows(front_end, phrases, "end", backgrounds, quiet, 16, seed=2)
    assert np.array_equal(plain, build_windows(front_end, phrases, "end", backgrounds, quiet, 16, seed=2,
                                               talk_after=talk))
    followed = build_windows(front_end, phrases, "end", backgrounds,
                             dataclasses.replace(quiet, talk_after_probability=1.0), 16, seed=2, talk_after=talk)
    assert not np.allclose(followed[:, -1], plain[:, -1], atol=1e-3)   # the last frame hears the talk
    with pytest.raises(ParamsError, match="talk_after_probability"):
        AugmentParams(talk_after_probability=1.5).check("augment")
