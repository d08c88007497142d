"""Splits keep every group on one side and every kind in training; synthesis gives the same bytes every run."""
import hashlib
import subprocess
import sys

import yaml

from puertocho.examples import assign_splits, split_group
from puertocho.noise import COLOURS
from puertocho.sources import ClipRecord
from tests.conftest import REPO, VENV_BIN, tiny_params


def record(index, kind, engine="espeak", voice="es+f3", text="hola"):
    return ClipRecord(f"clips/{kind}_{index:05d}.wav", kind, engine, voice, text, 150, 50, 1.0, False)


def corpus():
    records = [record(i, "noise", "synthetic", COLOURS[i % 3], "") for i in range(300)]
    records += [record(i, "speech", "espeak", f"es+m{i % 7}", f"frase {i % 40}") for i in range(400)]
    records += [record(i, "positive", "espeak", f"es+f{i % 5}", ["Puertocho", "Hola Puertocho"][i % 2]) for i in range(200)]
    records += [record(i, "speech", "cv", f"cv:person{i % 25}", f"sentence {i}") for i in range(250)]
    records += [record(i, "confusable", "mswc", f"cv:person{i % 25}", "puerto") for i in range(100)]
    records += [record(i, "positive", "local", "user", f"take{i}") for i in range(40)]
    return records


def test_no_group_crosses_splits_and_every_kind_and_colour_reaches_training():
    records = corpus()
    splits = assign_splits(records, 0.2, seed=42, local_test_fraction=0.3)
    sides = {}
    for item, split in zip(records, splits):
        sides.setdefault(split_group(item), set()).add(split)
    assert all(len(found) == 1 for found in sides.values())
    trained = {(r.kind, r.voice if r.kind == "noise" else "") for r, s in zip(records, splits) if s == "train"}
    assert {("noise", colour, ) for colour in COLOURS} <= {(k, v) for k, v in trained if k == "noise"}
    assert {k for k, _ in trained} >= {"noise", "speech", "positive", "confusable"}
    validated = {(r.kind, r.voice) for r, s in zip(records, splits) if s == "validation" and r.kind == "noise"}
    assert {voice for _, voice in validated} == set(COLOURS)  # every colour on both sides
    # a real person is one group across kinds (cv speech and mswc words of the same speaker)
    person = {s for r, s in zip(records, splits) if r.voice == "cv:person3"}
    assert len(person) == 1
    local = [s for r, s in zip(records, splits) if r.engine == "local"]
    assert 4 <= local.count("test") <= 20 and "train" in local
    assert "test" not in {s for r, s in zip(records, splits) if r.engine != "local"}


def test_split_does_not_move_when_other_records_change():
    records = corpus()
    first = dict(zip((r.path for r in records), assign_splits(records, 0.2, 42)))
    fewer = records[::2]
    second = dict(zip((r.path for r in fewer), assign_splits(fewer, 0.2, 42)))
    assert all(first[path] == split for path, split in second.items())


def digest_folder(folder):
    hashes = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            hashes.update(path.relative_to(folder).as_posix().encode())
            hashes.update(path.read_bytes())
    return hashes.hexdigest()


def test_generate_positive_gives_identical_bytes_in_separate_processes(tmp_path, base_params):
    """The issue that started this: three syntheses of the same params gave three data hashes."""
    params = tiny_params(base_params)
    params["data"]["positive_count"] = 24
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    digests = []
    for run, workers in (("a", 1), ("b", 2)):  # separate processes, cold caches, different worker counts
        subprocess.run([str(VENV_BIN / "python"), "-m", "stages.generate_positive", "--params",
                        str(tmp_path / "params.yaml"), "--out", str(tmp_path / run), "--cache",
                        str(tmp_path / f"cache_{run}"), "--workers", str(workers)], cwd=REPO, check=True,
                       capture_output=True)
        digests.append(digest_folder(tmp_path / run))
    assert digests[0] == digests[1]
    assert len(list((tmp_path / "a" / "clips").glob("*.wav"))) == 24


def test_negative_plan_gives_neural_engines_their_share_only_when_they_train(base_params):
    import random

    from puertocho.params import parse_params
    from puertocho.sources import training_voice_ids
    from stages.generate_negative import negative_plan
    espeak_params = yaml.safe_load(yaml.safe_dump(base_params))
    espeak_params["data"]["engines"] = ["espeak"]
    params = parse_params(espeak_params)
    texts = [f"frase {i}" for i in range(400)]
    espeak_only = negative_plan(texts, params.data, random.Random(0), training_voice_ids(params.data), 0.5)
    assert {u.engine for u in espeak_only} == {"espeak"} and [u.text for u in espeak_only] == texts
    raw = yaml.safe_load(yaml.safe_dump(base_params))
    raw["data"]["engines"] = ["espeak", "piper"]
    with_piper = parse_params(raw).data
    plan = negative_plan(texts, with_piper, random.Random(0), training_voice_ids(with_piper), 0.25)
    share = sum(u.engine == "piper" for u in plan) / len(plan)
    assert 0.18 < share < 0.32 and sorted(u.text for u in plan) == sorted(texts)
