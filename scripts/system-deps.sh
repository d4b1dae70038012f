#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing: Python's venv,
# curl (the tested walkthrough script), a PostgreSQL server (tests/pgserver.py starts a
# throwaway cluster with its initdb), chromium (the dashboard's browser tests drive it
# with Playwright) and unar (a free RAR reader: RAR archives are opened only where such a
# tool exists, and the tests read them through it). Does nothing when all are present.
set -euo pipefail
need=()
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need+=(python3 python3-venv python3-pip)
fi
command -v curl >/dev/null || need+=(curl)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  need+=(postgresql)
fi
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
command -v unar >/dev/null || command -v unrar >/dev/null || need+=(unar)
((${#need[@]})) || exit 0
if ! command -v apt-get >/dev/null; then
  echo "please install: ${need[*]} (no apt-get here)" >&2
  exit 1
fi
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "installing Debian packages: ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
