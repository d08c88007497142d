"""The real pipeline: dvc repro on a tiny profile, an experiment, bad inputs, push and pull."""
import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from tests.conftest import copy_repo, run, tiny_params

pytestmark = pytest.mark.slow


def stages_that_ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def declared_outs(repo: Path) -> list[Path]:
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    paths = []
    for stage in pipeline["stages"].values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key, []):
                name = entry if isinstance(entry, str) else next(iter(entry))
                paths.append(repo / name.replace("${model.name}", params["model"]["name"]))
    return paths


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, base_params):
    """A copy of the repo after a full `dvc repro` on the tiny profile."""
    repo = copy_repo(tmp_path_factory.mktemp("e2e") / "repo", tiny_params(base_params))
    result = run(["dvc", "repro"], repo)
    return repo, result.stdout + result.stderr


def test_repro_runs_every_stage_and_writes_every_declared_out(pipeline):
    repo, output = pipeline
    assert stages_that_ran(output) == {"generate_positive", "generate_negative", "make_test", "features", "train",
                                       "export", "evaluate", "package"}
    missing = [str(p) for p in declared_outs(repo) if not p.exists()]
    assert not missing, f"declared outs missing: {missing}"
    metrics = json.loads((repo / "metrics/eval.json").read_text())
    for key in ("false_accepts_per_hour", "false_reject_rate", "threshold"):
        assert isinstance(metrics[key], (int, float)), key
    for key in ("accuracy", "f1"):
        assert isinstance(metrics["validation_windows"][key], (int, float)), key
    assert 0.0 <= metrics["false_reject_rate"] <= 1.0
    # reported on the test streams (0.02 h in the tiny profile), with bounds and breakdowns
    assert metrics["test"]["hours"] == pytest.approx(0.02, rel=0.05)
    assert metrics["false_accepts_per_hour_upper95"] >= metrics["false_accepts_per_hour"]
    assert metrics["false_reject_rate_low95"] <= metrics["false_reject_rate"] <= metrics["false_reject_rate_high95"]
    assert set(metrics["test"]["false_accepts_by_kind"]) == {"speech", "confusable", "noise"}
    assert {"engine", "family", "snr_band", "reverb"} <= set(metrics["test"]["false_rejects_by"])
    # the headline keeps the engines training never used; a neural engine that trains is reported apart
    params = yaml.safe_load((repo / "params.yaml").read_text())
    trained = set(params["data"]["engines"]) - {"espeak"}
    held_out = {voice["engine"] for voice in params["test"]["voices"]} - trained
    assert set(metrics["test"]["false_rejects_by"]["engine"]) == held_out
    assert set(metrics["seen_in_training"]["engines"]) == trained & {"piper", "kokoro"}
    assert metrics["test"]["utterances"] == sum(
        row["utterances"] for row in metrics["test"]["false_rejects_by"]["engine"].values())
    manifest = (repo / "data/positive/manifest.csv").read_text().splitlines()
    assert manifest[0] == "path,kind,engine,voice,text,rate,pitch,duration_s,holdout"
    assert len(manifest) - 1 == 48
    info = sf.info(str(repo / "data/positive" / manifest[1].split(",")[0]))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    # half the confusables are sentences with a confusable word inside (tiny profile), the rest words
    from puertocho import text
    negatives = list(csv.DictReader(open(repo / "data/negative/manifest.csv")))
    confusable_texts = [row["text"] for row in negatives if row["kind"] == "confusable"]
    in_sentences = sum(t in set(text.confusable_sentences()) for t in confusable_texts)
    assert 0 < in_sentences <= 8 and len(confusable_texts) - in_sentences > 0
    train = np.load(repo / "data/features/train.npz")
    n_frames = yaml.safe_load((repo / "params.yaml").read_text())["model"]["n_frames"]
    assert train["windows"].shape[1:] == (n_frames, 96) and train["windows"].dtype == np.float32
    # every training wake phrase in positive_copies_per_clip copies; the talk streams' windows are negatives
    augment = yaml.safe_load((repo / "params.yaml").read_text())["augment"]
    split = (repo / "data/features/split.csv").read_text().splitlines()
    train_positive_clips = sum(1 for row in split if row.endswith(",positive,train"))
    assert int(train["labels"].sum()) == augment["positive_copies_per_clip"] * train_positive_clips
    streamed = train["kinds"] == list(train["kind_names"]).index("talk_stream")
    assert streamed.sum() > 0 and not train["labels"][streamed].any()


