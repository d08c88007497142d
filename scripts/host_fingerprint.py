"""Which pipeline components give other bits on this CPU than on the hosts whose fingerprints are committed.

Hashes one small fixed input through each component in pipeline order (espeak-ng, resampling, Praat, Piper,
Kokoro, the image-source rooms, the training reverb, openWakeWord's two models, a few training steps) and
compares the hashes with the fingerprints under benchmarks/fingerprints/, one file per host kind. The first
component that differs is where this host's dvc.lock hashes part from that host's (README "Honest limits").
About 30 s on 2 cores; offline.

Usage: python scripts/host_fingerprint.py [--save NAME] [--against FILE ...]
  --save NAME     also write benchmarks/fingerprints/NAME.json (commit it: the next host compares against it)
  --out FILE      also write the fingerprint to FILE
  --against FILE  compare with these fingerprints (default: every file in benchmarks/fingerprints/)
Exit status 0 whether or not they differ: differing is a finding, not an error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from puertocho.host_check import compare, cpu_description, fingerprint, library_versions  # noqa: E402

FINGERPRINTS = ROOT / "benchmarks" / "fingerprints"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Example: python scripts/host_fingerprint.py --save intel-xeon-avx512")
    parser.add_argument("--save", metavar="NAME", help="write benchmarks/fingerprints/NAME.json")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the fingerprint to FILE")
    parser.add_argument("--against", nargs="*", type=Path, metavar="FILE",
                        help="fingerprints to compare with (default: benchmarks/fingerprints/*.json)")
    args = parser.parse_args(argv)
    references = args.against if args.against is not None else sorted(FINGERPRINTS.glob("*.json"))
    for reference in references:
        if not reference.exists():
            parser.error(f"no fingerprint file {reference}: list benchmarks/fingerprints/ for the committed ones")
    mine = {"cpu": cpu_description(), "libraries": library_versions(), "hashes": fingerprint()}
    print(f"this host: {mine['cpu']['model_name']} ({mine['cpu']['vendor']} {mine['cpu']['family_model']}), "
          f"flags {' '.join(mine['cpu']['flags'])}")
    for name, value in mine["hashes"].items():
        print(f"  {name:32s} {value}")
    for reference in references:
        theirs = json.loads(reference.read_text())
        differing = compare(mine["hashes"], theirs["hashes"])
        other_libraries = {k: (v, theirs["libraries"].get(k)) for k, v in mine["libraries"].items()
                           if theirs["libraries"].get(k) != v}
        print(f"\nagainst {reference.name} ({theirs['cpu']['model_name']}, flags {' '.join(theirs['cpu']['flags'])}):")
        if other_libraries:
            print(f"  other library versions (compare those first): {other_libraries}")
        if not differing:
            print("  every component gives the same bits")
        for component, my_hash, their_hash, inherited in differing:
            why = f"(reads {', '.join(inherited)}, which differs)" if inherited else "(its own kernels)"
            print(f"  differs: {component:32s} {my_hash} here, {their_hash} there {why}")
    if args.out:
        args.out.write_text(json.dumps(mine, indent=2) + "\n")
    if args.save:
        FINGERPRINTS.mkdir(parents=True, exist_ok=True)
        path = FINGERPRINTS / f"{args.save}.json"
        path.write_text(json.dumps(mine, indent=2) + "\n")
        print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
