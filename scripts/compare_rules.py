"""Two sets of runtime rules on the same held-out test phrases, paired: how many phrases each misses, how many
only one of them misses, and McNemar's exact p-value.

The head and the test set are the workspace's (models/<name>.onnx, data/test). "A" is the rules and threshold
in metrics/eval.json (what the evaluate stage chose); "B" is given on the command line, for example the
fixed rules the default shipped before the calibration chose them:

  python scripts/compare_rules.py --threshold 0.98 --vad-threshold 0.2 --patience 1

Both thresholds were calibrated without the test set; reading which rules miss fewer here is a comparison on
the test set, not a way to choose rules (the calibration chooses them: README "Runtime rules").
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from puertocho.features import FrontEnd  # noqa: E402
from puertocho.params import load_params  # noqa: E402
from puertocho.protocol import Rules, missed, only_utterances, read_rows  # noqa: E402
from puertocho.reference import paired_difference  # noqa: E402
from stages.evaluate import load_streams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, required=True, help="B's threshold")
    parser.add_argument("--vad-threshold", type=float, required=True, help="B's VAD gate (0 = none)")
    parser.add_argument("--patience", type=int, required=True, help="B's chunks in a row before a detection")
    parser.add_argument("--engines", default="espeak", help="test engines to compare on (default: the held-out "
                                                             "espeak variants, the headline's)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    evaluated = json.loads(Path("metrics/eval.json").read_text())
    rules_a = Rules(**evaluated["rules"])
    rules_b = dataclasses.replace(rules_a, vad_threshold=args.vad_threshold, patience_frames=args.patience)
    head = Path(f"models/{params.model.name}.onnx")
    if not head.exists() or not Path("data/test/positive/utterances.csv").exists():
        sys.exit(f"{head} or data/test is missing: run dvc repro (or dvc pull) first")
    rows = read_rows(Path("data/test/positive/utterances.csv"))
    streams = load_streams(Path("data/test/positive"), sorted({r["stream"] for r in rows}), rows, head,
                           FrontEnd().initial_embeddings(), params.model.n_frames)
    engines = set(args.engines.split(","))
    kept = only_utterances(streams, [r["engine"] in engines for r in streams.rows])
    a = missed(kept, evaluated["threshold"], rules_a)
    b = missed(kept, args.threshold, rules_b)
    paired = paired_difference(a, b)
    print(f"{len(a)} test phrases ({args.engines})")
    print(f"A (metrics/eval.json: threshold {evaluated['threshold']:g}, VAD {rules_a.vad_threshold:g}, "
          f"patience {rules_a.patience_frames}): {int(np.sum(a == 0))} missed")
    print(f"B (threshold {args.threshold:g}, VAD {args.vad_threshold:g}, patience {args.patience}): "
          f"{int(np.sum(b == 0))} missed")
    print(f"only A missed {paired['only_ours_missed']}, only B missed {paired['only_reference_missed']}, "
          f"McNemar's exact p = {paired['p_value']:.3g}")


if __name__ == "__main__":
    main()