def test_exported_model_loads_and_runs_in_openwakeword(pipeline):
    from openwakeword.model import Model
    repo, _ = pipeline
    model = Model(wakeword_model_paths=[str(repo / "models/puertocho_v1.onnx")])
    scores = [model.predict(np.zeros(1280, np.int16))["puertocho_v1"] for _ in range(10)]
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_nothing_changed_means_nothing_runs(pipeline):
    repo, _ = pipeline
    assert stages_that_ran(run(["dvc", "repro"], repo).stdout) == set()


def test_learning_rate_experiment_reruns_only_train_and_what_follows_it(pipeline):
    repo, _ = pipeline
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "baseline"], repo)
    result = run(["dvc", "exp", "run", "-S", "training.learning_rate=3e-4", "--name", "lr3e4"], repo)
    assert stages_that_ran(result.stdout) == {"train", "export", "evaluate", "package"}
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    found = None
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs", []):
                if revision.get("name") == "lr3e4":
                    found = revision
    assert found is not None, "experiment lr3e4 not in dvc exp show"
    data = found["data"]
    assert data["params"]["params.yaml"]["data"]["training"]["learning_rate"] == pytest.approx(3e-4)
    eval_metrics = data["metrics"]["metrics/eval.json"]["data"]
    assert isinstance(eval_metrics["false_accepts_per_hour"], (int, float))
    assert 0.0 <= eval_metrics["false_reject_rate"] <= 1.0


def test_the_readmes_exp_show_command_shows_every_engines_false_reject_rate(pipeline):
    """The README's `dvc exp show ... --keep` line, run as written after the lr3e4 experiment: --keep matches
    from the start of a column's name, so a pattern that does not spell the name from its first part silently
    keeps nothing (the line once lost every per-engine column that way)."""
    import shlex
    repo, _ = pipeline
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(text for text in readme.splitlines() if text.startswith("dvc exp show -A --md --drop"))
    shown = run(shlex.split(line), repo).stdout
    header = [cell.strip() for cell in shown.splitlines()[0].strip("|").split("|")]
    assert {"Experiment", "threshold", "false_accepts_per_hour", "false_reject_rate", "data.engines"} <= set(header)
    engine_columns = [name for name in header if name.startswith("test.false_rejects_by.engine.")
                      or name.startswith("seen_in_training.by_engine.")]
    assert engine_columns and all(name.endswith(".false_reject_rate") for name in engine_columns), header
    assert "lr3e4" in shown


def test_a_runtime_rules_experiment_with_allow_missing_does_not_retrain(pipeline):
    """README: `dvc exp run --allow-missing -S 'evaluate.patience_frames_choices=[2]'` in a fresh copy of the repo (--temp,
    as the queue runs) re-runs evaluate and package only; without --allow-missing train's uncached logs and
    checkpoints are missing there and it would retrain."""
    repo, _ = pipeline
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "before pat2"], repo, check=False)
    result = run(["dvc", "exp", "run", "--temp", "--allow-missing", "-S", "evaluate.patience_frames_choices=[2]",
                  "--name", "pat2"], repo)
    assert stages_that_ran(result.stdout + result.stderr) == {"evaluate", "package"}
    shown = run(["dvc", "exp", "show", "--json"], repo).stdout
    assert '"pat2"' in shown


