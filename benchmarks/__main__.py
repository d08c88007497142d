"""python -m benchmarks: run the benchmark sections, print a table and the aims, write metrics/bench.json."""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

from benchmarks import dvc, features, streaming, training, tts
from benchmarks.common import PI4_SLOWDOWN, REPO, Config, system_info

# name -> (run, rows, what it measures); the order is the table's order.
SECTIONS = {
    "tts": (tts.run, tts.rows, "clips per second per TTS engine (espeak, no cache; gtts when online)"),
    "features": (features.run, features.rows,
                 "audio seconds per wall second through openWakeWord's front-end, 1 thread vs all"),
    "training": (training.run, training.rows, "windows/s and s/epoch per head (fc, cnn, gru), CPU and CUDA"),
    "streaming": (streaming.run, streaming.rows,
                  "ms per 80 ms chunk on one core: our head vs hey_jarvis, front-end, head alone, size, memory"),
    "dvc_status": (dvc.run_status, dvc.rows_status, "`dvc status` and a no-op `dvc repro` in this repository"),
    "repro": (dvc.run_repro, dvc.rows_repro,
              "slow: clone HEAD, `dvc repro` from scratch, again (no-op), `dvc exp run` (learning rate)"),
}
DEFAULT = ["tts", "features", "training", "streaming", "dvc_status"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    listing = "\n".join(f"  {name:<11}{'' if name in DEFAULT else '(opt-in) '}{text}"
                        for name, (_, _, text) in SECTIONS.items())
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="What each pipeline stage costs here, and what the detector costs on one core.\n"
                    "Timings are medians of --repeats runs after a warm-up; nothing is asserted.",
        epilog=f"sections:\n{listing}\n\ndefault: {','.join(DEFAULT)}\n\nexamples:\n"
               "  python -m benchmarks\n"
               "  python -m benchmarks --quick --only tts,streaming --repeats 1 --out /tmp/bench.json\n"
               "  python -m benchmarks --only repro            # whole pipeline in a clone: as long as dvc repro")
    parser.add_argument("--only", metavar="SECTION[,SECTION]", default=",".join(DEFAULT),
                        help="comma-separated sections to run (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (seconds, for tests); repro uses the tests' tiny params profile")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "metrics" / "bench.json",
                        help="JSON results (default: metrics/bench.json)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--keep", action="store_true", help="keep the repro section's clone")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown or not args.sections:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    return args


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10000 else f"{value:.4g}"
    return str(value)


def table(rows: list[tuple[str, str, object, str]], markdown: bool) -> str:
    cells = []
    for section, measure, value, unit in rows:
        text = format_value(value)
        if not isinstance(value, (int, float)) and len(text) > 16:  # a status sentence: let it run on
            text, unit = "", f"{text} {unit}".strip()
        cells.append((section, measure, text, unit))
    header = ("section", "measure", "value", "unit")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---|--:|---|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(4)]
    line = lambda r: "  ".join(  # noqa: E731
        r[i].rjust(widths[i]) if i == 2 else r[i].ljust(widths[i]) for i in range(4)).rstrip()
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(c) for c in cells])


