#!/usr/bin/env bash
# Sets up .venv with the test tools and runs the whole test suite (lint included).
# Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" test
cd "$root"
.venv/bin/ruff check src tests bench
exec .venv/bin/python -m pytest -n 2 "$@"
