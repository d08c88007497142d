#!/usr/bin/env bash
# Follow a training run: GPU use, the end of logs/training.log and the latest
# epoch and metrics that dvclive wrote to dvclive/metrics.json.
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME [options]

Shows, once or every N seconds:
  * GPU use (nvidia-smi: utilization, memory, temperature);
  * the last lines of logs/training.log;
  * the current epoch and metrics from dvclive/metrics.json.

Options:
  --watch N        repeat every N seconds until Ctrl-C
  --lines N        lines of the log to show (default: 15)
  --log FILE       training log (default: logs/training.log)
  --metrics FILE   dvclive metrics (default: dvclive/metrics.json)
  --dry-run        print the commands instead of running them
  -h, --help       show this help

For curves, TensorBoard: .venv/bin/tensorboard --logdir logs/tensorboard --bind_all
(port 6006), and "dvc exp show" / "dvc plots show" to compare runs.
USAGE
}

WATCH=0
LINES=15
LOG_FILE="logs/training.log"
METRICS_FILE="dvclive/metrics.json"
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --watch) need_value "$1" "$#" "${2:-}"; WATCH="$2"; shift 2 ;;
        --lines) need_value "$1" "$#" "${2:-}"; LINES="$2"; shift 2 ;;
        --log) need_value "$1" "$#" "${2:-}"; LOG_FILE="$2"; shift 2 ;;
        --metrics) need_value "$1" "$#" "${2:-}"; METRICS_FILE="$2"; shift 2 ;;
        *) usage_error "unexpected argument: $1" ;;
    esac
done
[[ "$WATCH" =~ ^[0-9]+$ ]] || usage_error "--watch needs a whole number of seconds (got '$WATCH')"
[[ "$LINES" =~ ^[0-9]+$ && "$LINES" -gt 0 ]] || usage_error "--lines needs a positive whole number (got '$LINES')"

cd "$REPO_ROOT"

# Python for reading the JSON: the project's, else the system's.
PY="$PUERTOCHO_PYTHON"
if [[ ! -x "$PY" ]] && ! command -v "$PY" >/dev/null 2>&1; then
    PY="python3"
fi

# dvclive/metrics.json: {"step": epoch, "train": {"loss": ...}, "val": {...}}
# printed as "epoch: N" and one "name: value" line per (flattened) metric.
SHOW_METRICS_PY='
import json, sys
with open(sys.argv[1]) as f:
    data = json.load(f)
def flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + "/")
        else:
            yield prefix + k, v
items = dict(flat(data))
print("epoch (dvclive step, from 0):", items.pop("step", "?"))
for k, v in sorted(items.items()):
    print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
'

show_once() {
    printf '=== %s ===\n' "$(date '+%Y-%m-%d %H:%M:%S')"

    echo "--- GPU"
    if command -v nvidia-smi >/dev/null 2>&1 || [[ "$DRY_RUN" == 1 ]]; then
        run nvidia-smi --query-gpu=name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw \
            --format=csv || echo "(nvidia-smi failed)"
    else
        echo "(nvidia-smi not found: no NVIDIA GPU on this machine)"
    fi

    echo "--- $LOG_FILE (last $LINES lines)"
    if [[ "$DRY_RUN" == 1 || -f "$LOG_FILE" ]]; then
        run tail -n "$LINES" "$LOG_FILE"
    else
        echo "(not written yet: the training has not started)"
    fi

    echo "--- $METRICS_FILE"
    if [[ "$DRY_RUN" == 1 ]]; then
        print_cmd "$PY" -c '<print step and metrics>' "$METRICS_FILE"
    elif [[ -f "$METRICS_FILE" ]]; then
        "$PY" -c "$SHOW_METRICS_PY" "$METRICS_FILE" 2>/dev/null || cat "$METRICS_FILE"
    else
        echo "(no metrics yet: dvclive writes them at the end of each epoch)"
    fi
}

if [[ "$WATCH" -gt 0 && "$DRY_RUN" != 1 ]]; then
    while true; do
        if [[ -t 1 ]]; then clear; fi
        show_once
        printf '\n(refreshing every %ss, Ctrl-C to stop)\n' "$WATCH"
        sleep "$WATCH"
    done
else
    show_once
fi
