# shellcheck shell=bash
# Shared helpers for the Google Cloud scripts (sourced, never executed).
#   run CMD...      runs CMD, or with DRY_RUN=1 prints it as "+ CMD" instead.
#   die MSG         error on stderr, exit 1.
#   usage_error MSG error on stderr with a pointer to --help, exit 2.
#   need_value OPT VALUE   used by the option parsers for "--opt VALUE".

DRY_RUN="${DRY_RUN:-0}"
SCRIPT_NAME="$(basename "$0")"

# The repository root (scripts/..), where every script works; used by the
# scripts that source this file.
# shellcheck disable=SC2034
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Tools inside the project virtual environment; tests point these at fakes.
PUERTOCHO_PYTHON="${PUERTOCHO_PYTHON:-.venv/bin/python}"
PUERTOCHO_DVC="${PUERTOCHO_DVC:-.venv/bin/dvc}"

log() { printf '==> %s\n' "$*"; }
# done_msg MSG: a message about what a command did; not printed in dry-run.
done_msg() { if [[ "$DRY_RUN" != 1 ]]; then printf '%s\n' "$*"; fi; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
    exit 1
}
usage_error() {
    printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
    printf 'Run "%s --help" for usage.\n' "$SCRIPT_NAME" >&2
    exit 2
}

# Print a command the way a shell would read it back, prefixed with "+ ".
# Arguments made only of safe characters are printed as they are, others in
# single quotes, so the line can be pasted back into a shell.
print_cmd() {
    local out="+" arg
    for arg in "$@"; do
        if [[ -n "$arg" && "$arg" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
            out+=" $arg"
        else
            out+=" '${arg//\'/\'\\\'\'}'"
        fi
    done
    printf '%s\n' "$out"
}

run() {
    if [[ "$DRY_RUN" == 1 ]]; then
        print_cmd "$@"
        return 0
    fi
    "$@"
}

need_value() {
    # need_value OPTION "$#" VALUE: an option that takes a value got one.
    if [[ "$2" -lt 2 || -z "$3" || "$3" == --* ]]; then
        usage_error "option $1 needs a value"
    fi
}

require_command() {
    # require_command CMD HINT: the command exists (or, in dry-run, a warning).
    if ! command -v "$1" >/dev/null 2>&1; then
        if [[ "$DRY_RUN" == 1 ]]; then
            warn "(dry-run) '$1' not found; a real run would stop here. $2"
            return 0
        fi
        die "'$1' not found. $2"
    fi
}
