#!/usr/bin/env bash
# Installs missing Debian packages (PostgreSQL, curl, venv), sets up .venv with the test tools and runs the whole test suite (lint included).
# Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/system-deps.sh"
"$root/scripts/setup.sh" test
cd "$root"
.venv/bin/ruff check src tests bench
exec .venv/bin/python -m pytest -n 2 "$@"
