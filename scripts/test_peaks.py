"""Where the test's wake phrases are lost, whatever the threshold: each test utterance's peak head score.

For every wake phrase in the test's positive streams this takes the highest score the head gives from the
phrase's first chunk to evaluate.tolerance_seconds after its end, with no VAD gate, and groups the peaks by
condition (background, SNR band, room, distance, voice family, ...). The share under a cut is what the head
alone misses at that threshold; a condition whose peaks stay under 0.5 is one the head does not recognise at
all, which no threshold can fix. A diagnostic of the test set: choosing a recipe from it is choosing with the
test set in view, so say so wherever it is used.

Usage: python scripts/test_peaks.py [--model models/puertocho_v1.onnx] [--exp NAME[=REV] ...]
                                    [--by background,snr_band,reverb,far_field] [--cuts 0.5,0.98] [--json FILE]
                                    [--only engine=espeak]
  --exp takes an experiment's exported head from the DVC cache (by its dvc.lock), or any commit's (NAME=REV).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from puertocho.features import FrontEnd  # noqa: E402
from puertocho.params import load_params  # noqa: E402
from puertocho.protocol import peak_scores, peaks_by, read_rows, seconds_to_frames  # noqa: E402
from stages.evaluate import load_streams  # noqa: E402

DEFAULT_FIELDS = "engine,background,snr_band,reverb,far_field,in_carrier"


def exported_head(entry: str, folder: Path) -> Path:
    """The ONNX head of experiment NAME (or NAME=REV: any commit), copied out of the DVC cache."""
    from rescore_experiments import cached, experiment_revs, git_text, out_md5
    name, _, rev = entry.partition("=")
    if not rev:
        revs = experiment_revs().get(name)
        if not revs:
            raise SystemExit(f"no experiment named '{name}' (dvc exp list), and no =REV given")
        rev = revs[-1]
    lock = yaml.safe_load(git_text(rev, "dvc.lock"))
    params = yaml.safe_load(git_text(rev, "params.yaml"))
    path = f"models/{params['model']['name']}.onnx"
    target = folder / f"{name}.onnx"
    target.write_bytes(cached(out_md5(lock, "export", path)).read_bytes())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="an exported head (.onnx); repeatable")
    parser.add_argument("--exp", action="append", default=[], help="NAME or NAME=REV; repeatable")
    parser.add_argument("--test", default="data/test", help="the make_test output (default data/test)")
    parser.add_argument("--by", default=DEFAULT_FIELDS, help=f"fields to group by (default {DEFAULT_FIELDS})")
    parser.add_argument("--cuts", default="0.5,0.98", help="thresholds to count peaks under (default 0.5,0.98)")
    parser.add_argument("--json", help="write every table here too")
    parser.add_argument("--only", help="FIELD=VALUE: only these utterances, e.g. engine=espeak (the held-out voices)")
    args = parser.parse_args()
    params = load_params("params.yaml")
    cuts = [float(c) for c in args.cuts.split(",")]
    fields = [f for f in args.by.split(",") if f]
    positive = Path(args.test) / "positive"
    rows = read_rows(positive / "utterances.csv")
    if not rows:
        raise SystemExit(f"{positive / 'utterances.csv'} is missing or empty: run dvc repro make_test first")
    tolerance = seconds_to_frames(params.evaluate.tolerance_seconds)
    initial = FrontEnd().initial_embeddings()
    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        heads = [(Path(m).stem, Path(m)) for m in args.model]
        heads += [(e.partition("=")[0], exported_head(e, Path(scratch))) for e in args.exp]
        if not heads:
            heads = [("workspace", Path(f"models/{params.model.name}.onnx"))]
        for name, head in heads:
            if not head.exists():
                raise SystemExit(f"{head} does not exist: run dvc repro export, or pass --model PATH")
            streams = load_streams(positive, sorted({r["stream"] for r in rows}), rows, head, initial,
                                   params.model.n_frames)
            peaks, kept_rows = peak_scores(streams, tolerance), streams.rows
            if args.only:
                field_name, _, value = args.only.partition("=")
                keep = np.array([str(r.get(field_name, "")) == value for r in kept_rows], dtype=bool)
                if not keep.any():
                    raise SystemExit(f"--only {args.only}: no test utterance has {field_name} = {value}")
                peaks, kept_rows = peaks[keep], [r for r, k in zip(kept_rows, keep) if k]
            out[name] = {"all": peaks_by([{"all": "all"} for _ in kept_rows], peaks, "all", cuts)["all"],
                         **{field: peaks_by(kept_rows, peaks, field, cuts) for field in fields}}
            only = f" with {args.only}" if args.only else ""
            print(f"\n## {name}: {len(peaks)} test wake phrases{only}, peak head score (no VAD gate)\n")
            print("| field | value | utterances | median peak | " + " | ".join(f"under {c:g}" for c in cuts) + " |")
            print("|---|---|---|---|" + "---|" * len(cuts))
            for field, table in [("all", {"all": out[name]["all"]})] + [(f, out[name][f]) for f in fields]:
                for value, figures in table.items():
                    shares = " | ".join(f"{100 * figures[f'under_{c:g}']:.0f}%" for c in cuts)
                    print(f"| {field} | {value} | {figures['utterances']} | {figures['median_peak']:.3f} | {shares} |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
