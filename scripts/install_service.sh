#!/usr/bin/env bash
# Install the wake word listener as a systemd service that starts at boot.
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME [options] [-- LISTENER_ARGS...]

Renders deploy/puertocho.service.in for this checkout and installs it as
/etc/systemd/system/NAME.service, then enables and starts it (sudo needed).
The service runs scripts/listen.sh (python -m puertocho.listen) with the
settings pi_pull.sh put in models/, plus LISTENER_ARGS, for example:
  $SCRIPT_NAME -- --device USB --on-detect '/home/pi/bin/lights-on'

Options:
  --user USER     account the service runs as (default: $(id -un)); it must
                  be in the 'audio' group to open the microphone
  --name NAME     unit name (default: puertocho)
  --print         print the rendered unit on stdout and install nothing
  --dry-run       print the commands instead of running them
  -h, --help      show this help

Afterwards: systemctl status puertocho; journalctl -u puertocho -f
USAGE
}

# One argument as systemd's ExecStart reads it: double-quoted, with \\ \" escaped and
# \$ and % doubled (systemd expands \$VAR and %-specifiers itself).
systemd_quote() {
    local arg="$1"
    arg="${arg//\\/\\\\}"
    arg="${arg//\"/\\\"}"
    arg="${arg//\$/\$\$}"
    arg="${arg//%/%%}"
    printf ' "%s"' "$arg"
}

SERVICE_USER="$(id -un)"
NAME="puertocho"
PRINT=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --print) PRINT=1; shift ;;
        --user) need_value "$1" "$#" "${2:-}"; SERVICE_USER="$2"; shift 2 ;;
        --name) need_value "$1" "$#" "${2:-}"; NAME="$2"; shift 2 ;;
        --) shift; break ;;
        *) usage_error "unknown option: $1 (listener arguments go after --)" ;;
    esac
done
[[ "$NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || usage_error "unit name '$NAME' must be letters, digits, '_', '.' or '-'"

ARGS=""
for arg in "$@"; do
    ARGS+="$(systemd_quote "$arg")"
done
TEMPLATE="$REPO_ROOT/deploy/puertocho.service.in"
[[ -f "$TEMPLATE" ]] || die "$TEMPLATE not found."
# Values go through the environment: awk -v would interpret the backslashes systemd_quote wrote.
UNIT="$(UNIT_REPO="$REPO_ROOT" UNIT_USER="$SERVICE_USER" UNIT_ARGS="$ARGS" awk '
    function put(line, key, value,    i) {
        while ((i = index(line, key)) > 0) { line = substr(line, 1, i - 1) value substr(line, i + length(key)) }
        return line
    }
    { print put(put(put($0, "@REPO@", ENVIRON["UNIT_REPO"]), "@USER@", ENVIRON["UNIT_USER"]), "@ARGS@",
                ENVIRON["UNIT_ARGS"]) }' "$TEMPLATE")"

if [[ "$PRINT" == 1 ]]; then
    printf '%s\n' "$UNIT"
    exit 0
fi
[[ -x "$REPO_ROOT/.venv/bin/python" ]] || die "no venv in $REPO_ROOT/.venv: python3 -m venv .venv && .venv/bin/pip install -r requirements-pi.txt"
require_command systemctl "This needs a systemd system (Raspberry Pi OS has it)."
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    SUDO=(sudo)
fi
TARGET="/etc/systemd/system/$NAME.service"
log "Installing $TARGET (runs as $SERVICE_USER)"
if [[ "$DRY_RUN" == 1 ]]; then
    print_cmd "${SUDO[@]}" tee "$TARGET"
else
    printf '%s\n' "$UNIT" | "${SUDO[@]}" tee "$TARGET" >/dev/null
fi
run "${SUDO[@]}" systemctl daemon-reload
run "${SUDO[@]}" systemctl enable --now "$NAME.service"
done_msg "Installed and started. Follow it: journalctl -u $NAME -f"
