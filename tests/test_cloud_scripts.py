"""Tests of the Google Cloud scripts (scripts/setup_gcloud.sh and friends).

No network and no cloud: every script runs from a copy of scripts/ in a
temporary repository, with fake ``gcloud``, ``gsutil``, ``nvidia-smi``,
``curl``, ``dvc`` and ``python`` executables first on PATH (or injected with
PUERTOCHO_DVC / PUERTOCHO_PYTHON).  The fakes append their argv to a log file,
which the tests read back.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
CLOUD_SCRIPTS = [
    "setup_gcloud.sh",
    "setup_training_env.sh",
    "run_full_training_pipeline.sh",
    "monitor_training.sh",
    "gcloud_instance.sh",
]
FAKE_IP = "203.0.113.7"
SEP = "\x1f"  # separates the arguments of one call in the log

# Every fake starts by logging its name and arguments, one call per line.
LOG_CALL = r"""#!/usr/bin/env bash
{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf '\x1f%s' "$a"; done; printf '\n'; } >> "$FAKE_LOG"
"""

FAKES = {
    "gcloud": LOG_CALL
    + r"""
case " $* " in
  *" describe "*) [[ "${FAKE_GCLOUD_EXISTING:-0}" == 1 ]] || { echo "ERROR: not found" >&2; exit 1; } ;;
esac
exit 0
""",
    "gsutil": LOG_CALL
    + r"""
if [[ "$1" == ls ]]; then [[ "${FAKE_GSUTIL_EXISTING:-0}" == 1 ]] || exit 1; fi
exit 0
""",
    "curl": LOG_CALL
    + r"""
printf '%s' "${FAKE_IP:-203.0.113.7}"
""",
    "nvidia-smi": LOG_CALL
    + r"""
[[ -z "${FAKE_SMI_FAIL:-}" ]] || { echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9; }
if [[ "$*" == *--query-gpu* ]]; then
  echo "Tesla T4, 535.104.05, 15360 MiB, 42 %"
else
  echo "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2 |"
fi
""",
    # dvc: fails for the call named in FAKE_DVC_FAIL (e.g. "repro train");
    # the data stages write the balance report like the real pipeline.
    "dvc": LOG_CALL
    + r"""
if [[ -n "${FAKE_DVC_FAIL:-}" && "$*" == "$FAKE_DVC_FAIL"* ]]; then
  echo "ERROR: failed to reproduce '$*'" >&2; exit 1
fi
if [[ "$*" == "repro generate_positive generate_negative" ]]; then
  mkdir -p metrics
  echo '{"positive": 1000, "negative": 12000, "negative_positive_ratio": 12.0}' > metrics/data.json
fi
if [[ "$*" == "metrics show" ]]; then echo "metrics/eval.json  f1 0.93"; fi
exit 0
""",
    # python: "-m json.tool FILE" prints FILE, anything else just succeeds.
    "python": LOG_CALL
    + r"""
