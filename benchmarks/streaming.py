"""Streaming detection on one core, as a Pi runs it: openwakeword.model.Model.predict on 80 ms chunks.

The parent picks the head files and starts workers pinned to one core (os.sched_setaffinity before exec, so
every thread they start stays there; onnxruntime sessions with one intra-op thread, as openWakeWord makes
them). One worker times, in the same process and interleaved run by run: our head in Model, openWakeWord's
pretrained hey_jarvis head in Model, the front-end alone (openwakeword.utils.AudioFeatures, the first thing
Model.predict calls), and each head alone on one (1, n_frames, 96) window. Separate workers report peak memory.

    python -m benchmarks.streaming --worker timing --ours H.onnx --reference J.onnx --chunks 250 --repeats 5
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import CHUNK_MS, PI4_SLOWDOWN, Config, median, significant, tool_env

CHUNK = 1280
REFERENCE = "hey_jarvis_v0.1.onnx"


# ---------------------------------------------------------------- worker side (runs pinned to one core)

def _single_thread_env() -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def _quiet_model(paths: list[str]):
    import warnings

    from openwakeword.model import Model
    with warnings.catch_warnings():  # openWakeWord asks for CUDA first and warns on CPU-only machines
        warnings.simplefilter("ignore", UserWarning)
        return Model(wakeword_model_paths=paths)


def _quiet_features():
    import warnings

    from openwakeword.utils import AudioFeatures
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return AudioFeatures()


def worker_timing(args) -> dict:
    import time

    import numpy as np
    import onnxruntime as ort

    from benchmarks.common import test_audio
    audio = test_audio(args.chunks * CHUNK / 16000 + 4.0, seed=2)
    chunks = [audio[i * CHUNK:(i + 1) * CHUNK] for i in range(len(audio) // CHUNK)]
    warmup, timed = chunks[:50], chunks[50:50 + args.chunks]
    detectors = {"ours": _quiet_model([args.ours]), "reference": _quiet_model([args.reference]),
                 "front_end": _quiet_features()}
    calls = {name: (d.predict if name != "front_end" else d) for name, d in detectors.items()}
    for call in calls.values():
        for chunk in warmup:  # fills the buffers; the first predictions are the runtime's start-up
            call(chunk)
    runs: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    block = 25  # 2 s of audio: the three detectors take turns every block, so a slow spell of the machine
    blocks = [timed[start:start + block] for start in range(0, len(timed), block)]  # hits them all alike
    for repeat in range(args.repeats):
        spent = dict.fromkeys(names, 0.0)
        for index, chunk_block in enumerate(blocks):
            turn = (repeat + index) % len(names)
            for name in names[turn:] + names[:turn]:  # rotate: no one always goes first
                call = calls[name]
                started = time.perf_counter()
                for chunk in chunk_block:
                    call(chunk)
                spent[name] += time.perf_counter() - started
        for name in names:
            runs[name].append(spent[name] / len(timed) * 1000)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    head_runs: dict[str, list[float]] = {}
    for name, path in (("ours", args.ours), ("reference", args.reference)):
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        # each head its own input length, as the runtime reads it from the model (ours 24 frames, hey_jarvis 16)
        n_frames = session.get_inputs()[0].shape[1]
        window = np.random.default_rng(0).standard_normal((1, n_frames, 96)).astype(np.float32)
        feed = {session.get_inputs()[0].name: window}
        for _ in range(100):
            session.run(None, feed)
        head_runs[name] = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            for _ in range(args.head_calls):
                session.run(None, feed)
            head_runs[name].append((time.perf_counter() - started) / args.head_calls * 1000)
    return {"affinity": sorted(os.sched_getaffinity(0)), "chunks_per_run": len(timed),
            "ms_per_chunk_runs": runs, "head_alone_ms_runs": head_runs}


def worker_memory(args) -> dict:
    import resource

    import onnxruntime  # noqa: F401  (the baseline includes the runtime's import)
    if args.model == "baseline":
        import openwakeword.model  # noqa: F401
    else:
        from benchmarks.common import test_audio
        model = _quiet_model([args.model])
        audio = test_audio(args.chunks * CHUNK / 16000, seed=3)
        for start in range(0, len(audio) - CHUNK + 1, CHUNK):
            model.predict(audio[start:start + CHUNK])
    hwm = [line.split()[1] for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM")]
    return {"maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "vmhwm_mib": round(int(hwm[0]) / 1024, 1) if hwm else None}


def worker_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming",
                                     description="Worker for the streaming benchmark (started pinned to one core).")
    parser.add_argument("--worker", choices=["timing", "memory"], required=True)
    parser.add_argument("--ours", help="our head (.onnx)")
    parser.add_argument("--reference", help="reference head (.onnx)")
    parser.add_argument("--model", help="memory: a head (.onnx) or 'baseline' (imports only)")
    parser.add_argument("--chunks", type=int, default=250, help="80 ms chunks per timed run")
    parser.add_argument("--head-calls", type=int, default=2000, help="head-alone calls per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    _single_thread_env()
    result = worker_timing(args) if args.worker == "timing" else worker_memory(args)
    print(json.dumps(result))


# ---------------------------------------------------------------- parent side

def our_head(config: Config, folder: Path) -> tuple[Path, str]:
    """models/<model.name>.onnx, or a freshly initialised cnn head exported the same way (same size and cost)."""
    from puertocho.params import load_params
    params = load_params(config.repo / "params.yaml")
    trained = config.repo / "models" / f"{params.model.name}.onnx"
    if trained.exists():
        return trained, f"trained head {trained.relative_to(config.repo)}"
    import torch

    from puertocho.export import export_onnx
    from puertocho.heads import build_head
    torch.manual_seed(0)
    model = dataclasses.replace(params.model, head="cnn")
    path = folder / f"{params.model.name}.onnx"
    export_onnx(build_head(model).eval(), path, model.n_frames, model.embedding_dim)
    return path, (f"untrained cnn head (models/{params.model.name}.onnx does not exist): freshly initialised, "
                  "exported with puertocho.export.export_onnx; same size and cost as a trained one")


def _one_core() -> int:
    return max(os.sched_getaffinity(0))


def _worker(arguments: list[str], core: int) -> dict:
    # Through a shell that forks it: a process exec'd straight from this one starts with this process's peak RSS
    # in its ru_maxrss (Linux carries it across fork and exec), which would hide the detector's own peak.
    command = ["sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-m", "benchmarks.streaming", *arguments]
    result = subprocess.run(command, cwd=str(Path(__file__).resolve().parents[1]), env=tool_env(OMP_NUM_THREADS="1"),
                            capture_output=True, text=True, preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _file_size(path: Path) -> int:
    extra = path.with_name(path.name + ".data")  # external weights, if an exporter ever writes them
    return path.stat().st_size + (extra.stat().st_size if extra.exists() else 0)


def run(config: Config) -> dict:
    from puertocho.features import resource_path
    with tempfile.TemporaryDirectory(prefix="puertocho-bench-") as folder:
        ours, note = our_head(config, Path(folder))
        reference = resource_path(REFERENCE)
        core = _one_core()
        chunks = 25 if config.quick else 500
        config.log(f"streaming: timing on core {core} ({note})")
        timing = _worker(["--worker", "timing", "--ours", str(ours), "--reference", str(reference),
                          "--chunks", str(chunks), "--head-calls", "50" if config.quick else "5000",
                          "--repeats", str(config.repeats)], core)
        config.log("streaming: peak memory")
        memory_chunks = str(25 if config.quick else 250)
        memory = {"ours": _worker(["--worker", "memory", "--model", str(ours), "--chunks", memory_chunks], core),
                  "reference": _worker(["--worker", "memory", "--model", str(reference), "--chunks", memory_chunks], core),
                  "baseline_imports": _worker(["--worker", "memory", "--model", "baseline"], core)}
        sizes = {"ours": _file_size(ours), "reference": _file_size(reference)}
    ms = {name: median(values) for name, values in timing["ms_per_chunk_runs"].items()}
    head_ms = {name: median(values) for name, values in timing["head_alone_ms_runs"].items()}
    front = ms["front_end"]
    result = {
        "our_head": note, "reference_head": REFERENCE, "core": core, "worker_affinity": timing["affinity"],
        "chunks_per_run": timing["chunks_per_run"], "chunk_ms": CHUNK_MS,
        "ms_per_chunk": {name: round(v, 4) for name, v in ms.items()},
        "ms_per_chunk_runs": {name: [round(x, 4) for x in v] for name, v in timing["ms_per_chunk_runs"].items()},
        "head_alone_ms": {name: significant(v) for name, v in head_ms.items()},
        "head_alone_ms_runs": {name: [significant(x) for x in v] for name, v in timing["head_alone_ms_runs"].items()},
        "ours_vs_reference_ratio": significant(ms["ours"] / ms["reference"]),
        "head_alone_vs_reference_ratio": significant(head_ms["ours"] / head_ms["reference"]),
        # What our head adds to the front-end's cost per chunk: measured alone, and as Model minus front-end.
        "head_share_of_front_end": significant(head_ms["ours"] / front),
        "model_minus_front_end_ms": round(ms["ours"] - front, 4),
        "real_time_cpu_share": {name: significant(v / CHUNK_MS) for name, v in ms.items()},
        "onnx_bytes": sizes,
        "peak_rss_mib": {name: m["maxrss_mib"] for name, m in memory.items()},
        "pi4_estimate": {
            "assumption": f"a Pi 4 core is {PI4_SLOWDOWN[0]:g}-{PI4_SLOWDOWN[1]:g}x slower than one core here "
                          "(assumed, not measured)",
            "ms_per_chunk": [round(ms["ours"] * k, 2) for k in PI4_SLOWDOWN],
            "real_time_cpu_share": [round(ms["ours"] * k / CHUNK_MS, 4) for k in PI4_SLOWDOWN],
        },
    }
    return result


def rows(result: dict) -> list[tuple[str, str, object, str]]:
    ms, share = result["ms_per_chunk"], result["real_time_cpu_share"]
    pi = result["pi4_estimate"]
    return [
        ("streaming", "Model + our head (1 core)", ms["ours"], "ms per 80 ms chunk"),
        ("streaming", "Model + hey_jarvis (1 core)", ms["reference"], "ms per 80 ms chunk"),
        ("streaming", "ours / hey_jarvis", result["ours_vs_reference_ratio"], "ratio"),
        ("streaming", "front-end alone (AudioFeatures)", ms["front_end"], "ms per 80 ms chunk"),
        ("streaming", "our head alone, one window", result["head_alone_ms"]["ours"], "ms per call"),
        ("streaming", "hey_jarvis head alone", result["head_alone_ms"]["reference"], "ms per call"),
        ("streaming", "our head / front-end", round(100 * result["head_share_of_front_end"], 3), "%"),
        ("streaming", "Model - front-end (our head + glue)", result["model_minus_front_end_ms"], "ms per chunk"),
        ("streaming", "real-time CPU share, ours", round(100 * share["ours"], 3), "% of one core"),
        ("streaming", "real-time CPU share, hey_jarvis", round(100 * share["reference"], 3), "% of one core"),
        ("streaming", "ONNX size, ours", round(result["onnx_bytes"]["ours"] / 1024, 1), "KiB"),
        ("streaming", "ONNX size, hey_jarvis", round(result["onnx_bytes"]["reference"] / 1024, 1), "KiB"),
        ("streaming", "peak RSS, detector with our head", result["peak_rss_mib"]["ours"], "MiB"),
        ("streaming", "peak RSS, detector with hey_jarvis", result["peak_rss_mib"]["reference"], "MiB"),
        ("streaming", "peak RSS, imports only", result["peak_rss_mib"]["baseline_imports"], "MiB"),
        ("streaming", "Pi 4 estimate (assumed 4-6x slower core)",
         f"{pi['ms_per_chunk'][0]:g}-{pi['ms_per_chunk'][1]:g}", "ms per chunk"),
        ("streaming", "Pi 4 estimate, CPU share",
         f"{100 * pi['real_time_cpu_share'][0]:.1f}-{100 * pi['real_time_cpu_share'][1]:.1f}", "% of one core"),
    ]


if __name__ == "__main__":
    worker_main()
