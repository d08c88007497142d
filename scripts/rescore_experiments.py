"""Re-score finished experiments on the workspace's test set, without retraining.

When only the test set's calibration changes (for example test.extra_calibration_hours), every experiment's
model can be judged again: this takes each experiment's exported head and features from the DVC cache (by
the md5s in its own dvc.lock), its own params with the workspace's `test` section, and runs the evaluate
stage on the workspace's data/test. Nothing in the workspace changes; results go to --out/<name>/.

Usage: python scripts/rescore_experiments.py --names stride3,s3-pos4,old-default=b5a511c [--out rescored]
  (a name=rev entry re-scores any commit's dvc.lock, for runs that were not experiments)
  then: python scripts/rescore_experiments.py --names ... --table   (the table of what is in --out)

An experiment whose test streams differ from the workspace's is refused: its figures would not compare with
the ones it was first scored with. --other-test-streams scores it anyway, on the workspace's test streams, to
put runs made on an older test set on the current one (the "as first scored" column then reads another test).

What if the Pi ran the same head with other runtime rules? --set evaluate.KEY=VALUE (repeatable) changes
the evaluate section for every named run, e.g. the VAD gate and the patience:
  python scripts/rescore_experiments.py --names vad0-pat2=HEAD --set evaluate.vad_threshold=0.0 \
      --set evaluate.patience_frames=2
The threshold is still calibrated without the test streams, but comparing rules by their test figures and
shipping the best one is choosing on the test set: read such a table as a what-if, not as a result. To let
the calibration choose the rules instead, list them (--set 'evaluate.vad_threshold_choices=[0.0,0.2]' --set
'evaluate.patience_frames_choices=[1,2]'), and, to calibrate on phrases heard in rooms and far away, give
another features stage's stream: --calibration PATH/calibration_positive.npz --set
evaluate.calibration_positive_stream=conditions.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


@functools.lru_cache(maxsize=None)
def cache_root(workdir: str) -> Path:
    """The md5 folder of the DVC cache of the repository at `workdir`: .dvc/cache, or wherever `dvc cache dir`
    points (a cache shared with another clone, as `dvc cache dir --local` sets)."""
    try:
        listed = subprocess.run([sys.executable, "-m", "dvc", "cache", "dir"], capture_output=True, text=True,
                                cwd=workdir)
    except OSError:
        listed = None
    if listed is not None and listed.returncode == 0 and listed.stdout.strip():
        return Path(listed.stdout.strip()) / "files" / "md5"
    return Path(workdir) / ".dvc/cache/files/md5"


TEST_STREAMS_PREFIX = ("positive/", "negative/test_")


def experiment_revs() -> dict[str, list[str]]:
    """name -> commits of the experiments with that name (refs/exps/.../<name>)."""
    listed = subprocess.run(["git", "for-each-ref", "refs/exps", "--format=%(refname) %(objectname)"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    revs: dict[str, list[str]] = {}
    for line in filter(None, listed):
        ref, rev = line.split()
        revs.setdefault(ref.rsplit("/", 1)[1], []).append(rev)
    return revs


def git_text(rev: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout


def out_md5(lock: dict, stage: str, path: str) -> str:
    """The md5 a stage's lock records for one of its outs (a directory's ends in .dir)."""
    for out in lock["stages"][stage]["outs"]:
        if out["path"] == path:
            return out["md5"]
    raise KeyError(f"{stage} has no out {path} in this dvc.lock")


def cached(md5: str) -> Path:
    path = cache_root(os.getcwd()) / md5[:2] / md5[2:]
    if not path.exists():
        raise FileNotFoundError(f"{path} is not in the DVC cache (dvc pull, or re-run the experiment)")
    return path


def directory_listing(md5: str) -> dict[str, str]:
    """relpath -> md5 of the files of a cached directory (its .dir manifest)."""
    return {entry["relpath"]: entry["md5"] for entry in json.loads(cached(md5).read_text())}


def test_streams(listing: dict[str, str]) -> dict[str, str]:
    """The reported part of a test set: positive streams and the test-role negative streams."""
    return {path: md5 for path, md5 in listing.items() if path.startswith(TEST_STREAMS_PREFIX)}


def materialize(md5: str, folder: Path) -> None:
    """A cached directory as links into the cache (read-only use)."""
    for relpath, file_md5 in directory_listing(md5).items():
        target = folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(cached(file_md5).resolve(), target)


def check_same_test_streams(name: str, lock: dict, workspace_lock: dict, allow_other: bool = False) -> None:
    """Refuse an experiment whose reported test streams are not the workspace's (calibration may differ);
    with allow_other, say so and go on."""
    theirs = test_streams(directory_listing(out_md5(lock, "make_test", "data/test")))
    ours = test_streams(directory_listing(out_md5(workspace_lock, "make_test", "data/test")))
    if theirs != ours:
        changed = sorted(path for path in set(theirs) | set(ours) if theirs.get(path) != ours.get(path))
        if not allow_other:
            raise SystemExit(f"{name}: its test streams differ from the workspace's data/test ({len(changed)} files, "
                             f"e.g. {changed[0]}); its figures would not compare (re-run it with dvc exp run, or "
                             "give --other-test-streams to score it on the workspace's)")
        print(f"WARNING {name}: first scored on other test streams ({len(changed)} files differ, e.g. {changed[0]}); "
              "scoring it on the workspace's", flush=True)


def evaluate_overrides(entries: list[str]) -> dict:
    """--set evaluate.KEY=VALUE entries -> {KEY: value}; only the evaluate section can change without retraining."""
    overrides = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        section, _, name = key.partition(".")
        if not sep or section != "evaluate" or not name or "." in name:
            raise SystemExit(f"--set {entry!r}: give evaluate.KEY=VALUE (for example evaluate.patience_frames=2); "
                             "other sections change the model: run them with dvc exp run -S instead")
        overrides[name] = yaml.safe_load(value)
    return overrides


def rescore(name: str, rev: str, out: Path, workspace_lock: dict, evaluate: dict | None = None,
            other_test_streams: bool = False, calibration: Path | None = None) -> Path:
    lock = yaml.safe_load(git_text(rev, "dvc.lock"))
    check_same_test_streams(name, lock, workspace_lock, other_test_streams)
    params = yaml.safe_load(git_text(rev, "params.yaml"))
    workspace_params = yaml.safe_load(Path("params.yaml").read_text())
    params["test"] = workspace_params["test"]
    # keys added to evaluate since the run: their workspace values (every new key's default keeps old behaviour)
    params["evaluate"] = {**workspace_params["evaluate"], **params["evaluate"]}
    evaluate = evaluate or {}
    unknown = sorted(set(evaluate) - set(params["evaluate"]))
    if unknown:
        raise SystemExit(f"--set: evaluate.{unknown[0]} is not a key of {name}'s params.yaml evaluate section")
    params["evaluate"].update(evaluate)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    model_name = params["model"]["name"]
    model = folder / f"{model_name}.onnx"
    if not model.exists():
        os.symlink(cached(out_md5(lock, "export", f"models/{model_name}.onnx")).resolve(), model)
    materialize(out_md5(lock, "features", "data/features"), folder / "features")
    if calibration is not None:  # another calibration stream of wake phrases than the run's own
        own = folder / "features" / "calibration_positive.npz"
        own.unlink(missing_ok=True)
        os.symlink(calibration.resolve(), own)
    subprocess.run([sys.executable, "-m", "stages.evaluate", "--params", str(folder / "params.yaml"),
                    "--model", str(model), "--test", "data/test", "--features", str(folder / "features"),
                    "--metrics", str(folder / "eval.json"), "--confusables", str(folder / "confusables.json"),
                    "--curve", str(folder / "det_curve.csv"), "--curve-png", str(folder / "det_curve.png")],
                   check=True)
    (folder / "rev").write_text(rev + "\n")
    return folder / "eval.json"


def table_row(name: str, metrics: dict, before: dict | None) -> str:
    seen = metrics.get("seen_in_training") or {}
    by_engine = seen.get("by_engine") or {}
    seen_text = " / ".join(f"{100 * by_engine[e]['false_reject_rate']:.1f}%" for e in ("piper", "kokoro")
                           if e in by_engine) or "-"
    was = (f"{before['threshold']:g}, {before['false_accepts_per_hour']:g}/h, {100 * before['false_reject_rate']:.1f}%"
           if before else "-")
    calibration = metrics["calibration"]
    return (f"| {name} | {metrics['threshold']:g} ({calibration['false_accepts_per_hour']:.2g}/h over "
            f"{calibration['hours_negative']:.3g} h) | {metrics['false_accepts_per_hour']:g} "
            f"({metrics['false_accepts_per_hour_upper95']:.2f}) | {100 * metrics['false_reject_rate']:.1f}% "
            f"[{100 * metrics['false_reject_rate_low95']:.1f}, {100 * metrics['false_reject_rate_high95']:.1f}] | "
            f"{seen_text} | {was} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", required=True, help="comma-separated experiment names (dvc exp list -A), or name=rev for any commit")
    parser.add_argument("--out", default="rescored", help="folder for each experiment's re-scored metrics")
    parser.add_argument("--table", action="store_true", help="print the table of what --out holds; score nothing")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="evaluate.KEY=VALUE",
                        help="score with other runtime rules (VAD gate, patience, refractory); repeatable")
    parser.add_argument("--other-test-streams", action="store_true",
                        help="score runs first scored on other test streams, on the workspace's (instead of refusing)")
    parser.add_argument("--calibration", type=Path, metavar="NPZ",
                        help="calibrate every run on this stream of wake phrases (a features stage's "
                             "calibration_positive.npz, e.g. one made with evaluate.calibration_positive_stream="
                             "conditions) instead of its own; set the matching evaluate keys with --set")
    args = parser.parse_args()
    if args.calibration is not None and not args.calibration.is_file():
        sys.exit(f"--calibration {args.calibration}: no such file (a features stage's calibration_positive.npz)")
    out = Path(args.out)
    evaluate = evaluate_overrides(args.overrides)
    revs = experiment_revs()
    names = []
    for entry in filter(None, args.names.split(",")):
        name, _, rev = entry.partition("=")
        if rev:
            revs[name] = [subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], capture_output=True,
                                         text=True).stdout.strip() or rev]
        names.append(name)
    unknown = [n for n in names if len(revs.get(n, [])) != 1]
    if unknown:
        sys.exit(f"--names: {', '.join(unknown)}: no experiment, or several, by that name (see dvc exp list -A)")
    if not args.table:
        workspace_lock = yaml.safe_load(Path("dvc.lock").read_text())
        for name in names:
            print(f"re-scoring {name} ({revs[name][0][:7]})", flush=True)
            rescore(name, revs[name][0], out, workspace_lock, evaluate, args.other_test_streams, args.calibration)
    print("| experiment | threshold (calibration false accepts) | false accepts/h (95% upper) | held-out FRR [95%] "
          "| Piper / Kokoro FRR (seen) | as first scored: threshold, false accepts/h, held-out FRR |")
    print("|---|---|---|---|---|---|")
    for name in names:
        metrics = json.loads((out / name / "eval.json").read_text())
        before = json.loads(git_text(revs[name][0], "metrics/eval.json"))
        print(table_row(name, metrics, before))


if __name__ == "__main__":
    main()
