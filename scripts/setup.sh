#!/usr/bin/env bash
# Creates .venv (if missing) and installs hashwatch into it; with "test", the test tools too.
# Sourced by demo.sh and test.sh; safe to run again (it only installs what changed).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
if [[ ! -x $root/.venv/bin/python ]]; then
  "$py" -m venv "$root/.venv"
fi
extra=""
[[ ${1:-} == test ]] && extra="[test]"
stamp="$root/.venv/.installed$extra"
if [[ ! -f $stamp || $root/pyproject.toml -nt $stamp ]]; then
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root$extra"
  touch "$stamp"
fi
