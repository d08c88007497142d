#!/usr/bin/env bash
# On the Pi: put the reviewed house clips under DVC and push them, for the next training run.
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME --remote NAME [options]

Tracks the folder python -m puertocho.review filled (default recordings/house:
wake_word/, not_wake_word/, reviewed.csv) with DVC, pushes its files to the
remote, and commits the small recordings/house.dvc pointer to git. Push that
commit (git push) so the trainer's clone can dvc pull the clips. For training,
params.yaml takes:
  data.local_positive_dir: recordings/house/wake_word
  data.local_negative_dir: recordings/house/not_wake_word

Options:
  --remote NAME   DVC remote to push to (e.g. gcs)
  --dir DIR       the reviewed folder (default: recordings/house)
  --no-commit     stage the .dvc file in git but do not commit
  --dry-run       print the commands instead of running them
  -h, --help      show this help
USAGE
}

REMOTE=""
DIR="recordings/house"
COMMIT=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --remote) need_value "$1" "$#" "${2:-}"; REMOTE="$2"; shift 2 ;;
        --dir) need_value "$1" "$#" "${2:-}"; DIR="${2%/}"; shift 2 ;;
        --no-commit) COMMIT=0; shift ;;
        *) usage_error "unknown option: $1" ;;
    esac
done
[[ -n "$REMOTE" ]] || usage_error "--remote NAME is required (the bucket's remote, e.g. --remote gcs)"

cd "$REPO_ROOT"
if [[ "$DRY_RUN" != 1 ]]; then
    [[ -d "$DIR/wake_word" || -d "$DIR/not_wake_word" ]] || die "$DIR has no wake_word/ or not_wake_word/ folder: review the clips first (python -m puertocho.review CLIPS_DIR --out $DIR)."
fi
DVC="$PUERTOCHO_DVC"
if [[ ! -x "$DVC" ]]; then
    DVC="dvc"
fi
require_command "$DVC" "Install it with: pip install -r requirements-pi.txt"
export GCSFS_DEBUG="${GCSFS_DEBUG:-CRITICAL}"

log "Tracking $DIR with DVC"
run "$DVC" add "$DIR"
log "Pushing $DIR to remote '$REMOTE'"
run "$DVC" push -r "$REMOTE" "$DIR.dvc"
run git add "$DIR.dvc" "$(dirname "$DIR")/.gitignore"
if [[ "$COMMIT" == 1 ]]; then
    run git commit -m "House clips: $DIR" -- "$DIR.dvc" "$(dirname "$DIR")/.gitignore"
fi
done_msg "Pushed. Now git push, and on the trainer: git pull && dvc pull $DIR.dvc"
