"""Data sources: Hugging Face speech (real `datasets` code on a local dataset), gTTS offline, the user's files."""
import dataclasses
import io
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from puertocho import hf_speech
from puertocho.engine_shares import split_by_weight
from puertocho.params import DataParams, HfSpeechParams, Phrase
from puertocho.sources import (NotEnoughData, available_engines, check_minimums, local_background,
                               local_recordings, weighted_texts)
from puertocho.tts import CachedSynthesizer, EngineUnavailable, Utterance
from tests.conftest import tone


def make_parquet_dataset(folder, n_rows=4, rate=22050):
    """A dataset laid out as the hub serves Common Voice: parquet, audio as {bytes, path}, HF feature metadata."""
    folder.mkdir(parents=True)
    cells = []
    for index in range(n_rows):
        buffer = io.BytesIO()
        sf.write(buffer, np.stack([tone(1.0 + index * 0.5, 300 + 50 * index, rate)] * 2, axis=1), rate, format="WAV")
        cells.append({"bytes": buffer.getvalue(), "path": f"clip{index}.wav"})
    cells[1] = {"bytes": b"not audio at all", "path": "broken.wav"}
    table = pa.table({
        "audio": pa.array(cells, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "sentence": [f"frase número {i}" for i in range(n_rows)],
        "client_id": [f"speaker{i % 2}" for i in range(n_rows)],
    })
    features = {"audio": {"_type": "Audio"}, "sentence": {"dtype": "string", "_type": "Value"},
                "client_id": {"dtype": "string", "_type": "Value"}}
    table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    pq.write_table(table, folder / "train-00000-of-00001.parquet")
    return folder


def test_hf_speech_streams_decodes_caps_and_caches(tmp_path):
    dataset = make_parquet_dataset(tmp_path / "dataset", n_rows=5)
    settings = HfSpeechParams(name="hf", dataset=str(dataset), config="", split="train", text_column="sentence",
                              speaker_column="client_id", max_clips=3)
    clips, rejects = hf_speech.load_speech(settings, tmp_path / "cache")
    assert len(clips) == 3                                   # capped; the broken row skipped
    assert [text for _, text, _ in clips] == ["frase número 0", "frase número 2", "frase número 3"]
    assert clips[0][2] == "hf:speaker0" and len(rejects) == 1
    assert all(samples.ndim == 1 for samples, _, _ in clips)
    assert abs(len(clips[0][0]) / 16000 - 1.0) < 0.05        # resampled from 22050 Hz stereo to 16 kHz mono
    # Second call: from the cache (one entry; tests/test_real_speech.py checks what the key holds).
    again, _ = hf_speech.load_speech(settings, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert [t for _, t, _ in again] == [t for _, t, _ in clips]


def test_hf_speech_names_a_missing_column(tmp_path):
    dataset = make_parquet_dataset(tmp_path / "dataset")
    settings = HfSpeechParams(dataset=str(dataset), config="", split="train", text_column="transcription",
                              speaker_column="client_id")
    with pytest.raises(EngineUnavailable, match="no column 'transcription'"):
        hf_speech.load_speech(settings, tmp_path / "cache")


def test_hf_speech_offline_is_one_clear_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineUnavailable, match="cannot be reached.*data.hf_speech.required: false"):
        hf_speech.load_speech(HfSpeechParams(enabled=True), tmp_path / "cache")


def test_gtts_offline_is_skipped_with_a_warning_unless_required(tmp_path, caplog):
    synthesizer = CachedSynthesizer(tmp_path / "tts")
    optional = DataParams(engines=["espeak", "gtts"], gtts_required=False)
    if "gtts" in available_engines(optional, synthesizer):
        pytest.skip("this machine reaches Google: the offline path cannot be exercised here")
    assert available_engines(optional, synthesizer) == ["espeak"]
    assert "Skipping gTTS" in caplog.text
    required = dataclasses.replace(optional, gtts_required=True)
    with pytest.raises(EngineUnavailable, match="gTTS cannot reach Google.*data.engines"):
        available_engines(required, synthesizer)


def test_espeak_synthesis_is_16k_mono_and_cached(tmp_path):
    synthesizer = CachedSynthesizer(tmp_path / "tts")
    utterance = Utterance("espeak", "es+f3", "Hola Puertocho", rate=150, pitch=60)
    first = synthesizer.synthesize(utterance)
    assert first.ndim == 1 and 0.4 < len(first) / 16000 < 3.0
    second = synthesizer.synthesize(utterance)
    assert synthesizer.hits == 1 and synthesizer.misses == 1
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_unknown_espeak_voice_is_named_and_english_voices_are_known(tmp_path):
    synthesizer = CachedSynthesizer(tmp_path / "tts")
    with pytest.raises(EngineUnavailable, match="no voice 'xx-nowhere'"):
        synthesizer.synthesize(Utterance("espeak", "xx-nowhere", "hola"))
    # English base voices are known too (scripts/field_reference.py), with the same variants
    assert len(synthesizer.synthesize(Utterance("espeak", "en-us+f4", "Hey Jarvis"))) > 0.3 * 16000


def test_local_recordings_convert_odd_files_and_skip_a_corrupt_one(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    silence = np.zeros(4000, np.float32)
    sf.write(str(folder / "a_44k_stereo.wav"), np.stack([np.concatenate([silence, tone(0.8, 400, 44100)])] * 2, 1), 44100)
    sf.write(str(folder / "b_8k.flac"), tone(0.7, 300, 8000), 8000)
    sf.write(str(folder / "c_48k.ogg"), tone(0.9, 500, 48000), 48000)
    (folder / "d_corrupt.wav").write_bytes(b"RIFF0000WAVEjunk")
    (folder / "e_empty.mp3").write_bytes(b"")
    out = tmp_path / "out"
    records, rejects = local_recordings(folder, out, 0.2, 4.0)
    assert len(records) == 3 and len(rejects) == 2
    assert {r["path"].split("/")[-1] for r in rejects} == {"d_corrupt.wav", "e_empty.mp3"}
    for record in records:
        info = sf.info(str(out / record.path))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert abs(records[0].duration_s - 0.8) < 0.05  # leading silence trimmed


def test_missing_local_folder_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.local_positive_dir"):
        local_recordings(tmp_path / "nope", tmp_path / "out", 0.2, 4.0)
    with pytest.raises(FileNotFoundError, match="data.local_negative_dir"):
        local_background(tmp_path / "nope")


def test_local_background_is_cut_into_pieces(tmp_path):
    folder = tmp_path / "bg"
    folder.mkdir()
    sf.write(str(folder / "tv.wav"), tone(20.0, 250, 22050), 22050)
    clips, rejects = local_background(folder, piece_seconds=6.0)
    assert len(clips) == 3 and not rejects
    assert all(len(c) <= 6 * 16000 for c, _, _ in clips)


def test_phrase_weights_shape_the_counts():
    texts = weighted_texts([Phrase("Puertocho", 3.0), Phrase("Hola Puertocho", 1.0)], 4000, random.Random(0))
    share = texts.count("Puertocho") / len(texts)
    assert 0.72 < share < 0.78


@pytest.mark.parametrize("count", [0, 1, 2, 7, 2000])
def test_equal_engine_weights_deal_in_turn_as_before_weights_existed(count):
    # The default's data hashes in dvc.lock depend on this: equal weights must be items[i::n] exactly.
    items = list(range(count))
    names = ["espeak", "piper", "kokoro"]
    dealt = split_by_weight(items, names, [1.0, 1.0, 1.0])
    assert dealt == {name: items[i::3] for i, name in enumerate(names)}


def test_engine_weights_set_each_engines_share_and_keep_every_item_once():
    items = list(range(3333))
    dealt = split_by_weight(items, ["espeak", "piper", "kokoro"], [3.0, 1.0, 1.0])
    assert [len(dealt[name]) for name in ("espeak", "piper", "kokoro")] == [2000, 667, 666]
    assert sorted(dealt["espeak"] + dealt["piper"] + dealt["kokoro"]) == items
    # interleaved, not in blocks: every engine speaks from the start of the list (the phrase mix stays even)
    assert max(dealt["piper"][:10]) < 60 and max(dealt["kokoro"][:10]) < 60


def test_minimum_per_source_is_enforced():
    with pytest.raises(NotEnoughData, match="only 0 usable 'noise' clips"):
        check_minimums([], ["noise"], 1)
