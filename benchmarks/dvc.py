"""DVC: `dvc status` and a no-op `dvc repro` here (cheap), and the opt-in whole pipeline from scratch in a clone."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from benchmarks.common import VENV_BIN, Config, median, run_timed, tool_env

UP_TO_DATE = "Data and pipelines are up to date"


def _dvc() -> str:
    candidate = VENV_BIN / "dvc"
    return str(candidate) if candidate.exists() else "dvc"


def _tail(result: subprocess.CompletedProcess, lines: int = 15) -> str:
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-lines:])


def _error_line(result: subprocess.CompletedProcess) -> str:
    """DVC's first ERROR sentence (e.g. the repository lock held by another dvc), else the output's tail."""
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("ERROR"):
            return line.split(". ")[0]
    return _tail(result, 5)


def _ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def run_status(config: Config) -> dict:
    """Time `dvc status` and, only when it says nothing changed, a no-op `dvc repro` in this repository."""
    repo = config.repo
    if not (repo / "dvc.lock").exists():
        return {"skipped": "no dvc.lock in the repository: run `dvc repro` first"}
    status_runs = []
    repro_runs = []
    up_to_date = True
    for attempt in range(config.repeats + 1):  # the first of each is the warm-up
        seconds, status = run_timed([_dvc(), "status"], repo)
        if status.returncode != 0:
            return {"error": f"dvc status failed ({status.returncode}): {_error_line(status)}"}
        if attempt:
            status_runs.append(seconds)
        if UP_TO_DATE not in status.stdout:
            up_to_date = False
            break
        # Checked right before every repro: with changes pending, `dvc repro` would rebuild stages, not idle.
        seconds, repro = run_timed([_dvc(), "repro"], repo)
        if repro.returncode != 0:
            return {"error": f"dvc repro failed ({repro.returncode}): {_error_line(repro)}"}
        ran = _ran_stages(repro.stdout + repro.stderr)
        if ran:
            return {"error": f"the no-op dvc repro ran stages {ran}: something changed while measuring"}
        if attempt:
            repro_runs.append(seconds)
    result: dict = {"up_to_date": up_to_date}
    if status_runs:
        result["status_s"] = round(median(status_runs), 3)
        result["status_runs_s"] = [round(s, 3) for s in status_runs]
    if repro_runs:
        result["noop_repro_s"] = round(median(repro_runs), 3)
        result["noop_repro_runs_s"] = [round(s, 3) for s in repro_runs]
    if not up_to_date:
        result["skipped_repro"] = ("`dvc status` reports changes, so `dvc repro` here would rebuild stages; "
                                   "the no-op repro was not run")
        if "status_s" not in result:
            result["status_s"] = round(seconds, 3)
    return result


def rows_status(result: dict) -> list[tuple[str, str, object, str]]:
    if "skipped" in result or "error" in result:
        return [("dvc_status", "dvc status / no-op repro", result.get("skipped") or result.get("error"), "")]
    out = [("dvc_status", "dvc status", result["status_s"], "s")]
    if "noop_repro_s" in result:
        out.append(("dvc_status", "dvc repro, nothing changed", result["noop_repro_s"], "s"))
    else:
        out.append(("dvc_status", "dvc repro, nothing changed", "not run: " + result["skipped_repro"], ""))
    return out


def tiny_params(base: dict) -> dict:
    from puertocho.profiles import apply_profile, load_profiles
    return apply_profile(base, load_profiles()["tiny"])


def run_repro(config: Config) -> dict:
    """Clone HEAD, then time: `dvc repro` from scratch, `dvc repro` again (nothing changed), an experiment."""
    folder = Path(tempfile.mkdtemp(prefix="puertocho-bench-repro-"))
    clone = folder / "repo"
    env = tool_env(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com", GIT_COMMITTER_NAME="bench",
                   GIT_COMMITTER_EMAIL="bench@example.com")
    env.pop("PYTHONPATH", None)  # the clone's stages must import the clone's code
    result: dict = {"clone": str(clone)}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.repo, capture_output=True, text=True,
                              check=True).stdout.strip()
        subprocess.run(["git", "clone", "-q", str(config.repo), str(clone)], check=True, capture_output=True)
        result["commit"] = head
        if config.quick:
            params = tiny_params(yaml.safe_load((clone / "params.yaml").read_text()))
            (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            subprocess.run(["git", "commit", "-qam", "bench: tiny params"], cwd=clone, env=env, check=True,
                           capture_output=True)
            result["params"] = "tiny profile (profiles.yaml)"
        else:
            result["params"] = "params.yaml at HEAD"
        steps = [("full_repro", [_dvc(), "repro"]), ("noop_repro", [_dvc(), "repro"]),
                 ("exp_run_learning_rate", [_dvc(), "exp", "run", "-S", "training.learning_rate=3.0e-4"])]
        for name, command in steps:
            config.log(f"repro: {' '.join(command[1:])} in {clone}")
            # The pipeline runs are single (each is minutes); the no-op one is cheap: median of --repeats.
            runs = []
            for _ in range(config.repeats if name == "noop_repro" else 1):
                seconds, completed = run_timed(command, clone, env)
                runs.append(seconds)
                if completed.returncode != 0:
                    break
            output = completed.stdout + completed.stderr
            result[name] = {"seconds": round(median(runs), 2), "runs_s": [round(x, 2) for x in runs],
                            "stages_run": _ran_stages(output), "returncode": completed.returncode}
            if completed.returncode != 0:
                result[name]["error"] = _tail(completed, 30)
                break
    finally:
        if config.keep:
            result["kept"] = True
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def rows_repro(result: dict) -> list[tuple[str, str, object, str]]:
    labels = {"full_repro": "dvc repro from scratch", "noop_repro": "dvc repro again, nothing changed",
              "exp_run_learning_rate": "dvc exp run -S training.learning_rate=3.0e-4"}
    out = []
    for key, label in labels.items():
        if key not in result:
            continue
        entry = result[key]
        if "error" in entry:
            out.append(("repro", label, f"failed ({entry['returncode']})", ""))
        else:
            ran = ", ".join(entry["stages_run"]) or "no stage"
            out.append(("repro", f"{label} [{result['params']}]", entry["seconds"], f"s (ran: {ran})"))
    return out
