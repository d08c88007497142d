"""The house teaches the model, Pi side: --save-clips, the review step, and scripts/push_clips.sh through DVC."""
from __future__ import annotations

import csv
import io
import subprocess

import pytest

from puertocho.review import main as review_main
from puertocho.review import pending_clips, review
from tests.conftest import VENV_BIN, copy_repo, run
from tests.test_listen import ALEXA, SETTINGS, listen, test_wav  # noqa: F401  (test_wav is a fixture)


@pytest.fixture
def saved_clips(test_wav, tmp_path):
    """Clips the listener kept from the two-Alexa WAV: 2 detections and some near misses."""
    clips = tmp_path / "clips"
    result = listen("--wav", str(test_wav[0]), "--model", str(ALEXA), *SETTINGS, "--save-clips", str(clips),
                    "--near-miss", "0.0005")
    assert result.returncode == 0, result.stderr
    return clips


def test_review_sorts_clips_and_remembers_what_was_reviewed(saved_clips, tmp_path):
    out = tmp_path / "house"
    rows = pending_clips(saved_clips, out)
    kinds = [row["kind"] for row in rows]
    assert kinds.count("detection") == 2 and len(rows) >= 3
    # Detections are real wake words; the first near miss is a false alarm; "x" is re-asked; then skip, quit.
    answers = []
    for kind in kinds:
        answers.append("w" if kind == "detection" else "x\nn")
    answers = "\n".join(answers[:3]) + "\ns\nq\n"
    printed = io.StringIO()
    played = []
    counts = review(saved_clips, out, answers=io.StringIO(answers), output=printed, play=played.append)
    expected_wake = kinds[:3].count("detection")
    assert counts["wake_word"] == expected_wake and counts["not_wake_word"] == 3 - expected_wake
    assert len(list((out / "wake_word").glob("*.wav"))) == expected_wake
    assert len(list((out / "not_wake_word").glob("*.wav"))) == 3 - expected_wake
    assert "please answer w, n, r, s or q" in printed.getvalue()
    assert played[0].name == rows[0]["file"]
    with open(out / "reviewed.csv", newline="") as handle:
        reviewed = list(csv.DictReader(handle))
    assert [row["file"] for row in reviewed] == [row["file"] for row in rows[:3]]
    assert all(row["label"] in ("wake_word", "not_wake_word") and float(row["score"]) >= 0 for row in reviewed)
    # The next session starts where this one stopped: the skipped clip comes back, the filed ones do not.
    assert [row["file"] for row in pending_clips(saved_clips, out)] == [row["file"] for row in rows[3:]]


def test_review_without_clips_says_how_to_get_them(tmp_path, capsys):
    assert review_main([str(tmp_path / "nothing")]) == 2
    assert "--save-clips" in capsys.readouterr().err


@pytest.mark.slow
def test_reviewed_clips_reach_the_trainer_through_dvc(saved_clips, tmp_path):
    """Pi: review, then push_clips.sh to a DVC remote (a local folder stands in for the bucket); trainer: a
    fresh clone pulls recordings/house with the same files."""
    pi = copy_repo(tmp_path / "pi")
    storage = tmp_path / "storage"
    run(["dvc", "remote", "add", "house", str(storage)], pi)
    answers = "\n".join("w" if row["kind"] == "detection" else "n" for row in pending_clips(saved_clips,
                                                                                             pi / "recordings/house"))
    result = subprocess.run([str(VENV_BIN / "python"), "-m", "puertocho.review", str(saved_clips), "--out",
                             "recordings/house"], cwd=pi, input=answers + "\n", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "wake word: 2," in result.stdout
    pushed = run(["bash", "scripts/push_clips.sh", "--remote", "house"], pi)
    assert "Traceback" not in pushed.stderr
    assert run(["git", "status", "--porcelain", "recordings"], pi).stdout.strip() == ""  # the pointer is committed
    trainer = tmp_path / "trainer"
    subprocess.run(["git", "clone", "-q", str(pi), str(trainer)], check=True)
    run(["dvc", "remote", "add", "house", str(storage)], trainer)
    run(["dvc", "pull", "-r", "house", "recordings/house.dvc"], trainer)
    for label in ("wake_word", "not_wake_word"):
        mine = sorted(p.name for p in (pi / "recordings/house" / label).glob("*.wav"))
        theirs = sorted(p.name for p in (trainer / "recordings/house" / label).glob("*.wav"))
        assert mine == theirs and mine
        for name in mine:
            assert (pi / "recordings/house" / label / name).read_bytes() == \
                (trainer / "recordings/house" / label / name).read_bytes()
