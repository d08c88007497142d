"""Named overrides of params.yaml (profiles.yaml): `tiny` for the end-to-end tests, `full` for a cloud T4.

`python -m puertocho.profiles full` prints the `-S key=value` arguments for `dvc exp run`, so a profile runs as
an experiment and params.yaml stays the default.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from puertocho.params import ParamsError, read_yaml

PROFILES_PATH = Path(__file__).resolve().parents[1] / "profiles.yaml"


def load_profiles(path: str | Path = PROFILES_PATH) -> dict[str, dict]:
    """{profile name: {dotted key: value}} from profiles.yaml."""
    return read_yaml(path) or {}


def apply_profile(params: dict, overrides: dict) -> dict:
    """A copy of the params mapping with each dotted key replaced; a key params.yaml lacks is an error."""
    result = copy.deepcopy(params)
    for dotted, value in overrides.items():
        *sections, leaf = dotted.split(".")
        node = result
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ParamsError(f"profiles.yaml: '{dotted}' is not a params.yaml key: fix the spelling or remove it.")
        node[leaf] = copy.deepcopy(value)
    return result


def set_arguments(overrides: dict) -> list[str]:
    """`dvc exp run` arguments setting each override: ['-S', 'data.positive_count=20000', ...]."""
    arguments = []
    for dotted, value in overrides.items():
        # JSON is valid YAML flow style, which is how DVC reads a -S value (lists included).
        setting = f"{dotted}={json.dumps(value, separators=(',', ':'))}"
        if " " in setting:  # `$(python -m puertocho.profiles ...)` splits words at spaces
            raise ParamsError(f"profiles.yaml: '{dotted}' has a value with a space; set it in params.yaml instead.")
        arguments += ["-S", setting]
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="profile name in profiles.yaml (tiny, full)")
    args = parser.parse_args()
    profiles = load_profiles()
    if args.name not in profiles:
        parser.error(f"no profile '{args.name}' in profiles.yaml; known: {', '.join(profiles)}")
    print(" ".join(set_arguments(profiles[args.name])))


if __name__ == "__main__":
    main()
