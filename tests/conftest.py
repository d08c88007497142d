"""Shared test helpers: synthetic audio, a tiny params profile, and a throwaway copy of the repository."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from puertocho.profiles import apply_profile, load_profiles

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

def tiny_params(base: dict) -> dict:
    """params.yaml with profiles.yaml's `tiny` profile: the real pipeline in about a minute on 2 cores."""
    return apply_profile(base, load_profiles()["tiny"])


def tone(seconds: float, frequency: float = 440.0, rate: int = 16000, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def run(command: list[str], cwd: Path, check: bool = True, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command with the venv first on PATH (DVC stages call 'python'); output captured as text."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", HF_HUB_OFFLINE="1",
               DVC_NO_ANALYTICS="1", **GIT_IDENTITY, **(env_extra or {}))
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


# `dvc exp run` commits: a fresh CI machine may have no git identity configured.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "puertocho tests", "GIT_AUTHOR_EMAIL": "tests@puertocho.invalid",
                "GIT_COMMITTER_NAME": "puertocho tests", "GIT_COMMITTER_EMAIL": "tests@puertocho.invalid"}
PIPELINE_OUTPUTS = {"data", "models", "metrics", "dvclive", "logs", "dvc.lock", "dvc_plots"}


def copy_repo(destination: Path, params: dict | None = None) -> Path:
    """Copy the working tree (tracked and untracked, not ignored) into a fresh git repo; optional params."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if name.split("/")[0] in PIPELINE_OUTPUTS:
            continue  # a pipeline run in the source checkout must not leak into the copy
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if params is not None:
        (destination / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=destination, check=True, capture_output=True, env=dict(os.environ, **GIT_IDENTITY))
    return destination


@pytest.fixture(scope="session")
def base_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture(scope="session")
def front_end():
    from puertocho.features import FrontEnd
    return FrontEnd()
