"""The settings the Pi runs with, where each one came from, and the openWakeWord runtime (0.4.x and 0.6.x).

Every setting the evaluation used ships beside the model (the package stage writes models/<name>.env and
models/<name>.card.json). Each is looked up, first found wins:
  1. the command line (--threshold, --vad-threshold, --patience, --refractory, --model, --*-model);
  2. the process environment (OPENWAKEWORD_THRESHOLD, ...: what `docker compose` passes from its .env);
  3. the settings file (models/<name>.env, or --env FILE);
  4. the model card (models/<name>.card.json, its `runtime` section).
A runtime setting found nowhere stops the listener: a guessed threshold is not what was evaluated. Relative
paths inside a settings file or the environment are relative to the repository root, so the listener runs
from any directory. Files the card lists are checked against its sha256.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from puertocho.card import (ENV_EMBEDDING, ENV_MELSPEC, ENV_MODEL, ENV_PATIENCE, ENV_REFRACTORY, ENV_THRESHOLD,
                            ENV_VAD, ENV_VAD_MODEL, VAD_MODEL, read_env)
from puertocho.features import resource_path, sha256_of

ROOT = Path(__file__).resolve().parents[1]   # the repository (or image) the listener runs from
DEFAULT_NAME = "puertocho_v1"
PULL_HINT = "run scripts/pi_pull.sh --remote gcs (it pulls the model with its .env and card)"

log = logging.getLogger("puertocho.listen")


class SettingsError(RuntimeError):
    """Settings the listener cannot run with; the message says which and how to fix it."""


# name -> (environment/.env key, card runtime field, command-line flag, parser)
RUNTIME_KEYS = {
    "threshold": (ENV_THRESHOLD, "threshold", "--threshold", float),
    "vad_threshold": (ENV_VAD, "vad_threshold", "--vad-threshold", float),
    "patience_frames": (ENV_PATIENCE, "patience_frames", "--patience", int),
    "refractory_seconds": (ENV_REFRACTORY, "refractory_seconds", "--refractory", float),
}
FILE_KEYS = {
    "melspec": (ENV_MELSPEC, "--melspec-model", "melspectrogram.onnx"),
    "embedding": (ENV_EMBEDDING, "--embedding-model", "embedding_model.onnx"),
    "vad_model": (ENV_VAD_MODEL, "--vad-model", VAD_MODEL),
}


@dataclass
class Settings:
    """What the listener runs with; `sources` says where each value came from (for the start-up log)."""
    model: Path
    threshold: float
    vad_threshold: float
    patience_frames: int
    refractory_seconds: float
    melspec: Path
    embedding: Path
    vad_model: Path | None
    card: dict | None = None
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.stem


def default_model_name(params_path: Path = ROOT / "params.yaml") -> str:
    """model.name from the repository's params.yaml when it is readable (the Pi's clone has it)."""
    try:
        import yaml
        name = (yaml.safe_load(Path(params_path).read_text()) or {}).get("model", {}).get("name")
        return name if isinstance(name, str) and name else DEFAULT_NAME
    except Exception:  # no params.yaml, no PyYAML, or bad YAML: the default name is good enough here
        return DEFAULT_NAME


def sidecar(model: Path, suffix: str) -> Path:
    """models/x.v2.onnx -> models/x.v2<suffix>: the stem keeps its dots (with_suffix would cut at the last)."""
    return model.parent / f"{model.stem}{suffix}"


def root_relative(value: str) -> Path:
    """A path from a settings file or the environment: absolute, or relative to the repository root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else ROOT / path


