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


def test_table_lists_finished_experiments_with_their_spread_and_skips_running_ones(tmp_path):
    shown = [{"rev": "workspace", "name": None, "data": revision_data("workspace", 0.583, 1234)},
             {"rev": "abc1234", "name": "main", "data": revision_data("abc1234", 0.583, 1234),
              "experiments": [
                  {"revs": [{"rev": "e1", "name": "seed-1", "data": revision_data("e1", 0.661, 1)}]},
                  # still running: DVC shows the workspace's figures in its row
                  {"revs": [{"rev": "e2", "name": "running", "data": revision_data("workspace", 0.583, 7)}]}]}]
    path = tmp_path / "shown.json"
    path.write_text(json.dumps(shown))
    out = subprocess.run([sys.executable, str(SCRIPT), "--json", str(path), "--names", "main,seed-1,running"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0].startswith("| experiment | training.seed | data.seed | threshold |")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| main", "| seed-1", "| spread (max - min)"]
    assert "| 0.661 |" in lines[3] and "| piper |" in lines[3] and "| 0.4 |" in lines[3]
    spread = dict(zip(lines[0].split(" | ")[1:], lines[-1].split(" | ")[1:]))
    assert spread["frr"] == "0.078" and spread["training.seed"] == "1233"
