#!/usr/bin/env bash
# The whole Puertocho training as one command (run it on the T4 instance,
# ideally inside tmux so that an SSH disconnection does not stop it).
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME [options]

Runs the DVC pipeline end to end, in six steps:
  1/6 prerequisites   .venv, dvc, nvidia-smi (without a GPU: a warning, training on CPU);
                      then "dvc pull" of whatever the remote already has (failure: a warning)
  2/6 data            dvc repro generate_positive generate_negative
  3/6 balance report  metrics/data.json (counts per type, negative:positive ratio)
  4/6 training        dvc repro train
  5/6 validation      dvc repro export evaluate
  6/6 summary         dvc metrics show, then "dvc push" of data, model and metrics
On any failure it stops with a non-zero exit status naming the failed step.

Options:
  --no-pull    skip "dvc pull"
  --no-push    skip "dvc push" at the end
  --dry-run    print every command instead of running it
  -h, --help   show this help

Environment: PUERTOCHO_PYTHON (default .venv/bin/python), PUERTOCHO_DVC (default .venv/bin/dvc).
Follow the training from another shell with scripts/monitor_training.sh --watch 30.
USAGE
}

PULL=1
PUSH=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --no-pull) PULL=0; shift ;;
        --no-push) PUSH=0; shift ;;
        *) usage_error "unexpected argument: $1" ;;
    esac
done

cd "$REPO_ROOT"

STEP="start"
START_TIME=$SECONDS
on_exit() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '\n%s: FAILED at step %s (exit status %d).\n' "$SCRIPT_NAME" "$STEP" "$rc" >&2
        printf 'See the output above and logs/training.log; after fixing, run the script again:\n' >&2
        printf 'DVC only re-runs the stages whose inputs changed.\n' >&2
    fi
}
trap on_exit EXIT

step() {
    STEP="$1"
    printf '\n==> [%s] %s\n' "$1" "$(date '+%Y-%m-%d %H:%M:%S')"
}

# --- 1/6 prerequisites -----------------------------------------------------
step "1/6 prerequisites"
missing=()
[[ -x "$PUERTOCHO_PYTHON" ]] || missing+=("python: '$PUERTOCHO_PYTHON' is not an executable")
[[ -x "$PUERTOCHO_DVC" ]] || missing+=("dvc: '$PUERTOCHO_DVC' is not an executable")
[[ -f dvc.yaml ]] || missing+=("dvc.yaml not found in $REPO_ROOT")
if [[ ${#missing[@]} -gt 0 ]]; then
    msg="$(printf '%s; ' "${missing[@]}")run 'bash scripts/setup_training_env.sh' (or scripts/setup.sh) first."
    if [[ "$DRY_RUN" == 1 ]]; then warn "(dry-run) $msg"; else die "$msg"; fi
fi
if command -v nvidia-smi >/dev/null 2>&1; then
    run nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader \
        || warn "nvidia-smi failed: the training may fall back to the CPU (slow)."
else
    warn "nvidia-smi not found: no NVIDIA GPU, the training runs on the CPU (slow)."
fi
if [[ "$PULL" == 1 ]]; then
    echo "Pulling what the DVC remote already has (a first run has nothing to pull)."
    run "$PUERTOCHO_DVC" pull \
        || warn "dvc pull failed or was incomplete; continuing, missing outputs will be regenerated."
fi

# --- 2/6 data ----------------------------------------------------------------
step "2/6 data (positive and negative)"
run "$PUERTOCHO_DVC" repro generate_positive generate_negative

# --- 3/6 balance report --------------------------------------------------------
step "3/6 balance report"
if [[ "$DRY_RUN" != 1 && ! -f metrics/data.json ]]; then
    # The report may come from the features stage.
    echo "metrics/data.json not written by the data stages; running the features stage."
    run "$PUERTOCHO_DVC" repro features
fi
if [[ "$DRY_RUN" != 1 && ! -f metrics/data.json ]]; then
    die "balance report metrics/data.json missing after the data stages."
fi
run "$PUERTOCHO_PYTHON" -m json.tool metrics/data.json

# --- 4/6 training ------------------------------------------------------------
step "4/6 training"
run "$PUERTOCHO_DVC" repro train

# --- 5/6 validation ----------------------------------------------------------
step "5/6 validation (export and evaluate)"
run "$PUERTOCHO_DVC" repro export evaluate

# --- 6/6 summary ---------------------------------------------------------------
step "6/6 summary"
run "$PUERTOCHO_DVC" metrics show
if [[ "$DRY_RUN" != 1 && -f models/puertocho_v1.onnx ]]; then
    echo "Model: models/puertocho_v1.onnx ($(du -h models/puertocho_v1.onnx | cut -f1))"
fi
if [[ "$PUSH" == 1 ]]; then
    STEP="6/6 summary (dvc push)"
    run "$PUERTOCHO_DVC" push
fi

if [[ "$DRY_RUN" == 1 ]]; then
    printf '\n==> Dry run: nothing was run.\n'
    exit 0
fi
elapsed=$((SECONDS - START_TIME))
printf '\n==> Pipeline finished in %dh%02dm.\n' $((elapsed / 3600)) $((elapsed % 3600 / 60))
echo "Next: commit dvc.lock and push to git, then on the Pi: scripts/pi_pull.sh"
echo "Stop paying: bash scripts/gcloud_instance.sh stop (from your computer)"
