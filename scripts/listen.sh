#!/usr/bin/env bash
# Run the wake word listener from any directory: python -m puertocho.listen with this repository's venv.
# Every argument goes to the listener (see scripts/listen.sh --help). The systemd unit runs this script.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PUERTOCHO_PYTHON:-$REPO_ROOT/.venv/bin/python}"
if [[ ! -x "$PYTHON" ]]; then
    printf 'listen.sh: error: %s not found. Create the venv once: cd %s && python3 -m venv .venv && .venv/bin/pip install -r requirements-pi.txt\n' "$PYTHON" "$REPO_ROOT" >&2
    exit 1
fi
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m puertocho.listen "$@"