def display(path: Path) -> str:
    """A path as short as it can be said: relative to the current directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_card(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
    except ValueError as error:
        raise SettingsError(f"model card {path} is not valid JSON ({error}); {PULL_HINT}.") from error
    return card if isinstance(card, dict) else None


def bundled_model(file_name: str) -> Path | None:
    """A model file inside the installed openwakeword wheel (0.4.0 has all three; 0.6.0 none)."""
    try:
        path = resource_path(file_name)
    except ImportError:
        return None
    return path if path.is_file() else None


def resolve(args, environ: dict[str, str] | None = None) -> Settings:
    """Settings from the parsed command line (see puertocho.listen.build_parser), the environment, the
    settings file and the card, with the source of each; SettingsError when one is missing or bad."""
    environ = dict(os.environ if environ is None else environ)
    sources: dict[str, str] = {}
    if args.model:
        model, sources["model"] = Path(args.model), "command line (--model)"
    elif environ.get(ENV_MODEL):
        model, sources["model"] = _first_model(environ[ENV_MODEL]), f"environment variable {ENV_MODEL}"
    else:
        model = None
    if args.env:
        env_path = Path(args.env)
        if not env_path.is_file():
            raise SettingsError(f"settings file {env_path} not found; {PULL_HINT}.")
    elif model is not None:
        env_path = sidecar(model, ".env")  # the settings shipped with that model
    else:
        env_path = ROOT / "models" / f"{default_model_name()}.env"
    shipped = read_env(env_path)
    if model is None and shipped.get(ENV_MODEL):
        model, sources["model"] = _first_model(shipped[ENV_MODEL]), f"{display(env_path)} ({ENV_MODEL})"
    elif model is None:
        model, sources["model"] = ROOT / "models" / f"{default_model_name()}.onnx", "params.yaml model.name"
    if not model.is_file():
        raise SettingsError(f"model {display(model)} not found ({sources['model']}); {PULL_HINT}.")
    if shipped.get(ENV_MODEL) and _first_model(shipped[ENV_MODEL]).resolve() != model.resolve():
        log.warning("%s was written for %s, not for %s: its settings may not fit this model", display(env_path),
                    shipped[ENV_MODEL], display(model))
    card_path = sidecar(model, ".card.json")
    card = read_card(card_path)
    runtime = (card or {}).get("runtime", {}) if isinstance((card or {}).get("runtime"), dict) else {}

    values, missing = {}, []
    for name, (key, card_field, flag, parse) in RUNTIME_KEYS.items():
        given = getattr(args, name)
        candidates = [(given, f"command line ({flag})"), (environ.get(key), f"environment variable {key}"),
                      (shipped.get(key), f"{display(env_path)} ({key})"),
                      (runtime.get(card_field), f"{display(card_path)} (runtime.{card_field})")]
        found = next(((value, source) for value, source in candidates if value not in (None, "")), None)
        if found is None:
            missing.append(flag)
            continue
        try:
            values[name] = parse(found[0])
        except (TypeError, ValueError) as error:
            raise SettingsError(f"{name} from {found[1]} is not a valid {parse.__name__}: {found[0]!r}.") from error
        sources[name] = found[1]
    if missing:
        raise SettingsError(
            f"no {', '.join(m.lstrip('-') for m in missing)} for {display(model)}: neither {display(env_path)} nor "
            f"{display(card_path)} gives it, and the listener will not guess what was not evaluated. {PULL_HINT}, "
            f"or give {' '.join(f'{m} VALUE' for m in missing)} on the command line.")
    if not 0.0 <= values["threshold"] <= 1.0 or not 0.0 <= values["vad_threshold"] <= 1.0:
        raise SettingsError(f"thresholds must lie in [0, 1]: threshold {values['threshold']} "
                            f"({sources['threshold']}), vad_threshold {values['vad_threshold']} "
                            f"({sources['vad_threshold']}).")
    if values["patience_frames"] < 1 or values["refractory_seconds"] < 0:
        raise SettingsError("patience must be >= 1 chunk and refractory >= 0 seconds.")

    files = {}
    for name, (key, flag, file_name) in FILE_KEYS.items():
        if name == "vad_model" and values["vad_threshold"] == 0:
            files[name], sources[name] = None, "not used (vad_threshold 0)"
            continue
        given = getattr(args, name)
        if given:
            path, source = Path(given), f"command line ({flag})"
        elif environ.get(key):
            path, source = root_relative(environ[key]), f"environment variable {key}"
        elif shipped.get(key):
            path, source = root_relative(shipped[key]), f"{display(env_path)} ({key})"
        elif bundled_model(file_name):
            path, source = bundled_model(file_name), "the openwakeword package's bundled copy"
        else:
            raise SettingsError(f"no {file_name} for the runtime: the installed openwakeword does not bundle it "
                                f"(0.6.0 does not) and {display(env_path)} does not name one; {PULL_HINT}, or "
                                f"give {flag} PATH.")
        if not path.is_file():
            raise SettingsError(f"{file_name} {display(path)} (from {source}) not found; {PULL_HINT}.")
        files[name], sources[name] = path, source
    settings = Settings(model=model, card=card, sources=sources, **values, **files)
    if card is not None:
        verify_against_card(settings, card_path)
    return settings


def _first_model(value: str) -> Path:
    paths = [part.strip() for part in value.split(",") if part.strip()]
    if len(paths) > 1:
        log.warning("%s lists %d models; this listener runs one: %s", ENV_MODEL, len(paths), paths[0])
    return root_relative(paths[0])


def verify_against_card(settings: Settings, card_path: Path) -> None:
    """The model and runtime files in use must be the ones the card lists (matched by file name)."""
    listed = {Path(key).name: digest for key, digest in (settings.card.get("files") or {}).items()}
    for path in (settings.model, settings.melspec, settings.embedding, settings.vad_model):
        if path is None or path.name not in listed:
            continue
        actual = sha256_of(path)
        if actual != listed[path.name]:
            raise SettingsError(f"{display(path)} is not the file {display(card_path)} was evaluated with (sha256 "
                                f"{actual[:12]}… vs {listed[path.name][:12]}…); {PULL_HINT}.")


def meets_targets(card: dict | None) -> bool | None:
    """The card's verdict on the evaluation targets (None when the card does not say)."""
    if not card:
        return None
    for section in ("evaluation", "metrics"):
        value = (card.get(section) or {}).get("meets_targets")
        if isinstance(value, bool):
            return value
    return None