def test_rules_chosen_by_the_calibration_are_the_rules_the_pi_gets(pipeline):
    """evaluate.*_choices: each pair of VAD threshold and patience is calibrated, the calibration picks one, and
    package ships that pair in the .env (not evaluate.vad_threshold / patience_frames as set). With a margin
    (evaluate.calibration_target_fpr) every pair is calibrated to that stricter aim."""
    repo, _ = pipeline
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "before rules-choice"], repo, check=False)
    result = run(["dvc", "exp", "run", "--temp", "--allow-missing", "-S", "evaluate.vad_threshold_choices=[0.0,0.2]",
                  "-S", "evaluate.patience_frames_choices=[1,2]", "-S", "evaluate.calibration_target_fpr=0.25",
                  "--name", "rules-choice"], repo)
    assert stages_that_ran(result.stdout + result.stderr) == {"evaluate", "package"}
    refs = run(["git", "for-each-ref", "refs/exps", "--format=%(refname) %(objectname)"], repo).stdout.split("\n")
    (rev,) = [line.split()[1] for line in refs if "/rules-choice " in line]
    metrics = json.loads(run(["git", "show", f"{rev}:metrics/eval.json"], repo).stdout)
    search = metrics["calibration"]["rules_search"]
    assert len(search) == 4 and sum(row["chosen"] for row in search) == 1
    assert metrics["calibration"]["aimed_false_accepts_per_hour"] == 0.25
    assert all(row["meets_target"] == (row["calibration_false_accepts_per_hour"] <= 0.25) for row in search)
    chosen = next(row for row in search if row["chosen"])
    assert (metrics["rules"]["vad_threshold"], metrics["rules"]["patience_frames"]) == (
        chosen["vad_threshold"], chosen["patience_frames"])
    assert metrics["threshold"] == chosen["threshold"]
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], repo).stdout)
    (env_md5,) = [out["md5"] for out in lock["stages"]["package"]["outs"] if out["path"].endswith(".env")]
    cache = Path(run(["dvc", "cache", "dir"], repo).stdout.strip()) / "files" / "md5"
    env = (cache / env_md5[:2] / env_md5[2:]).read_text()
    assert f"OPENWAKEWORD_VAD_THRESHOLD={chosen['vad_threshold']:g}\n" in env
    assert f"PUERTOCHO_PATIENCE_FRAMES={chosen['patience_frames']:d}\n" in env


def test_rescoring_an_experiment_on_its_own_test_set_gives_its_own_figures(pipeline):
    """scripts/rescore_experiments.py rebuilds an experiment's model and features from the cache and runs
    evaluate: on the test set it was scored on, it must reproduce the experiment's metrics exactly."""
    repo, _ = pipeline
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "before rescore-check"], repo, check=False)
    run(["dvc", "exp", "run", "-S", "training.learning_rate=5e-4", "--name", "rescore-check"], repo)
    scored = json.loads((repo / "metrics/eval.json").read_text())
    result = run(["python", "scripts/rescore_experiments.py", "--names", "rescore-check", "--out", "rescored"], repo)
    rescored = json.loads((repo / "rescored/rescore-check/eval.json").read_text())
    assert rescored == scored
    assert "| rescore-check |" in result.stdout
    run(["python", "scripts/rescore_experiments.py", "--names", "rules=HEAD", "--out", "rescored",
         "--set", "evaluate.patience_frames=2", "--set", "evaluate.vad_threshold=0",
         "--set", "evaluate.vad_threshold_choices=[]", "--set", "evaluate.patience_frames_choices=[]"], repo)
    rules = json.loads((repo / "rescored/rules/eval.json").read_text())["rules"]
    assert (rules["patience_frames"], rules["vad_threshold"]) == (2, 0)
    refused = run(["python", "scripts/rescore_experiments.py", "--names", "no-such-experiment"], repo, check=False)
    assert refused.returncode != 0 and "no-such-experiment" in refused.stderr


def test_training_data_knobs_leave_the_test_set_alone(pipeline, tmp_path):
    """false accepts per hour compare across experiments only if no data.* key changes the test set."""
    repo, _ = pipeline
    work = tmp_path / "repo"
    shutil.copytree(repo, work, symlinks=True)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["data"]["speech_count"] += 5
    params["data"]["variants"] = params["data"]["variants"][:-1]
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(run(["dvc", "status", "--json"], work).stdout)
    assert "generate_negative" in status and "generate_positive" in status
    assert "make_test" not in status


