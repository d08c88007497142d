#!/usr/bin/env bash
# On the Raspberry Pi: dvc pull only what the detector needs, nothing of the training data.
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME [options]

Pulls the deployable model from the DVC remote into models/, and nothing else
(no data/, no checkpoints):
  models/NAME.onnx        the wake word head (openWakeWord input [batch, model.n_frames, 96])
  models/feature_models/  the melspectrogram and embedding models it was trained with
  models/silero_vad.onnx  the VAD model the evaluation gated with (openWakeWord 0.6.0 has none)
  models/NAME.card.json   model card: data, metrics, params, sha256 of every file
  models/NAME.env         settings as evaluated (threshold, VAD, patience, refractory, paths)
NAME is model.name in params.yaml unless --model is given.

Options:
  --model NAME     model name (default: model.name from params.yaml)
  --remote NAME    DVC remote to pull from (dvc pull -r NAME), e.g. gcs;
                   default: the default remote (set it once on the Pi with
                   dvc remote default --local gcs)
  --dry-run        print the commands instead of running them
  -h, --help       show this help

Set-up on the Pi (once): python3 -m venv .venv && .venv/bin/pip install -r requirements-pi.txt
For the GCS remote: dvc remote modify --local gcs url gs://BUCKET/puertocho
(and credentialpath, or application default credentials). Then listen with:
  .venv/bin/python -m puertocho.listen
USAGE
}

# model.name from params.yaml, read with awk so no YAML library is needed.
model_name_from_params() {
    awk '
        /^model:/ { in_model = 1; next }
        /^[^[:space:]#]/ { in_model = 0 }
        in_model && /^[[:space:]]+name:/ {
            sub(/^[[:space:]]+name:[[:space:]]*/, ""); sub(/[[:space:]]*#.*$/, ""); gsub(/["\047]/, "")
            print; exit
        }' "$1"
}

MODEL=""
REMOTE=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --model) need_value "$1" "$#" "${2:-}"; MODEL="$2"; shift 2 ;;
        --remote) need_value "$1" "$#" "${2:-}"; REMOTE="$2"; shift 2 ;;
        *) usage_error "unknown option: $1" ;;
    esac
done

cd "$REPO_ROOT"
if [[ -z "$MODEL" ]]; then
    [[ -f params.yaml ]] || die "params.yaml not found in $REPO_ROOT; pass --model NAME."
    MODEL="$(model_name_from_params params.yaml)"
    [[ -n "$MODEL" ]] || die "no model.name in params.yaml; pass --model NAME."
fi
if [[ ! "$MODEL" =~ ^[A-Za-z0-9_.-]+$ ]]; then
    usage_error "model name '$MODEL' must be letters, digits, '_', '.' or '-'"
fi

# The venv's dvc when there is one, else dvc on PATH.
DVC="$PUERTOCHO_DVC"
if [[ ! -x "$DVC" ]]; then
    DVC="dvc"
fi
require_command "$DVC" "Install it with: pip install -r requirements-pi.txt"

# gcsfs logs a traceback per failed request before dvc's one-line ERROR; keep only dvc's line.
export GCSFS_DEBUG="${GCSFS_DEBUG:-CRITICAL}"

# The same list as puertocho.card.deployable_paths (tests/test_card.py checks it).
TARGETS=("models/$MODEL.onnx" "models/feature_models" "models/silero_vad.onnx" "models/$MODEL.card.json" "models/$MODEL.env")

# The remote must be one this machine can reach: the project's tracked default is the trainer's local folder.
if [[ "$DRY_RUN" != 1 ]]; then
    NAME_FOR_CHECK="$REMOTE"
    if [[ -z "$NAME_FOR_CHECK" ]]; then
        NAME_FOR_CHECK="$("$DVC" remote default 2>/dev/null || true)"
        [[ -n "$NAME_FOR_CHECK" ]] || die "no DVC remote given and no default remote set. Pull from the bucket: $SCRIPT_NAME --remote gcs (or once: dvc remote default --local gcs)."
    fi
    URL="$("$DVC" config "remote.$NAME_FOR_CHECK.url" 2>/dev/null || true)"
    if [[ -n "$URL" && "$URL" != *://* && "$URL" != /* ]]; then
        URL="$REPO_ROOT/.dvc/$URL"  # DVC reads a relative folder remote from the .dvc directory
    fi
    [[ -n "$URL" ]] || die "DVC remote '$NAME_FOR_CHECK' is not configured (dvc remote list). Use --remote gcs, with its bucket set: dvc remote modify --local gcs url gs://BUCKET/puertocho"
    if [[ "$URL" == *YOUR_BUCKET* ]]; then
        die "DVC remote '$NAME_FOR_CHECK' still points at the placeholder $URL. Set your bucket once: dvc remote modify --local $NAME_FOR_CHECK url gs://BUCKET/puertocho"
    fi
    if [[ "$URL" != *://* && ! -d "$URL" ]]; then
        die "DVC remote '$NAME_FOR_CHECK' is the folder $URL, which this machine does not have (it is the trainer's local cache). Pull from the bucket: $SCRIPT_NAME --remote gcs (or once: dvc remote default --local gcs)."
    fi
fi
PULL=("$DVC" pull)
if [[ -n "$REMOTE" ]]; then
    PULL+=(-r "$REMOTE")
fi
if [[ -n "$REMOTE" ]]; then
    log "Pulling model '$MODEL' from remote '$REMOTE'"
else
    log "Pulling model '$MODEL' from the default remote"
fi
run "${PULL[@]}" "${TARGETS[@]}"
done_msg "Pulled: ${TARGETS[*]}"
done_msg "Listen: .venv/bin/python -m puertocho.listen (settings from models/$MODEL.env)"
