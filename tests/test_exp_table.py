"""scripts/exp_table.py: the README's experiment tables, from `dvc exp show --json`."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "exp_table.py"


def revision_data(rev: str, frr: float, seed: int) -> dict:
    """The parts of one `dvc exp show --json` row that the script reads."""
    test = {"false_rejects_by": {"engine": {"espeak": {"false_reject_rate": frr}}},
            "confusables_detected_per_utterance": 0.0}
    metrics = {"threshold": 0.998, "false_accepts_per_hour": 0.0, "false_accepts_per_hour_upper95": 0.6,
               "false_reject_rate": frr, "false_reject_rate_low95": frr - 0.05,
               "false_reject_rate_high95": frr + 0.05, "test": test,
               "seen_in_training": {"false_reject_rate": 0.5, "by_engine": {"piper": {"false_reject_rate": 0.4}}}}
    params = {"training": {"seed": seed}, "data": {"seed": 42, "engines": ["espeak", "piper"]}}
    return {"rev": rev, "metrics": {"metrics/eval.json": {"data": metrics}},
            "params": {"params.yaml": {"data": params}}}


def test_table_lists_finished_experiments_with_their_spread_and_skips_running_and_failed_ones(tmp_path):
    shown = [{"rev": "workspace", "name": None, "data": revision_data("workspace", 0.583, 1234)},
             {"rev": "abc1234", "name": "main", "data": revision_data("abc1234", 0.583, 1234),
              "experiments": [
                  {"revs": [{"rev": "e1", "name": "seed-1", "data": revision_data("e1", 0.661, 1)}]},
                  # still running: DVC shows the workspace's figures in its row
                  {"revs": [{"rev": "e2", "name": "running", "data": revision_data("workspace", 0.583, 7)}]},
                  # failed (killed in training): DVC shows its baseline's figures in its row
                  {"revs": [{"rev": "e3", "name": "failed", "data": revision_data("e3", 0.583, 8),
                             "error": {"msg": "Experiment run failed", "type": ""}}]}]}]
    path = tmp_path / "shown.json"
    path.write_text(json.dumps(shown))
    out = subprocess.run([sys.executable, str(SCRIPT), "--json", str(path), "--names", "main,seed-1,running,failed"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0].startswith("| experiment | training.seed | data.seed | threshold |")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| main", "| seed-1", "| spread (max - min)"]
    assert "| 0.661 |" in lines[3] and "| piper |" in lines[3] and "| 0.4 |" in lines[3]
    spread = dict(zip(lines[0].split(" | ")[1:], lines[-1].split(" | ")[1:]))
    assert spread["frr"] == "0.078" and spread["training.seed"] == "1233"


CURVE = """threshold,false_accepts_per_hour,false_reject_rate,calibration_false_accepts_per_hour,calibration_false_reject_rate
0.9,5.6,0.3778,9.0,0.2235
0.99,1.0,0.4556,2.0,0.3412
0.995,0.4,0.4778,0.0,0.3676
0.999,0.0,0.5722,0.0,0.4588
0.9999,0.0,0.7111,0.0,0.5588
"""


def test_frr_at_false_accepts_takes_the_best_threshold_within_the_budget():
    sys.path.insert(0, str(SCRIPT.parent))
    from exp_table import frr_at_false_accepts
    assert frr_at_false_accepts(CURVE, 0.0) == 0.5722
    assert frr_at_false_accepts(CURVE, 0.5) == 0.4778
    assert frr_at_false_accepts(CURVE, 1.0) == 0.4556
    assert frr_at_false_accepts(CURVE.replace("0.0,0.5722", "0.2,0.5722").replace("0.0,0.7111", "0.2,0.7111"),
                                0.0) is None


def test_det_columns_read_each_experiments_committed_curve(tmp_path):
    """The curve comes from the experiment's own commit, not from the workspace."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(git + ["init", "-q", str(tmp_path)], check=True)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "det_curve.csv").write_text(CURVE)
    subprocess.run(git + ["add", "metrics"], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-qm", "exp"], cwd=tmp_path, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "metrics" / "det_curve.csv").write_text(CURVE.replace("0.0,0.5722", "0.0,0.6"))  # workspace differs
    shown = [{"rev": "workspace", "name": None, "data": revision_data("workspace", 0.6, 1),
              "experiments": [{"revs": [{"rev": sha, "name": "exp", "data": revision_data(sha, 0.4778, 1234)}]}]}]
    path = tmp_path / "shown.json"
    path.write_text(json.dumps(shown))
    out = subprocess.run([sys.executable, str(SCRIPT), "--json", str(path), "--at-false-accepts", "0,0.5"],
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    header, _, workspace, experiment, _ = out.strip().splitlines()
    columns = header.split(" | ")[1:]
    assert columns[-2:] == ["frr@fa<=0", "frr@fa<=0.5 |"]
    assert experiment.endswith("| 0.5722 | 0.4778 |")
    assert workspace.endswith("| 0.6 | 0.4778 |")


def test_a_bad_budget_is_named():
    result = subprocess.run([sys.executable, str(SCRIPT), "--json", "/nonexistent", "--at-false-accepts", "low"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "--at-false-accepts: 'low'" in result.stderr


def test_dvc_is_found_beside_the_interpreter_when_the_venv_is_not_on_path(tmp_path):
    # `.venv/bin/python scripts/exp_table.py` without an activated venv used to die with FileNotFoundError: 'dvc'
    plain = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=plain)
    subprocess.run([str(Path(sys.executable).with_name("dvc")), "init", "-q"], cwd=tmp_path, check=True, env=plain)
    result = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, env=plain)
    # it got as far as reading dvc's (empty) table: the repository has no experiments yet
    assert result.stderr.strip() == "no experiment with metrics/eval.json found", result.stderr