def log_settings(settings: Settings) -> None:
    """One line per setting with its source, and a loud warning when the card says the targets were missed."""
    shown = {"model": display(settings.model), "threshold": f"{settings.threshold:g}",
             "vad_threshold": f"{settings.vad_threshold:g}", "patience_frames": str(settings.patience_frames),
             "refractory_seconds": f"{settings.refractory_seconds:g}", "melspec": display(settings.melspec),
             "embedding": display(settings.embedding),
             "vad_model": display(settings.vad_model) if settings.vad_model else "-"}
    for name, value in shown.items():
        log.info("setting %-18s = %-40s from %s", name, value, settings.sources.get(name, "?"))
    verdict = meets_targets(settings.card)
    if verdict is False:
        evaluation = settings.card.get("evaluation") or settings.card.get("metrics") or {}
        log.warning("!" * 78)
        log.warning("!! %s did NOT meet its evaluation targets (false accepts/hour %s, false-reject rate %s).",
                    settings.name, evaluation.get("false_accepts_per_hour"), evaluation.get("false_reject_rate"))
        log.warning("!! Expect missed wake words or false wakes; see %s.", display(sidecar(settings.model,
                                                                                       ".card.json")))
        log.warning("!" * 78)
    elif verdict is None:
        log.info("no model card beside %s: files unchecked, targets unknown", display(settings.model))


def openwakeword_version() -> str:
    try:
        from importlib.metadata import version
        return version("openwakeword")
    except Exception:  # metadata missing (a --target install without dist-info): say so, do not fail
        return "unknown"


def load_runtime(settings: Settings):
    """openwakeword.model.Model for one head with exactly the given feature and VAD models (0.4.x or 0.5+)."""
    try:
        import openwakeword
        from openwakeword.model import Model
    except ImportError as error:
        raise SettingsError(f"openwakeword is not installed or incomplete ({error}): pip install -r "
                            "requirements-pi.txt.") from error
    accepted = inspect.signature(Model.__init__).parameters
    with warnings.catch_warnings():  # 0.4.0 asks onnxruntime for CUDA first and warns on every CPU-only machine
        warnings.simplefilter("ignore", UserWarning)
        if "wakeword_model_paths" in accepted:  # 0.4.x: feature model paths go through to AudioFeatures
            model = Model(wakeword_model_paths=[str(settings.model)], vad_threshold=0,
                          melspec_onnx_model_path=str(settings.melspec),
                          embedding_onnx_model_path=str(settings.embedding))
        else:  # 0.5+/0.6: the feature models are not in its wheel; onnx needs no tflite-runtime
            model = Model(wakeword_models=[str(settings.model)], inference_framework="onnx", vad_threshold=0,
                          melspec_model_path=str(settings.melspec), embedding_model_path=str(settings.embedding))
        if settings.vad_threshold > 0:
            # Both versions build the VAD from a fixed path inside their wheel (0.6.0's has none): give it ours.
            model.vad_threshold = settings.vad_threshold
            model.vad = openwakeword.VAD(model_path=str(settings.vad_model))
    if len(model.models) != 1:
        raise SettingsError(f"openWakeWord loaded {list(model.models)} instead of one model from {settings.model}.")
    return model
