"""Review the clips the listener kept (--save-clips): sort each into "wake word" or "not the wake word".

    python -m puertocho.review clips/ [--out recordings/house] [--play]

For each clip in clips/clips.csv not yet reviewed, prints its kind (detection / near_miss), score and time,
plays it with `aplay` when --play is given, and asks: w = the wake word was said, n = it was not, r = replay,
s = skip for now, q = quit. Answers move the clip into the house's training folders:

    recordings/house/wake_word/       real "Puertocho"s (data.local_positive_dir)
    recordings/house/not_wake_word/   false accepts and near misses: hard negatives (data.local_negative_dir)
    recordings/house/reviewed.csv     file, label, kind, score, threshold, time_utc, model (one row per clip)

scripts/push_clips.sh then adds recordings/house to DVC and pushes it. Needs only the standard library.
"""
from __future__ import annotations

import argparse
import csv
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, TextIO

from puertocho.actions import CLIPS_CSV, CSV_FIELDS

log = logging.getLogger("puertocho.review")
LABELS = {"w": "wake_word", "n": "not_wake_word"}
REVIEWED_CSV = "reviewed.csv"
REVIEWED_FIELDS = ["file", "label", *[name for name in CSV_FIELDS if name != "file"]]


def pending_clips(clips_dir: Path, out_dir: Path) -> list[dict]:
    """Rows of clips.csv whose file is still in clips_dir and not yet in reviewed.csv."""
    table = clips_dir / CLIPS_CSV
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found: run the listener with --save-clips {clips_dir} first.")
    reviewed = set()
    if (out_dir / REVIEWED_CSV).is_file():
        with open(out_dir / REVIEWED_CSV, newline="") as handle:
            reviewed = {row["file"] for row in csv.DictReader(handle)}
    with open(table, newline="") as handle:
        return [row for row in csv.DictReader(handle)
                if row["file"] not in reviewed and (clips_dir / row["file"]).is_file()]


def file_clip(clips_dir: Path, out_dir: Path, row: dict, label: str) -> Path:
    """Move one clip into out_dir/<label>/ and record it in reviewed.csv; returns its new path."""
    target_dir = out_dir / label
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / row["file"]
    shutil.move(str(clips_dir / row["file"]), target)
    table = out_dir / REVIEWED_CSV
    new = not table.is_file()
    with open(table, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=REVIEWED_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({**row, "label": label})
    return target


def play_with_aplay(path: Path) -> None:
    """Play a clip through ALSA's aplay (on every Raspberry Pi OS); a missing aplay is only logged."""
    try:
        subprocess.run(["aplay", "-q", str(path)], check=False)
    except FileNotFoundError:
        log.warning("aplay not found (sudo apt-get install alsa-utils); listen to %s another way", path)


def review(clips_dir: Path, out_dir: Path, answers: TextIO = sys.stdin, output: TextIO = sys.stdout,
           play: Callable[[Path], None] | None = None) -> dict[str, int]:
    """The interactive loop; returns how many clips went to each label (and how many were skipped)."""
    counts = {"wake_word": 0, "not_wake_word": 0, "skipped": 0}
    rows = pending_clips(clips_dir, out_dir)
    print(f"{len(rows)} clip(s) to review in {clips_dir}", file=output)
    for number, row in enumerate(rows, 1):
        path = clips_dir / row["file"]
        while True:
            print(f"[{number}/{len(rows)}] {row['file']}: {row['kind']} score={row['score']} "
                  f"(threshold {row['threshold']}) at {row['time_utc']}", file=output)
            if play:
                play(path)
            print("  w = wake word said, n = not the wake word, r = replay, s = skip, q = quit > ", end="",
                  file=output, flush=True)
            answer = answers.readline()
            if answer == "":  # end of input: stop, as q does
                return counts
            answer = answer.strip().lower()[:1]
            if answer in LABELS:
                file_clip(clips_dir, out_dir, row, LABELS[answer])
                counts[LABELS[answer]] += 1
                break
            if answer == "s":
                counts["skipped"] += 1
                break
            if answer == "q":
                return counts
            if answer != "r":
                print("  please answer w, n, r, s or q", file=output)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m puertocho.review", description=__doc__.split("\n\n")[0],
                                     epilog="Then: scripts/push_clips.sh --remote gcs",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("clips", type=Path, help="the folder given to the listener's --save-clips")
    parser.add_argument("--out", type=Path, default=Path("recordings/house"),
                        help="where the wake_word/ and not_wake_word/ folders go")
    parser.add_argument("--play", action="store_true", help="play each clip with aplay before asking")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        counts = review(args.clips, args.out, play=play_with_aplay if args.play else None)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wake word: {counts['wake_word']}, not the wake word: {counts['not_wake_word']}, skipped: "
          f"{counts['skipped']}; in {args.out}. Next: scripts/push_clips.sh --remote gcs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