if [[ "$1" == -m && "$2" == json.tool ]]; then cat "$3"; fi
exit 0
""",
}


def _write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class Env:
    """A temporary repository with the scripts, and fake tools on PATH."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "repo"
        (self.root / "scripts").mkdir(parents=True)
        for script in SCRIPTS.glob("*.sh"):
            shutil.copy2(script, self.root / "scripts" / script.name)
        # The project's own set-up is somebody else's: a stub that logs its call.
        _write_exe(self.root / "scripts" / "setup.sh", LOG_CALL)
        (self.root / "dvc.yaml").write_text("stages: {}\n")
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name, text in FAKES.items():
            _write_exe(self.bin / name, text)
        self.log = tmp_path / "calls.log"
        self.env = {
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "FAKE_LOG": str(self.log),
            "PATH": f"{self.bin}{os.pathsep}{self._system_path()}",
            "PUERTOCHO_DVC": str(self.bin / "dvc"),
            "PUERTOCHO_PYTHON": str(self.bin / "python"),
        }

    @staticmethod
    def _system_path() -> str:
        # Without any real nvidia-smi, so that removing the fake means "no GPU".
        dirs = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        return os.pathsep.join(d for d in dirs if d and not (Path(d) / "nvidia-smi").exists())

    def remove_fake(self, name: str) -> None:
        (self.bin / name).unlink()

    def run(self, script: str, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(self.root / "scripts" / script), *args],
            cwd=self.root,
            env={**self.env, **env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def calls(self, tool: str | None = None) -> list[list[str]]:
        if not self.log.exists():
            return []
        calls = [line.split(SEP) for line in self.log.read_text().splitlines()]
        return [c for c in calls if tool is None or c[0] == tool]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def _find(calls: list[list[str]], *words: str) -> list[str]:
    """The one call whose argv contains all the words."""
    found = [c for c in calls if all(w in c for w in words)]
    assert len(found) == 1, f"expected one call with {words}, got {found} among {calls}"
    return found[0]


# --- all scripts -----------------------------------------------------------------


@pytest.mark.parametrize("script", CLOUD_SCRIPTS)
def test_scripts_exist_executable_and_strict(script):
    path = SCRIPTS / script
    assert path.is_file(), f"{path} is missing"
    assert os.access(path, os.X_OK), f"{path} is not executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text


@pytest.mark.parametrize("script", CLOUD_SCRIPTS)
def test_help_exits_zero_and_prints_usage(env, script):
    for flag in ("--help", "-h"):
        result = env.run(script, flag)
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout
        assert "--dry-run" in result.stdout
    assert env.calls() == []


DRY_RUN_ARGS = {
    "setup_gcloud.sh": ["my-project"],
    "setup_training_env.sh": ["--bucket", "my-bucket"],
    "run_full_training_pipeline.sh": [],
    "monitor_training.sh": [],
    "gcloud_instance.sh": ["stop", "--project", "my-project"],
}


@pytest.mark.parametrize("script", CLOUD_SCRIPTS)
def test_dry_run_prints_commands_and_invokes_nothing(env, script):
    result = env.run(script, "--dry-run", *DRY_RUN_ARGS[script])
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert commands, result.stdout
    assert env.calls() == [], "a fake tool was invoked during --dry-run"


@pytest.mark.parametrize("script", CLOUD_SCRIPTS)
def test_unknown_option_is_a_usage_error(env, script):
    result = env.run(script, "--no-such-option")
    assert result.returncode == 2
    assert "--help" in result.stderr
    assert env.calls() == []


def test_shellcheck_passes_on_all_scripts():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run scripts/setup.sh (it apt-get installs shellcheck)")
    scripts = sorted(str(p.relative_to(REPO)) for p in SCRIPTS.glob("*.sh"))
    assert scripts
    result = subprocess.run(
        [shellcheck, "-x", *scripts], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- setup_gcloud.sh -------------------------------------------------------------


def test_setup_gcloud_creates_instance_bucket_and_firewall(env):
    result = env.run("setup_gcloud.sh", "my-project")
    assert result.returncode == 0, result.stderr

    assert env.calls("curl") == [["curl", "-s", "--max-time", "10", "https://ifconfig.me"]]

    gcloud = env.calls("gcloud")
    create = _find(gcloud, "compute", "instances", "create")
    assert "puertocho-t4" in create
    for flag in (
        "--project=my-project",
        "--zone=us-central1-a",
        "--machine-type=n1-standard-4",
        "--accelerator=type=nvidia-tesla-t4,count=1",
        "--maintenance-policy=TERMINATE",
        "--image-project=deeplearning-platform-release",
        "--metadata=install-nvidia-driver=True",
        "--boot-disk-size=200GB",
    ):
        assert flag in create, f"{flag} not in {create}"
    image_family = [a for a in create if a.startswith("--image-family=")]
    assert image_family and image_family[0].startswith("--image-family=common-cu")

    mb = _find(env.calls("gsutil"), "mb")
    assert mb[mb.index("-p") + 1] == "my-project"
    assert mb[mb.index("-l") + 1] == "us-central1"
    assert mb[-1] == "gs://my-project-puertocho-dvc"

    rules = [c for c in gcloud if c[1:4] == ["compute", "firewall-rules", "create"]]
    assert {r for c in rules for r in c if r.startswith("--rules=")} == {"--rules=tcp:6006", "--rules=tcp:8080"}
    for rule in rules:
        assert f"--source-ranges={FAKE_IP}/32" in rule
        assert "--project=my-project" in rule
        assert not any("0.0.0.0" in a for a in rule)


def test_setup_gcloud_options(env):
    result = env.run(
        "setup_gcloud.sh", "--zone", "europe-west4-a", "my-project", "--instance", "wake-t4",
        "--bucket", "wake-bucket", "--disk-size", "100", "--allow-ip", "198.51.100.0/24", "--spot",
    )
    assert result.returncode == 0, result.stderr
    assert env.calls("curl") == [], "--allow-ip given: no need to look the IP up"
    create = _find(env.calls("gcloud"), "compute", "instances", "create")
    assert "wake-t4" in create
    assert "--zone=europe-west4-a" in create
    assert "--boot-disk-size=100GB" in create
    assert "--provisioning-model=SPOT" in create
    mb = _find(env.calls("gsutil"), "mb")
    assert mb[mb.index("-l") + 1] == "europe-west4"
    assert mb[-1] == "gs://wake-bucket"
    rules = [c for c in env.calls("gcloud") if c[1:4] == ["compute", "firewall-rules", "create"]]
    assert len(rules) == 2
    assert all("--source-ranges=198.51.100.0/24" in c for c in rules)


def test_setup_gcloud_bare_ip_becomes_slash_32(env):
    result = env.run("setup_gcloud.sh", "my-project", "--allow-ip", "192.0.2.10")
    assert result.returncode == 0, result.stderr
    rules = [c for c in env.calls("gcloud") if c[1:4] == ["compute", "firewall-rules", "create"]]
    assert all("--source-ranges=192.0.2.10/32" in c for c in rules)


def test_setup_gcloud_missing_project_id(env):
    result = env.run("setup_gcloud.sh", "--zone", "us-central1-a")
    assert result.returncode == 2
    assert "missing PROJECT_ID" in result.stderr
    assert env.calls() == []


def test_setup_gcloud_refuses_open_firewall(env):
    result = env.run("setup_gcloud.sh", "my-project", "--allow-ip", "0.0.0.0/0")
    assert result.returncode != 0
    assert "0.0.0.0/0" in result.stderr and "--allow-anywhere" in result.stderr
    assert env.calls() == []


def test_setup_gcloud_open_firewall_needs_explicit_flag(env):
    result = env.run("setup_gcloud.sh", "my-project", "--allow-ip", "0.0.0.0/0", "--allow-anywhere")
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr
    rules = [c for c in env.calls("gcloud") if c[1:4] == ["compute", "firewall-rules", "create"]]
    assert len(rules) == 2 and all("--source-ranges=0.0.0.0/0" in c for c in rules)


def test_setup_gcloud_unusable_ip_lookup(env):
    result = env.run("setup_gcloud.sh", "my-project", FAKE_IP="<html>rate limited</html>")
    assert result.returncode != 0
    assert "--allow-ip" in result.stderr
    assert env.calls("gcloud") == [] and env.calls("gsutil") == []


@pytest.mark.parametrize("bad", [["--disk-size", "10"], ["--zone", "nowhere"], ["--disk-size"]])
def test_setup_gcloud_bad_arguments(env, bad):
    result = env.run("setup_gcloud.sh", "my-project", *bad)
    assert result.returncode == 2
    assert env.calls() == []


def test_setup_gcloud_is_idempotent(env):
    result = env.run("setup_gcloud.sh", "my-project", FAKE_GCLOUD_EXISTING="1", FAKE_GSUTIL_EXISTING="1")
    assert result.returncode == 0, result.stderr
    gcloud = env.calls("gcloud")
    assert not [c for c in gcloud if "create" in c], "existing resources must not be re-created"
    assert not [c for c in env.calls("gsutil") if "mb" in c]
    updates = [c for c in gcloud if c[1:4] == ["compute", "firewall-rules", "update"]]
    assert len(updates) == 2
    assert all(f"--source-ranges={FAKE_IP}/32" in c for c in updates)


def test_setup_gcloud_dry_run_shows_the_create_commands(env):
    result = env.run("setup_gcloud.sh", "--dry-run", "my-project", "--allow-ip", "192.0.2.10/32")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "+ gcloud compute instances create puertocho-t4" in out
    assert "--accelerator=type=nvidia-tesla-t4,count=1" in out
    assert "+ gsutil mb -p my-project -l us-central1" in out
    assert "--source-ranges=192.0.2.10/32" in out
    assert env.calls() == []


# --- setup_training_env.sh ---------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
def test_setup_training_env_without_driver_fails_clearly(env, dry_run):
    env.remove_fake("nvidia-smi")
    result = env.run("setup_training_env.sh", *(["--dry-run"] if dry_run else []))
    assert result.returncode != 0
    assert "No NVIDIA driver found" in result.stderr
    assert env.calls() == [], "nothing may run without a driver"


def test_setup_training_env_with_broken_driver_fails_clearly(env):
    result = env.run("setup_training_env.sh", FAKE_SMI_FAIL="1")
    assert result.returncode != 0
    assert "No NVIDIA driver found" in result.stderr
    assert [c[0] for c in env.calls()] == ["nvidia-smi"]


def test_setup_training_env_runs_the_steps_in_order(env):
    result = env.run("setup_training_env.sh", "--bucket", "gs://my-bucket")
    assert result.returncode == 0, result.stderr
    assert "CUDA (driver): 12.2" in result.stdout
    calls = env.calls()
    names = [c[0] for c in calls]
    assert names[:3] == ["nvidia-smi", "nvidia-smi", "setup.sh"]
    dvc = [c[1:] for c in calls if c[0] == "dvc"]
    assert dvc == [
        ["remote", "modify", "--local", "gcs", "url", "gs://my-bucket/puertocho"],
        ["remote", "default", "--local", "gcs"],
    ]
    python = [c[1:] for c in calls if c[0] == "python"]
    assert "torch.cuda.is_available()" in python[0][1]
    assert python[-1] == ["-m", "pytest", "-q", "-m", "not slow", "tests"]
    assert names.index("setup.sh") < names.index("dvc") < len(names) - 1


def test_setup_training_env_dry_run(env):
    result = env.run("setup_training_env.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "+ bash scripts/setup.sh" in out
    assert f"+ {env.bin / 'dvc'} remote default --local gcs" in out
    assert "-m pytest -q -m 'not slow' tests" in out
    assert env.calls() == []


# --- run_full_training_pipeline.sh -------------------------------------------------

PIPELINE_DVC_CALLS = [
    ["pull"],
    ["repro", "generate_positive", "generate_negative"],
    ["repro", "train"],
    ["repro", "export", "evaluate"],
    ["metrics", "show"],
    ["push"],
]


def test_pipeline_runs_the_six_steps_in_order(env):
    result = env.run("run_full_training_pipeline.sh")
    assert result.returncode == 0, result.stderr
    assert [c[1:] for c in env.calls("dvc")] == PIPELINE_DVC_CALLS
    for n, name in enumerate(["prerequisites", "data", "balance report", "training", "validation", "summary"], 1):
        assert f"[{n}/6 {name}" in result.stdout
    assert '"negative_positive_ratio": 12.0' in result.stdout  # the balance report
    assert "f1 0.93" in result.stdout  # dvc metrics show


def test_pipeline_dry_run_lists_the_commands(env):
    result = env.run("run_full_training_pipeline.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    dvc = str(env.bin / "dvc")
    printed = [line[2:].split(" ") for line in result.stdout.splitlines() if line.startswith(f"+ {dvc} ")]
    assert [p[1:] for p in printed] == PIPELINE_DVC_CALLS
    assert "metrics/data.json" in result.stdout
    assert env.calls() == []


def test_pipeline_tolerates_a_failed_pull(env):
    result = env.run("run_full_training_pipeline.sh", FAKE_DVC_FAIL="pull")
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr and "pull" in result.stderr
    assert [c[1:] for c in env.calls("dvc")] == PIPELINE_DVC_CALLS


@pytest.mark.parametrize(
    ("failing", "step"),
    [
        ("repro generate_positive", "2/6 data"),
        ("repro train", "4/6 training"),
        ("repro export", "5/6 validation"),
        ("push", "6/6 summary (dvc push)"),
    ],
)
def test_pipeline_failure_names_the_step(env, failing, step):
    result = env.run("run_full_training_pipeline.sh", FAKE_DVC_FAIL=failing)
    assert result.returncode != 0
    assert f"FAILED at step {step}" in result.stderr
    done = [" ".join(c[1:]) for c in env.calls("dvc")]
    assert done[-1].startswith(failing), "nothing may run after the failed step"


def test_pipeline_missing_balance_report_fails(env):
    # A dvc that does not write metrics/data.json.
    _write_exe(env.bin / "dvc", LOG_CALL + "exit 0\n")
    result = env.run("run_full_training_pipeline.sh")
    assert result.returncode != 0
    assert "FAILED at step 3/6 balance report" in result.stderr
    assert ["repro", "features"] in [c[1:] for c in env.calls("dvc")]


def test_pipeline_without_venv_fails_in_prerequisites(env, tmp_path):
    result = env.run("run_full_training_pipeline.sh", PUERTOCHO_DVC=str(tmp_path / "no" / "dvc"))
    assert result.returncode != 0
    assert "FAILED at step 1/6 prerequisites" in result.stderr
    assert "setup" in result.stderr
    assert env.calls("dvc") == []


def test_pipeline_without_gpu_only_warns(env):
    env.remove_fake("nvidia-smi")
    result = env.run("run_full_training_pipeline.sh", "--no-push")
    assert result.returncode == 0, result.stderr
    assert "nvidia-smi not found" in result.stderr
    assert [c[1:] for c in env.calls("dvc")] == PIPELINE_DVC_CALLS[:-1]


# --- monitor_training.sh -----------------------------------------------------------


def _training_outputs(root: Path) -> None:
    (root / "logs").mkdir()
    (root / "logs" / "training.log").write_text("".join(f"log line {i}\n" for i in range(1, 101)))
    (root / "dvclive").mkdir()
    (root / "dvclive" / "metrics.json").write_text('{"step": 7, "train": {"loss": 0.25}, "val": {"f1": 0.875}}')


def test_monitor_shows_gpu_log_and_metrics(env):
    _training_outputs(env.root)
    result = env.run("monitor_training.sh", "--lines", "5", PUERTOCHO_PYTHON="python3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Tesla T4" in out
    assert "log line 100" in out and "log line 96" in out and "log line 95" not in out
    assert "epoch (dvclive step, from 0): 7" in out
    assert "train/loss: 0.2500" in out and "val/f1: 0.8750" in out
    smi = _find(env.calls("nvidia-smi"), "--format=csv")
    assert any(a.startswith("--query-gpu=") and "utilization.gpu" in a for a in smi)


def test_monitor_before_training_and_without_gpu(env):
    env.remove_fake("nvidia-smi")
    result = env.run("monitor_training.sh")
    assert result.returncode == 0, result.stderr
    assert "nvidia-smi not found" in result.stdout
    assert "not written yet" in result.stdout
    assert "no metrics yet" in result.stdout


def test_monitor_watch_repeats(env):
    _training_outputs(env.root)
    proc = subprocess.Popen(
        ["bash", str(env.root / "scripts" / "monitor_training.sh"), "--watch", "1"],
        cwd=env.root,
        env={**env.env, "PUERTOCHO_PYTHON": "python3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(2.5)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert out.count("--- GPU") >= 2, out
    assert "refreshing every 1s" in out


@pytest.mark.parametrize("bad", [["--watch", "soon"], ["--watch"], ["--lines", "0"]])
def test_monitor_bad_arguments(env, bad):
    result = env.run("monitor_training.sh", *bad)
    assert result.returncode == 2
    assert env.calls() == []


# --- gcloud_instance.sh ------------------------------------------------------------


@pytest.mark.parametrize("action", ["start", "stop", "status"])
def test_instance_actions(env, action):
    result = env.run("gcloud_instance.sh", action, "--project", "my-project", "--zone", "us-west1-b",
                     "--instance", "wake-t4", FAKE_GCLOUD_EXISTING="1")
    assert result.returncode == 0, result.stderr
    call = _find(env.calls("gcloud"), "compute", "instances")
    assert call[1:5] == ["compute", "instances", "describe" if action == "status" else action, "wake-t4"]
    assert "--zone=us-west1-b" in call and "--project=my-project" in call


def test_instance_status_of_missing_instance(env):
    result = env.run("gcloud_instance.sh", "status")
    assert result.returncode != 0
    assert "cannot describe instance puertocho-t4" in result.stderr


def test_instance_defaults_use_gcloud_project(env):
    result = env.run("gcloud_instance.sh", "stop")
    assert result.returncode == 0, result.stderr
    call = _find(env.calls("gcloud"), "stop")
    assert "puertocho-t4" in call and "--zone=us-central1-a" in call
    assert not any(a.startswith("--project") for a in call)
    assert "still pays for its disk" in result.stdout


def test_instance_delete_needs_confirmation(env):
    result = env.run("gcloud_instance.sh", "delete", stdin="y\n")
    assert result.returncode != 0
    assert "nothing deleted" in result.stderr
    assert env.calls() == []

    result = env.run("gcloud_instance.sh", "delete", stdin="puertocho-t4\n")
    assert result.returncode == 0, result.stderr
    call = _find(env.calls("gcloud"), "delete")
    assert call[4] == "puertocho-t4" and "--quiet" in call


def test_instance_delete_with_yes(env):
    result = env.run("gcloud_instance.sh", "delete", "--yes")
    assert result.returncode == 0, result.stderr
    _find(env.calls("gcloud"), "compute", "instances", "delete", "puertocho-t4")


def test_instance_missing_action(env):
    result = env.run("gcloud_instance.sh", "--zone", "us-central1-a")
    assert result.returncode == 2
    assert "missing action" in result.stderr
    assert env.calls() == []


def test_instance_help_gives_the_cost(env):
    out = env.run("gcloud_instance.sh", "--help").stdout
    assert "$0.35/h" in out and "$0.19/h" in out and "$0.54/h" in out
    assert "a third" in out
    assert "$0.04/GB-month" in out
    assert "stopped instance still pays for its disk" in out
