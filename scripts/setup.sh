#!/usr/bin/env bash
# Idempotent set-up on Debian/Ubuntu: system packages, the .venv, and the pinned Python stack.
# Usage: bash scripts/setup.sh        (then: . .venv/bin/activate)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,3p' "$0" | sed 's/^# //'
  exit 0
fi

# espeak-ng: the offline Spanish voices; sox: audio conversion; shellcheck: the script tests; git: DVC needs it.
system_packages=(espeak-ng sox shellcheck git python3-venv)
missing=()
for package in "${system_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
stamp=.venv/.requirements.sha256
# constraints.txt pins every transitive package too (numpy, scipy, ...): the same data hashes from a fresh clone
wanted=$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "setup: installing Python requirements into .venv (first time: a few minutes)" >&2
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt \
    2> >(grep -v "^WARNING: Location" >&2)
  echo "$wanted" > "$stamp"
fi
echo "setup: ready (.venv/bin/python, .venv/bin/dvc)" >&2