def aims(results: dict) -> list[str]:
    """The project's aims with the measured values beside them; no verdicts, no assertions."""
    lines = []
    stream = results.get("streaming")
    if stream and "ms_per_chunk" in stream:
        ms = stream["ms_per_chunk"]
        lines.append(
            f"aim: our head adds < 10% to the front-end's cost per chunk; measured: head alone "
            f"{stream['head_alone_ms']['ours']:.4f} ms = {100 * stream['head_share_of_front_end']:.2f}% of the "
            f"front-end's {ms['front_end']:.3f} ms (Model with our head minus front-end alone: "
            f"{stream['model_minus_front_end_ms']:+.3f} ms; ours / hey_jarvis in Model: "
            f"{stream['ours_vs_reference_ratio']:.3f})")
        low, high = PI4_SLOWDOWN
        lines.append(
            f"aim: the whole detector < 5% of one core in real time; measured: {ms['ours']:.3f} ms per 80 ms chunk"
            f" = {100 * stream['real_time_cpu_share']['ours']:.2f}% of one core here (a Pi 4 core, assumed "
            f"{low:g}-{high:g}x slower: {100 * ms['ours'] * low / 80:.0f}-{100 * ms['ours'] * high / 80:.0f}%)")
    else:
        lines.append("aim: our head adds < 10% to the front-end / detector < 5% of one core: not measured "
                     "(run --only streaming)")
    noop = None
    if "noop_repro_s" in results.get("dvc_status", {}):
        noop = (results["dvc_status"]["noop_repro_s"], "in this repository")
    elif "seconds" in results.get("repro", {}).get("noop_repro", {}):
        noop = (results["repro"]["noop_repro"]["seconds"], "in the repro clone")
    if noop:
        lines.append(f"aim: no-op dvc repro < 5 s; measured: {noop[0]:.2f} s {noop[1]}")
    else:
        lines.append("aim: no-op dvc repro < 5 s: not measured (needs dvc.lock and nothing changed: "
                     "--only dvc_status, or --only repro)")
    return lines


def pi4_lines(results: dict) -> list[str]:
    low, high = PI4_SLOWDOWN
    lines = [f"Pi 4: ASSUMPTION, not a measurement: one Pi 4 core (Cortex-A72) is ~{low:g}-{high:g}x slower "
             "than one core of this CPU."]
    stream = results.get("streaming")
    if stream and "ms_per_chunk" in stream:
        ms = stream["ms_per_chunk"]["ours"]
        lines.append(f"Pi 4: detector ~{ms * low:.1f}-{ms * high:.1f} ms per 80 ms chunk = "
                     f"{100 * ms * low / 80:.0f}-{100 * ms * high / 80:.0f}% of one core "
                     f"(of four: {100 * ms * low / 320:.1f}-{100 * ms * high / 320:.1f}% of the whole CPU); "
                     f"peak memory (~{stream['peak_rss_mib']['ours']:.0f} MiB here) does not shrink with speed "
                     "and differs on aarch64 builds: measure it there.")
    feats = results.get("features", {}).get("threads_1")
    if feats:
        rate = feats["clip_windows"]["audio_seconds_per_second"]
        lines.append(f"Pi 4: feature extraction ~{rate / high:.1f}-{rate / low:.1f} audio s per wall s on one core "
                     "(the pipeline's features stage is meant for the workstation, not the Pi).")
    train = results.get("training", {}).get("devices", {}).get("cpu", {})
    if train:
        epochs = ", ".join(f"{head} {entry['seconds_per_epoch'] * low:.3g}-{entry['seconds_per_epoch'] * high:.3g} s"
                           for head, entry in train.items())
        lines.append(f"Pi 4: one training epoch (on all cores, if the per-core ratio holds): {epochs}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(repeats=args.repeats, quick=args.quick, keep=args.keep)
    meta = system_info(config)
    meta["sections"] = args.sections
    meta["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results: dict = {"meta": meta}
    rows: list = []
    failed = []
    for name in args.sections:
        run, to_rows, _ = SECTIONS[name]
        config.log(f"section {name}")
        started = time.perf_counter()
        try:
            results[name] = run(config)
            rows += to_rows(results[name])
        except Exception as error:  # one broken section must not hide the others' numbers
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
            rows.append((name, "error", f"{type(error).__name__}: {error}", ""))
            failed.append(name)
        results[name]["section_seconds"] = round(time.perf_counter() - started, 1)
    results["aims"] = aims(results)
    results["pi4"] = pi4_lines(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"CPU: {meta['cpu_model']}; os.cpu_count() = {meta['cpu_count']}; load average at start "
          f"{meta['load_average_at_start']}; medians of {args.repeats} run(s) after a warm-up"
          f"{'; QUICK sizes' if args.quick else ''}")
    print(table(rows, args.markdown))
    print()
    for line in results["aims"] + results["pi4"]:
        print(line)
    print(f"\nwrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
