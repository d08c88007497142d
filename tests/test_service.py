"""The listener as a service: scripts/listen.sh from any directory, the systemd unit, the docker compose service.

The unit is rendered by scripts/install_service.sh --print, checked by `systemd-analyze verify` where it exists,
and its ExecStart line (unquoted as systemd does) runs from / on the test WAV. No docker daemon here: the compose
service is checked by reading it, and its command runs with a seed-style .env as its environment.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run
from tests.test_listen import ALEXA, SETTINGS, parse, ship, test_wav  # noqa: F401  (test_wav is a fixture)


def exec_start(unit: str) -> list[str]:
    """ExecStart's argv as systemd reads it: double quotes with backslash escapes, $$ -> $, %% -> %."""
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    return [arg.replace("$$", "$").replace("%%", "%") for arg in shlex.split(line.removeprefix("ExecStart="))]


def render(*listener_args: str) -> str:
    return run(["bash", "scripts/install_service.sh", "--print", "--", *listener_args], REPO).stdout


def test_the_unit_runs_the_listener_from_anywhere_with_its_arguments(test_wav, tmp_path):
    out = tmp_path / "fired.txt"
    on_detect = f'echo "score=$PUERTOCHO_SCORE 100%" >> "{out}"'
    unit = render("--wav", str(test_wav[0]), "--model", str(ALEXA), *SETTINGS, "--on-detect", on_detect)
    assert f"WorkingDirectory={REPO}" in unit and "SupplementaryGroups=audio" in unit
    argv = exec_start(unit)
    assert argv[0] == str(REPO / "scripts/listen.sh") and argv[-1] == on_detect
    if shutil.which("systemd-analyze"):
        path = tmp_path / "puertocho.service"
        path.write_text(unit)
        verify = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
    result = run(argv, Path("/"), check=False)
    assert result.returncode == 0, result.stderr
    assert len(parse(result.stdout)) == 2
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("score=0.") and line.endswith(" 100%") for line in lines)


def test_install_service_dry_run_installs_enables_and_starts(tmp_path):
    result = run(["bash", "scripts/install_service.sh", "--dry-run", "--name", "wake", "--", "--device", "USB"], REPO)
    assert "/etc/systemd/system/wake.service" in result.stdout
    assert "systemctl daemon-reload" in result.stdout and "systemctl enable --now wake.service" in result.stdout


def test_listen_sh_without_a_venv_says_how_to_make_one(tmp_path):
    copy = tmp_path / "repo" / "scripts"
    copy.mkdir(parents=True)
    shutil.copy2(REPO / "scripts/listen.sh", copy / "listen.sh")
    result = subprocess.run(["bash", str(copy / "listen.sh"), "--help"], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "PUERTOCHO_PYTHON"})
    assert result.returncode == 1 and "requirements-pi.txt" in result.stderr


def test_compose_service_reads_the_seed_env_names(test_wav, tmp_path):
    """docker-compose.yml passes the seed's .env into the container; its command honours those names, and
    the patience and refractory period come from the model's own shipped .env."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service = compose["services"]["puertocho"]
    assert {"path": ".env", "required": False} in service["env_file"]
    assert "./models:/app/models:ro" in service["volumes"] and "/dev/snd:/dev/snd" in service["devices"]
    dockerfile = (REPO / service["build"]["dockerfile"]).read_text()
    assert "requirements-pi.txt" in dockerfile and "WORKDIR /app" in dockerfile
    shipped_env = ship(tmp_path, threshold=0.9)
    seed_env = tmp_path / ".env"
    seed_env.write_text(f"OPENWAKEWORD_MODEL_PATHS={shipped_env.parent / 'alexa_v0.1.onnx'}\n"
                        "OPENWAKEWORD_THRESHOLD=0.6\nOPENWAKEWORD_VAD_THRESHOLD=0.25\n"
                        f"PUERTOCHO_ARGS=--wav {test_wav[0]}\n")
    from puertocho.card import read_env
    command = [arg.replace("$$", "$") for arg in service["entrypoint"]]
    result = run(command, tmp_path, check=False, env_extra={**read_env(seed_env), "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert "threshold=0.6 vad_threshold=0.25 patience=1 refractory=2s" in result.stderr
    assert "from environment variable OPENWAKEWORD_THRESHOLD" in result.stderr
    assert "from environment variable OPENWAKEWORD_MODEL_PATHS" in result.stderr
    assert "alexa_v0.1.env (PUERTOCHO_PATIENCE_FRAMES)" in result.stderr
    assert len(parse(result.stdout)) == 2


@pytest.mark.parametrize("script", ["scripts/listen.sh", "scripts/install_service.sh"])
def test_service_scripts_pass_shellcheck(script):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(["shellcheck", "-x", script], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_pi_pull_without_a_reachable_remote_says_which_to_use(tmp_path):
    """The tracked default remote is the trainer's local folder; the tracked gcs URL is a placeholder."""
    from tests.conftest import copy_repo
    pi = copy_repo(tmp_path / "pi")
    result = run(["bash", "scripts/pi_pull.sh"], pi, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "which this machine does not have" in result.stderr
    assert "--remote gcs" in result.stderr and "dvc remote default --local gcs" in result.stderr
    result = run(["bash", "scripts/pi_pull.sh", "--remote", "gcs"], pi, check=False)
    assert result.returncode == 1 and "placeholder gs://YOUR_BUCKET" in result.stderr
    assert "dvc remote modify --local gcs url gs://BUCKET/puertocho" in result.stderr
    result = run(["bash", "scripts/pi_pull.sh", "--remote", "nas"], pi, check=False)
    assert result.returncode == 1 and "remote 'nas' is not configured" in result.stderr