def test_extra_calibration_hours_leave_the_test_streams_alone(pipeline, tmp_path):
    """More calibration hours re-make only the extra calibration streams: every other file of the test set,
    the reported test streams above all, stays byte for byte the same, so earlier runs stay comparable."""
    repo, _ = pipeline
    work = tmp_path / "repo"
    shutil.copytree(repo, work, symlinks=True)
    params = yaml.safe_load((work / "params.yaml").read_text())
    extra_hours = params["test"]["extra_calibration_hours"]
    assert extra_hours > 0, "the tiny profile must exercise the extra calibration streams"
    params["test"]["extra_calibration_hours"] = 0.0
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["python", "-m", "stages.make_test", "--out", "data/test_without_extra"], work)
    with_extra, without = repo / "data/test", work / "data/test_without_extra"

    rows_with = list(csv.DictReader(open(with_extra / "negative/streams.csv")))
    rows_without = list(csv.DictReader(open(without / "negative/streams.csv")))
    extra = [row for row in rows_with if row["stream"].startswith("calibration_extra_")]
    assert {row["role"] for row in extra} == {"calibration"}
    assert sum(float(row["seconds"]) for row in extra) == pytest.approx(extra_hours * 3600, rel=0.01)
    assert rows_without == [row for row in rows_with if row not in extra]
    confusables_with = list(csv.DictReader(open(with_extra / "negative/confusable_utterances.csv")))
    confusables_without = list(csv.DictReader(open(without / "negative/confusable_utterances.csv")))
    assert confusables_without == [row for row in confusables_with
                                   if not row["stream"].startswith("calibration_extra_")]
    listed = {"negative/streams.csv", "negative/confusable_utterances.csv", "summary.json"}
    files = sorted(str(p.relative_to(without)) for p in without.rglob("*") if p.is_file())
    assert any(name.startswith("negative/test_") for name in files)
    for name in files:
        if name not in listed:
            assert _digest(with_extra / name) == _digest(without / name), f"{name} changed"
    # the extra streams are new audio, not copies of the first calibration hour
    first = {_digest(without / "negative" / f"{row['stream']}.flac") for row in rows_without}
    assert not first & {_digest(with_extra / "negative" / f"{row['stream']}.flac") for row in extra}


def test_push_and_pull_through_the_local_remote(pipeline, tmp_path):
    repo, _ = pipeline
    run(["dvc", "push"], repo)
    storage = repo.parent / "puertocho-dvc-storage"
    assert storage.is_dir() and any(storage.rglob("*"))
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone, ignore=shutil.ignore_patterns(".dvc", "data", "models"))
    shutil.copytree(repo / ".dvc", clone / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
    (clone / ".dvc/config").write_text((repo / ".dvc/config").read_text().replace(
        "../../puertocho-dvc-storage", str(storage)))
    run(["dvc", "pull", "models/puertocho_v1.onnx"], clone)
    assert (clone / "models/puertocho_v1.onnx").read_bytes() == (repo / "models/puertocho_v1.onnx").read_bytes()
    assert not (clone / "data/features").exists()


def _digest(path: Path) -> bytes:
    import hashlib
    return hashlib.sha256(path.read_bytes()).digest()


@pytest.mark.parametrize("damage,expected", [
    ("corrupt", "not a readable audio file"),
    ("empty", "the file is empty"),
    ("stereo44k", "44100 Hz instead of 16000 Hz, 2 channels instead of 1"),
])
def test_bad_clip_gives_a_clear_error_and_keeps_earlier_outputs(pipeline, tmp_path, damage, expected):
    repo, _ = pipeline
    work = tmp_path / "repo"
    shutil.copytree(repo, work, symlinks=True)
    clip = work / "data/positive/clips/positive_00003.wav"
    clip.unlink()  # may be a link into the cache: never write through it
    if damage == "corrupt":
        clip.write_bytes(b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(range(40)))
    elif damage == "empty":
        clip.write_bytes(b"")
    else:
        sf.write(str(clip), np.zeros((44100, 2), np.float32) + 0.1, 44100, subtype="PCM_16")
    features_before = _digest(work / "data/features/train.npz")
    cache_before = sorted(p.name for p in (work / ".dvc/cache").rglob("*") if p.is_file())
    result = run(["python", "-m", "stages.features", "--positive", "data/positive", "--negative", "data/negative",
                  "--out", "data/features", "--data-report", "metrics/data.json"], work, check=False)
    assert result.returncode == 1
    assert "positive_00003.wav" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr
    assert _digest(work / "data/features/train.npz") == features_before
    assert sorted(p.name for p in (work / ".dvc/cache").rglob("*") if p.is_file()) == cache_before


def test_unknown_params_key_fails_naming_it_and_keeps_outputs(pipeline, tmp_path):
    repo, _ = pipeline
    work = tmp_path / "repo"
    shutil.copytree(repo, work, symlinks=True)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["training"]["learnig_rate"] = 0.01
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    model_before = _digest(work / "models/puertocho_v1.onnx")
    result = run(["dvc", "repro"], work, check=False)
    assert result.returncode != 0
    assert "unknown key 'training.learnig_rate'" in result.stdout + result.stderr
    assert _digest(work / "models/puertocho_v1.onnx") == model_before
    assert (work / "data/features/train.npz").exists()
