#!/usr/bin/env bash
# On the T4 instance: check the NVIDIA driver and CUDA, install the project
# (scripts/setup.sh), make the GCS bucket the default DVC remote and run the
# quick test suite.
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME [options]

Run on the training instance, in the repository:
  1. checks the NVIDIA driver and CUDA with nvidia-smi (stops if there is none);
  2. runs scripts/setup.sh (system packages, .venv, requirements.txt);
  3. checks that PyTorch sees the GPU;
  4. makes "gcs" the default DVC remote (in .dvc/config.local, so git stays clean)
     and, with --bucket, points it at gs://BUCKET/puertocho;
  5. runs the quick test suite (pytest -m "not slow").

Options:
  --bucket NAME   the GCS bucket made by setup_gcloud.sh (sets the gcs remote url)
  --remote NAME   DVC remote to make the default (default: gcs)
  --skip-tests    do not run the quick test suite
  --dry-run       print every command instead of running it
  -h, --help      show this help

The nvidia-smi check is made even with --dry-run: without a driver nothing else makes sense.

Environment: PUERTOCHO_PYTHON (default .venv/bin/python), PUERTOCHO_DVC (default .venv/bin/dvc).
USAGE
}

BUCKET=""
REMOTE="gcs"
SKIP_TESTS=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --bucket) need_value "$1" "$#" "${2:-}"; BUCKET="${2#gs://}"; BUCKET="${BUCKET%%/*}"; shift 2 ;;
        --remote) need_value "$1" "$#" "${2:-}"; REMOTE="$2"; shift 2 ;;
        --skip-tests) SKIP_TESTS=1; shift ;;
        *) usage_error "unexpected argument: $1" ;;
    esac
done

cd "$REPO_ROOT"

# --- 1. Driver and CUDA ----------------------------------------------------
log "[1/5] NVIDIA driver and CUDA"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    die "No NVIDIA driver found: nvidia-smi is not on PATH. Use a GPU instance made by scripts/setup_gcloud.sh (Deep Learning VM image with install-nvidia-driver=True); on a fresh instance the driver installs on first boot, wait a few minutes or run 'sudo /opt/deeplearning/install-driver.sh'."
fi
if [[ "$DRY_RUN" == 1 ]]; then
    print_cmd nvidia-smi
    print_cmd nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
else
    if ! smi_out="$(nvidia-smi 2>&1)"; then
        die "No NVIDIA driver found: nvidia-smi failed: ${smi_out:-no output}. Reboot the instance or reinstall the driver ('sudo /opt/deeplearning/install-driver.sh')."
    fi
    cuda_version="$(sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' <<<"$smi_out" | head -n 1)"
    [[ -n "$cuda_version" ]] || die "nvidia-smi runs but reports no CUDA version; the NVIDIA driver looks broken:
$smi_out"
    gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
    printf 'GPU: %s\nCUDA (driver): %s\n' "$gpu" "$cuda_version"
fi

# --- 2. Project set-up -----------------------------------------------------
log "[2/5] scripts/setup.sh (system packages, .venv, requirements.txt)"
if [[ ! -f scripts/setup.sh ]]; then
    msg="scripts/setup.sh not found in $REPO_ROOT: run this script from a clone of the repository."
    if [[ "$DRY_RUN" == 1 ]]; then warn "(dry-run) $msg"; else die "$msg"; fi
fi
run bash scripts/setup.sh

# --- 3. PyTorch sees the GPU -----------------------------------------------
log "[3/5] PyTorch and CUDA"
run "$PUERTOCHO_PYTHON" -c 'import torch; assert torch.cuda.is_available(), "torch.cuda.is_available() is False"; print("torch", torch.__version__, "CUDA", torch.version.cuda, "on", torch.cuda.get_device_name(0))' \
    || die "PyTorch in .venv cannot use the GPU (driver too old for this torch build?). Check 'nvidia-smi' and 'pip show torch'."

# --- 4. DVC remote ---------------------------------------------------------
log "[4/5] DVC remote '$REMOTE' as the default"
if [[ -n "$BUCKET" ]]; then
    run "$PUERTOCHO_DVC" remote modify --local "$REMOTE" url "gs://$BUCKET/puertocho"
fi
run "$PUERTOCHO_DVC" remote default --local "$REMOTE"
if [[ -z "$BUCKET" ]]; then
    echo "Note: no --bucket given; if the remote url is still the placeholder, set it with:"
    echo "  $PUERTOCHO_DVC remote modify --local $REMOTE url gs://<bucket>/puertocho"
fi
echo "On the instance DVC uses the VM's service account (storage-rw scope); no key file is needed."

# --- 5. Quick tests --------------------------------------------------------
if [[ "$SKIP_TESTS" == 1 ]]; then
    log "[5/5] Quick test suite skipped (--skip-tests)"
else
    log "[5/5] Quick test suite"
    run "$PUERTOCHO_PYTHON" -m pytest -q -m "not slow" tests
fi

log "Training environment ready. Next: bash scripts/run_full_training_pipeline.sh"
