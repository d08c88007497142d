"""Real speech sources on local fixtures laid out as each source serves its data: the hub's parquet layout
(Multilingual LibriSpeech), an extracted Common Voice folder, an extracted Spoken Words folder, and a
precomputed-features .npy. The real `datasets`, soundfile and numpy code paths run; nothing is mocked."""
import csv
import dataclasses
import io
import json
import logging
import socket

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from puertocho import hf_speech, real_speech
from puertocho.examples import assign_splits
from puertocho.params import (CommonVoiceParams, HfSpeechParams, ParamsError, SpokenWordsParams, load_params,
                              parse_params)
from puertocho.report import data_report
from puertocho.sources import ClipRecord
from puertocho.tts import EngineUnavailable
from stages.generate_negative import real_speech_records
from tests.conftest import REPO, tone

MLS_README = """---
license: cc-by-4.0
configs:
- config_name: spanish
  data_files:
  - split: dev
    path: spanish/dev-*
  - split: test
    path: spanish/test-*
---
"""


def make_mls_folder(folder, n_rows=6, broken_row=1):
    """A copy of the hub's layout of facebook/multilingual_librispeech: README configs, spanish/<split>-*.parquet,
    FLAC bytes in an {bytes, path} audio struct, the real column names, one broken audio cell."""
    (folder / "spanish").mkdir(parents=True)
    (folder / "README.md").write_text(MLS_README)
    for split, rows in (("dev", n_rows), ("test", 2)):
        cells = []
        for index in range(rows):
            buffer = io.BytesIO()
            sf.write(buffer, tone(1.0 + 0.25 * index, 200 + 40 * index, 16000), 16000, format="FLAC")
            cells.append({"bytes": buffer.getvalue(), "path": f"{split}_{index}.flac"})
        if split == "dev":
            cells[broken_row] = {"bytes": b"fLaC but not really", "path": "broken.flac"}
        table = pa.table({
            "audio": pa.array(cells, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            "original_path": [f"orig_{i}" for i in range(rows)],
            "begin_time": [0.0] * rows, "end_time": [1.0] * rows,
            "transcript": [f"{split} frase {i}" for i in range(rows)],
            "audio_duration": [1.0] * rows,
            "speaker_id": [str(100 + i % 3) for i in range(rows)],
            "chapter_id": ["7"] * rows, "file": [f"f{i}.flac" for i in range(rows)], "id": [f"id{i}" for i in range(rows)],
        })
        features = {"audio": {"sampling_rate": 16000, "_type": "Audio"}}
        features.update({name: {"dtype": "string", "_type": "Value"} for name in
                         ("original_path", "transcript", "speaker_id", "chapter_id", "file", "id")})
        features.update({name: {"dtype": "float64", "_type": "Value"} for name in
                         ("begin_time", "end_time", "audio_duration")})
        table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
        pq.write_table(table, folder / "spanish" / f"{split}-00000-of-00001.parquet")
    return folder


CV_COLUMNS = ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes", "age",
              "gender", "accents", "variant", "locale", "segment"]


