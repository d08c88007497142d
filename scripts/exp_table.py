"""Markdown table of experiments from `dvc exp show --json`: the test figures with their bounds, per engine,
and the spread (max - min) over the rows shown. Used for the README's seed-spread and recipe tables.

Usage: python scripts/exp_table.py [--names exp1,exp2,...] [--json FILE]   (default: runs dvc exp show --json --all-commits)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", default="", help="comma-separated experiment names to keep (default: all)")
    parser.add_argument("--json", default="", help="read this file instead of running dvc exp show --json")
    args = parser.parse_args()
    text = open(args.json).read() if args.json else subprocess.run(
        ["dvc", "exp", "show", "--json", "--all-commits"], capture_output=True, text=True, check=True).stdout
    wanted = [n for n in args.names.split(",") if n]
    rows = [(name, figures(data)) for name, data in flatten(json.loads(text))]
    rows = [(name, f) for name, f in rows if f and (not wanted or name in wanted)]
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


if __name__ == "__main__":
    main()
