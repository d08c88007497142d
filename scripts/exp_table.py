"""Markdown table of experiments from `dvc exp show --json`: the test figures with their bounds, per engine,
and the spread (max - min) over the rows shown. Used for the README's seed-spread and recipe tables.

Usage: python scripts/exp_table.py [--names exp1,exp2,...] [--json FILE] [--at-false-accepts 0,0.2,1]
  (default: runs dvc exp show --json --all-commits)

--at-false-accepts adds, per budget B, the held-out false-reject rate at the best threshold of the run's DET
curve (metrics/det_curve.csv of its commit) that lets at most B false accepts per hour through on the test
streams. A calibrated threshold rests on 1 h of streams; these columns compare recipes at equal false accepts.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

DET_CURVE = "metrics/det_curve.csv"


def flatten(shown: list) -> list[tuple[str, dict]]:
    """(name, data) of the workspace, each baseline commit and every experiment in `dvc exp show --json`."""
    rows = []
    for commit in shown:
        rows.append((commit.get("name") or commit.get("rev", "")[:7], commit.get("data") or {}))
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs", []):
                data = revision.get("data") or {}
                # a queued or running experiment has no commit yet: DVC fills its row with the workspace's
                # metrics, which would pass for its own
                if data.get("rev") == "workspace":
                    continue
                # a failed experiment has no results of its own: DVC fills its row with its baseline's
                if revision.get("error") or data.get("error"):
                    continue
                rows.append((revision.get("name") or revision.get("rev", "")[:7], data))
    return rows


def figures(data: dict) -> dict | None:
    metrics = (data.get("metrics") or {}).get("metrics/eval.json", {}).get("data")
    if not metrics or "test" not in metrics:  # commits before the test set have no comparable figures
        return None
    params = data["params"]["params.yaml"]["data"]
    engines = metrics["test"]["false_rejects_by"]["engine"]
    seen = metrics.get("seen_in_training") or {}
    return {"training.seed": params["training"]["seed"], "data.seed": params["data"]["seed"],
            "threshold": metrics["threshold"], "fa_h": metrics["false_accepts_per_hour"],
            "fa_h_up": metrics["false_accepts_per_hour_upper95"], "frr": metrics["false_reject_rate"],
            "frr_lo": metrics["false_reject_rate_low95"], "frr_hi": metrics["false_reject_rate_high95"],
            **{f"frr_{name}": value["false_reject_rate"] for name, value in engines.items()},
            "confusables": metrics["test"]["confusables_detected_per_utterance"],
            # engines that also trained this run: reported apart from the headline (not held-out voices)
            # (from params: DVC's metrics keep numbers only, not the list of engines)
            "seen": "+".join(e for e in params["data"]["engines"] if e in ("piper", "kokoro")) or "-",
            "frr_seen": seen.get("false_reject_rate"),
            **{f"frr_seen_{name}": (seen.get("by_engine") or {}).get(name, {}).get("false_reject_rate")
               for name in ("piper", "kokoro")}}


def frr_at_false_accepts(curve_csv: str, budget: float) -> float | None:
    """The lowest false-reject rate on a DET curve (det_curve.csv text) among thresholds whose test false
    accepts per hour are at most budget; None when no threshold is that strict."""
    rates = [float(row["false_reject_rate"]) for row in csv.DictReader(io.StringIO(curve_csv))
             if float(row["false_accepts_per_hour"]) <= budget + 1e-9]
    return min(rates) if rates else None


def det_curve_text(rev: str) -> str | None:
    """metrics/det_curve.csv as committed at rev (an experiment's commit), or the workspace's file."""
    if rev == "workspace":
        path = Path(DET_CURVE)
        return path.read_text() if path.exists() else None
    shown = subprocess.run(["git", "show", f"{rev}:{DET_CURVE}"], capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def dvc_command() -> str:
    """dvc on PATH, else the one beside this interpreter (the venv's, when it is run as .venv/bin/python)."""
    beside = Path(sys.executable).with_name("dvc")
    found = shutil.which("dvc") or (str(beside) if beside.exists() else None)
    if found is None:
        sys.exit("dvc not found: activate the project's venv (. .venv/bin/activate) or pass --json FILE")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", default="", help="comma-separated experiment names to keep (default: all)")
    parser.add_argument("--json", default="", help="read this file instead of running dvc exp show --json")
    parser.add_argument("--at-false-accepts", default="", metavar="B[,B...]",
                        help="false accepts per hour: add the DET curve's false-reject rate at each budget")
    args = parser.parse_args()
    try:
        budgets = [float(b) for b in args.at_false_accepts.split(",") if b]
    except ValueError:
        sys.exit(f"--at-false-accepts: {args.at_false_accepts!r} is not a comma-separated list of numbers, e.g. 0,0.2,1")
    if args.json:
        text = open(args.json).read()
    else:
        show = [dvc_command(), "exp", "show", "--json", "--all-commits"]
        text = subprocess.run(show, capture_output=True, text=True, check=True).stdout
    wanted = [n for n in args.names.split(",") if n]
    rows = []
    for name, data in flatten(json.loads(text)):
        row = figures(data)
        if row and (not wanted or name in wanted):
            row.update(at_false_accepts(data.get("rev", ""), budgets))
            rows.append((name, row))
    if not rows:
        sys.exit("no experiment with metrics/eval.json found")
    keys = [k for k in rows[0][1] if any(f.get(k) is not None for _, f in rows)]   # runs before a column drop it
    print("| experiment | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, f in rows:
        print(f"| {name} | " + " | ".join(f"{f.get(k, ''):.4g}" if isinstance(f.get(k), float) else str(f.get(k) if f.get(k) is not None else "")
                                       for k in keys) + " |")
    if len(rows) > 1:
        spread = {k: max(f[k] for _, f in rows) - min(f[k] for _, f in rows)
                  for k in keys if all(isinstance(f.get(k), (int, float)) for _, f in rows)}
        print("| spread (max - min) | " + " | ".join(f"{spread[k]:.4g}" if k in spread else "" for k in keys) + " |")


def at_false_accepts(rev: str, budgets: list[float]) -> dict:
    """{"frr@fa<=B": rate} for each budget, from the DET curve committed at rev (empty when there is none)."""
    curve = det_curve_text(rev) if budgets else None
    return {f"frr@fa<={b:g}": frr_at_false_accepts(curve, b) if curve else None for b in budgets}


if __name__ == "__main__":
    main()