def make_common_voice_folder(folder, clips_per_speaker=(5, 1, 1), corrupt="common_voice_es_000001.mp3"):
    """An extracted Common Voice language folder: clips/*.mp3 (real MP3) and validated.tsv with the corpus's
    columns; one clip is corrupt. Speaker 'aaa' recorded far more than the others, as in the real corpus."""
    (folder / "clips").mkdir(parents=True)
    rows, number = [], 0
    for speaker, count in zip(("aaa", "bbb", "ccc"), clips_per_speaker):
        for _ in range(count):
            name = f"common_voice_es_{number:06d}.mp3"
            sf.write(str(folder / "clips" / name), tone(1.2, 250 + 30 * number, 48000), 48000, format="MP3")
            rows.append({"client_id": speaker, "path": name, "sentence_id": f"s{number}",
                         "sentence": f'Dijo "hola" {number}', "sentence_domain": "", "up_votes": "2",
                         "down_votes": "0", "age": "", "gender": "", "accents": "", "variant": "", "locale": "es",
                         "segment": ""})
            number += 1
    (folder / "clips" / corrupt).write_bytes(b"ID3\x03\x00\x00\x00 this is no mp3 stream")
    # Written as the corpus writes it: tab-separated, quotes inside sentences left bare.
    lines = ["\t".join(CV_COLUMNS)] + ["\t".join(row[c] for c in CV_COLUMNS) for row in rows]
    (folder / "validated.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def make_spoken_words_folder(folder):
    """An extracted MSWC Spanish folder: clips/<word>/common_voice_es_*.opus and es_splits.csv
    (SET,LINK,WORD,VALID,SPEAKER,GENDER); one clip marked not valid."""
    rows = []
    for number, (word, speaker, valid) in enumerate([("puerto", "aaa", "True"), ("puerto", "ddd", "True"),
                                                     ("ocho", "eee", "True"), ("ocho", "fff", "False"),
                                                     ("mesa", "ggg", "True")]):
        link = f"{word}/common_voice_es_{900 + number}.opus"
        (folder / "clips" / word).mkdir(parents=True, exist_ok=True)
        clip = np.concatenate([np.zeros(4800, np.float32), tone(0.6, 300 + 50 * number, 48000)])
        sf.write(str(folder / "clips" / link), clip, 48000, format="OGG", subtype="OPUS")
        rows.append({"SET": "TRAIN", "LINK": link, "WORD": word, "VALID": valid, "SPEAKER": speaker, "GENDER": "NAN"})
    with open(folder / "es_splits.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["SET", "LINK", "WORD", "VALID", "SPEAKER", "GENDER"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def record(voice, kind="speech", text="t", engine="cv", holdout=False):
    return ClipRecord(f"clips/{voice}_{text}.wav", kind, engine, voice, text, 0, 0, 1.0, holdout)


# ---------------------------------------------------------------- Hugging Face hub layout

def test_mls_hub_layout_streams_the_config_split_with_speakers_caps_and_a_broken_row(tmp_path):
    dataset = make_mls_folder(tmp_path / "mls")
    settings = HfSpeechParams(dataset=str(dataset), max_clips=4)   # the params defaults: spanish, dev, MLS columns
    clips, rejects = hf_speech.load_speech(settings, tmp_path / "cache", seed=42)
    assert [text for _, text, _ in clips] == ["dev frase 0", "dev frase 2", "dev frase 3", "dev frase 4"]
    assert [speaker for _, _, speaker in clips] == ["mls:100", "mls:102", "mls:100", "mls:101"]
    assert len(rejects) == 1 and "row 1" in rejects[0]["path"] and "undecodable" in rejects[0]["reason"]
    assert all(s.ndim == 1 and s.dtype == np.float32 for s, _, _ in clips)


def test_hub_cache_key_holds_the_caps_and_the_local_files(tmp_path, caplog):
    dataset = make_mls_folder(tmp_path / "mls")
    settings = HfSpeechParams(dataset=str(dataset), max_clips=2)
    first, _ = hf_speech.load_speech(settings, tmp_path / "cache")
    more, _ = hf_speech.load_speech(dataclasses.replace(settings, max_clips=3), tmp_path / "cache")
    fewer_hours, _ = hf_speech.load_speech(dataclasses.replace(settings, max_clips=5, max_hours=1.5 / 3600),
                                           tmp_path / "cache")
    assert (len(first), len(more), len(fewer_hours)) == (2, 3, 2)   # a changed cap is a different cache entry
    assert len(list((tmp_path / "cache").iterdir())) == 3
    with caplog.at_level(logging.INFO):
        again, _ = hf_speech.load_speech(dataclasses.replace(settings, max_clips=3), tmp_path / "cache")
    assert "Using 3 cached mls clips" in caplog.text and len(list((tmp_path / "cache").iterdir())) == 3
    assert [t for _, t, _ in again] == [t for _, t, _ in more]
    np.testing.assert_array_equal(again[0][0], more[0][0])
    # A changed local dataset is a different cache entry, not a stale hit.
    table = pq.read_table(dataset / "spanish" / "dev-00000-of-00001.parquet")
    pq.write_table(table.slice(2), dataset / "spanish" / "dev-00000-of-00001.parquet")
    changed, _ = hf_speech.load_speech(dataclasses.replace(settings, max_clips=3), tmp_path / "cache")
    assert [t for _, t, _ in changed] == ["dev frase 2", "dev frase 3", "dev frase 4"]


def test_hub_missing_speaker_column_is_named(tmp_path):
    dataset = make_mls_folder(tmp_path / "mls")
    settings = HfSpeechParams(dataset=str(dataset), speaker_column="client_id")
    with pytest.raises(EngineUnavailable, match="no column 'client_id'.*data.hf_speech"):
        hf_speech.load_speech(settings, tmp_path / "cache")


def test_default_params_never_touch_the_network(tmp_path, monkeypatch):
    params = load_params(REPO / "params.yaml")
    assert not params.data.hf_speech.enabled and not params.data.spoken_words.hub.enabled
    assert params.data.hf_speech.dataset == "facebook/multilingual_librispeech"
    assert (params.data.common_voice.dir, params.data.spoken_words.dir, params.data.precomputed_negatives.path) == \
        ("", "", "")
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    rejects = []
    assert real_speech_records(params.data, tmp_path / "out", tmp_path / "cache", rejects) == []
    assert attempts == [] and rejects == []


def test_enabled_hub_offline_fails_in_one_sentence_or_warns_when_not_required(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = load_params(REPO / "params.yaml").data
    data = dataclasses.replace(data, hf_speech=dataclasses.replace(data.hf_speech, enabled=True))
    with pytest.raises(EngineUnavailable, match=r"'facebook/multilingual_librispeech' cannot be reached.*"
                                                r"data\.hf_speech\.enabled: false"):
        real_speech_records(data, tmp_path / "out", tmp_path / "cache", [])
    optional = dataclasses.replace(data, hf_speech=dataclasses.replace(data.hf_speech, required=False))
    with caplog.at_level(logging.WARNING):
        assert real_speech_records(optional, tmp_path / "out", tmp_path / "cache", []) == []
    assert "Going on without data.hf_speech" in caplog.text


def test_spoken_words_hub_mirror_offline_names_its_own_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = load_params(REPO / "params.yaml").data
    hub = dataclasses.replace(data.spoken_words.hub, enabled=True)
    data = dataclasses.replace(data, spoken_words=dataclasses.replace(data.spoken_words, hub=hub))
    with pytest.raises(EngineUnavailable, match=r"MLCommons/ml_spoken_words.*data\.spoken_words\.hub\.enabled"):
        real_speech_records(data, tmp_path / "out", tmp_path / "cache", [])


# ---------------------------------------------------------------- Common Voice (Mozilla Data Collective)

def test_common_voice_folder_spreads_over_speakers_and_skips_a_corrupt_mp3(tmp_path):
    folder = make_common_voice_folder(tmp_path / "cv-corpus" / "es")
    settings = CommonVoiceParams(dir=str(folder), max_clips=10, max_clips_per_speaker=3)
    clips, rejects = real_speech.load_common_voice(settings, tmp_path / "cache", seed=1)
    speakers = [speaker for _, _, speaker in clips]
    assert sorted(set(speakers)) == ["cv:aaa", "cv:bbb", "cv:ccc"]
    assert speakers.count("cv:aaa") <= 3                        # the prolific speaker is capped
    assert {r["path"].split("/")[-1] for r in rejects} <= {"common_voice_es_000001.mp3"}
    assert len(clips) + len(rejects) == 3 + 1 + 1                # every candidate of the capped plan, once
    assert all('"hola"' in text for _, text, _ in clips)        # quotes kept: the TSV is read without quoting
    assert all(abs(len(s) / 16000 - 1.2) < 0.1 for s, _, _ in clips)  # 48 kHz MP3 -> 16 kHz mono


def test_common_voice_corrupt_clip_is_reported_not_fatal(tmp_path):
    folder = make_common_voice_folder(tmp_path / "es", clips_per_speaker=(2, 1, 1), corrupt="common_voice_es_000002.mp3")
    clips, rejects = real_speech.load_common_voice(CommonVoiceParams(dir=str(folder)), tmp_path / "cache", seed=0)
    assert len(clips) == 3
    assert len(rejects) == 1 and rejects[0]["path"].endswith("common_voice_es_000002.mp3")
    assert "cv:bbb" not in {speaker for _, _, speaker in clips}  # bbb's only clip was the corrupt one


def test_common_voice_cache_key_holds_caps_and_the_table(tmp_path):
    folder = make_common_voice_folder(tmp_path / "es")
    settings = CommonVoiceParams(dir=str(folder), max_clips=2)
    assert len(real_speech.load_common_voice(settings, tmp_path / "cache", 0)[0]) == 2
    assert len(real_speech.load_common_voice(dataclasses.replace(settings, max_clips=4), tmp_path / "cache", 0)[0]) == 4
    assert len(real_speech.load_common_voice(dataclasses.replace(settings, max_hours=1.0 / 3600), tmp_path / "cache",
                                             0)[0]) == 1
    assert len(list((tmp_path / "cache").iterdir())) == 3


def test_common_voice_missing_folder_or_column_says_what_to_do(tmp_path):
    with pytest.raises(real_speech.SourceUnavailable, match=r"data\.common_voice\.dir.*Mozilla Data Collective"):
        real_speech.load_common_voice(CommonVoiceParams(dir=str(tmp_path / "nope")), tmp_path / "cache", 0)
    folder = make_common_voice_folder(tmp_path / "es")
    (folder / "train.tsv").write_text("path\tsentence\nx.mp3\thola\n")
    with pytest.raises(real_speech.SourceUnavailable, match=r"train\.tsv has no column\(s\) \['client_id'\]"):
        real_speech.load_common_voice(CommonVoiceParams(dir=str(folder), table="train.tsv"), tmp_path / "cache", 0)


# ---------------------------------------------------------------- Multilingual Spoken Words

def test_spoken_words_folder_keeps_wanted_valid_words_as_common_voice_speakers(tmp_path):
    folder = make_spoken_words_folder(tmp_path / "mswc" / "es")
    settings = SpokenWordsParams(dir=str(folder), words=["puerto", "ocho"])
    clips, rejects = real_speech.load_spoken_words(settings, tmp_path / "cache", seed=3)
    assert sorted((text, speaker) for _, text, speaker in clips) == [
        ("ocho", "cv:eee"), ("puerto", "cv:aaa"), ("puerto", "cv:ddd")]  # 'mesa' not wanted, fff not valid
    assert rejects == [] and all(0.4 < len(s) / 16000 < 0.8 for s, _, _ in clips)  # leading silence trimmed
    with pytest.raises(real_speech.SourceUnavailable, match=r"no valid clip of \['zapato'\]"):
        real_speech.load_spoken_words(dataclasses.replace(settings, words=["zapato"]), tmp_path / "cache", 3)


# ---------------------------------------------------------------- the stage's real-speech step

def test_stage_writes_real_speakers_holds_some_out_and_groups_them_in_splits(tmp_path):
    data = load_params(REPO / "params.yaml").data
    data = dataclasses.replace(
        data, common_voice=CommonVoiceParams(dir=str(make_common_voice_folder(tmp_path / "cv", (3, 2, 2), "x.mp3"))),
        spoken_words=dataclasses.replace(data.spoken_words, dir=str(make_spoken_words_folder(tmp_path / "mswc"))),
        real_speech_test_fraction=0.3)
    rejects = []
    records = real_speech_records(data, tmp_path / "out", tmp_path / "cache", rejects)
    assert {(r.kind, r.engine) for r in records} == {("speech", "cv"), ("confusable", "mswc")}
    assert {r.text for r in records if r.engine == "mswc"} <= set(data.spoken_words.words)
    for r in records:
        info = sf.info(str(tmp_path / "out" / r.path))
        assert (info.samplerate, info.channels) == (16000, 1)
    held_out = {r.voice for r in records if r.holdout}
    assert held_out and all(r.holdout for r in records if r.voice in held_out)   # whole people, both sources
    assert len(held_out) == 2                                                     # round(0.3 * 6 speakers)
    splits = assign_splits(records, 0.5, seed=5)
    by_speaker = {}
    for r, split in zip(records, splits):
        by_speaker.setdefault(r.voice, set()).add(split)
    assert all(len(sides) == 1 for sides in by_speaker.values())
    summary = real_speech.summarize_sources(records)
    assert summary["cv"]["speakers"] == 3 and summary["mswc"]["speakers"] == 3   # mesa not wanted, fff not valid
    assert summary["cv"]["test_speakers"] + summary["mswc"]["test_speakers"] >= 2
    report = data_report({"negative": records}, 0, {"train": {"windows": 1}, "validation": {"windows": 1}})
    assert report["speakers"] == {"confusable_mswc": 3, "speech_cv": 3}


# ---------------------------------------------------------------- held-out test speakers

def test_split_speakers_for_test_holds_out_whole_speakers_deterministically():
    records = [record(f"mls:{s}", text=str(i)) for s in range(10) for i in range(3)]
    records += [record("es+f3", engine="espeak"), record("local", engine="local")]
    train, test = real_speech.split_speakers_for_test(records, 0.2, seed=42)
    assert len({r.voice for r in test}) == 2 and len(test) == 6
    assert not {r.voice for r in train} & {r.voice for r in test}
    assert {"es+f3", "local"} <= {r.voice for r in train}
    assert real_speech.split_speakers_for_test(records, 0.2, seed=42) == (train, test)
    choices = {frozenset(r.voice for r in real_speech.split_speakers_for_test(records, 0.2, seed)[1])
               for seed in range(10)}
    assert len(choices) > 1                                       # the seed decides who is held out
    assert real_speech.split_speakers_for_test(records, 0.0, seed=42)[1] == []
    two = [record("cv:a"), record("cv:b")]
    assert len(real_speech.split_speakers_for_test(two, 0.01, seed=0)[1]) == 1   # at least one, never all


# ---------------------------------------------------------------- precomputed negative features

def test_precomputed_windows_are_memory_mapped_and_sampled_from_separate_parts(tmp_path):
    # Row i is filled with i / 64 (exact in float16: openWakeWord ships its features as 16-bit floats).
    windows = np.broadcast_to((np.arange(200) / 64).astype(np.float16)[:, None, None], (200, 16, 96)).copy()
    path = tmp_path / "negative_features.npy"
    np.save(path, windows)
    assert isinstance(real_speech.open_precomputed(path, 16), np.memmap)
    train = real_speech.sample_precomputed(path, 16, 50, "train", 0.2, seed=1)
    validation = real_speech.sample_precomputed(path, 16, 30, "validation", 0.2, seed=1)
    assert train.shape == (50, 16, 96) and train.dtype == np.float32 and validation.shape == (30, 16, 96)
    train_rows = set((train[:, 0, 0] * 64).astype(int))
    validation_rows = set((validation[:, 0, 0] * 64).astype(int))
    assert len(train_rows) == 50 and max(train_rows) < 160 and min(validation_rows) >= 160
    np.testing.assert_array_equal(train, real_speech.sample_precomputed(path, 16, 50, "train", 0.2, seed=1))
    assert real_speech.sample_precomputed(path, 16, 10_000, "validation", 0.2, seed=1).shape[0] == 40


def test_precomputed_wrong_shape_is_rejected_by_name(tmp_path):
    wrong = tmp_path / "acav_wrong.npy"
    np.save(wrong, np.zeros((10, 16, 32), np.float32))
    with pytest.raises(real_speech.PrecomputedFeaturesError, match=r"acav_wrong\.npy: shape \(10, 16, 32\)"):
        real_speech.sample_precomputed(wrong, 16, 5, "train", 0.2, seed=0)
    # openWakeWord publishes 16-frame windows; a longer head context says which key to set
    sixteen = tmp_path / "acav16.npy"
    np.save(sixteen, np.zeros((10, 16, 96), np.float32))
    with pytest.raises(real_speech.PrecomputedFeaturesError, match=r"acav16\.npy: .*needs model\.n_frames: 16"):
        real_speech.open_precomputed(sixteen, 24)
    integers = tmp_path / "ints.npy"
    np.save(integers, np.zeros((10, 16, 96), np.int16))
    with pytest.raises(real_speech.PrecomputedFeaturesError, match=r"ints\.npy: .*int16.*float"):
        real_speech.open_precomputed(integers, 16)
    with pytest.raises(real_speech.PrecomputedFeaturesError, match=r"data\.precomputed_negatives\.path"):
        real_speech.open_precomputed(tmp_path / "missing.npy", 16)


# ---------------------------------------------------------------- params

@pytest.mark.parametrize("path,value,message", [
    (("hf_speech", "name"), "ml:s", r"data\.hf_speech\.name"),
    (("hf_speech", "speaker_column"), "", r"data\.hf_speech\.speaker_column"),
    (("common_voice", "table"), "clips", r"data\.common_voice\.table"),
    (("spoken_words", "hub", "max_clips"), 0, r"data\.spoken_words\.hub\.max_clips"),
    (("precomputed_negatives", "train_windows"), -1, r"data\.precomputed_negatives\.train_windows"),
    (("real_speech_test_fraction",), 1.0, r"data\.real_speech_test_fraction"),
])
def test_real_speech_params_name_their_key(path, value, message):
    import yaml
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    target = raw["data"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


# ---------------------------------------------------------------- the features stage with precomputed negatives

def test_features_stage_appends_sampled_precomputed_negatives(tmp_path):
    import argparse

    from puertocho import audio
    from puertocho.sources import write_manifest
    from stages import features

    rng = np.random.default_rng(0)
    for name, kinds in (("positive", ["positive"] * 4), ("negative", ["noise"] * 4 + ["speech"] * 4)):
        rows = []
        for index, kind in enumerate(kinds):
            path = f"clips/{name}_{index}.wav"
            audio.write_clip(tmp_path / name / path, (0.05 * rng.standard_normal(24000)).astype(np.float32))
            rows.append(ClipRecord(path, kind, "espeak", f"es+v{index}", f"text {index}", 0, 0, 1.5, False))
        write_manifest(tmp_path / name / "manifest.csv", rows)
    precomputed = tmp_path / "validation_set_features.npy"
    np.save(precomputed, rng.standard_normal((300, 16, 96)).astype(np.float32))
    params = load_params(REPO / "params.yaml")
    data = dataclasses.replace(params.data, validation_fraction=0.5, precomputed_negatives=dataclasses.replace(
        params.data.precomputed_negatives, path=str(precomputed), train_windows=40, validation_windows=7))
    # openWakeWord's files hold 16-frame windows: a head that uses them sees 16 frames, whatever the default
    params = dataclasses.replace(params, data=data, model=dataclasses.replace(params.model, n_frames=16))
    args = argparse.Namespace(positive=str(tmp_path / "positive"), negative=str(tmp_path / "negative"),
                              out=str(tmp_path / "features"), data_report=str(tmp_path / "data.json"))
    features.run(params, args)
    for split, count in (("train", 40), ("validation", 7)):
        arrays = np.load(tmp_path / "features" / f"{split}.npz")
        assert list(arrays["kind_names"])[-1] == "precomputed"
        mine = arrays["kinds"] == len(arrays["kind_names"]) - 1
        assert mine.sum() == count and (arrays["labels"][mine] == 0).all()
        np.testing.assert_array_equal(arrays["windows"][mine], real_speech.sample_precomputed(
            precomputed, 16, count, split, 0.5, params.data.seed))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((10, 12, 96), np.float32))
    bad = dataclasses.replace(params, data=dataclasses.replace(data, precomputed_negatives=dataclasses.replace(
        data.precomputed_negatives, path=str(wrong))))
    with pytest.raises(real_speech.PrecomputedFeaturesError, match=r"wrong\.npy: shape \(10, 12, 96\)"):
        features.run(bad, args)
