#!/usr/bin/env bash
# The main job on embedded defaults: write the harmless test kit and scan it with its list.
# Usage: scripts/demo.sh [OUTDIR]   (default: demo-out/ in the repository)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
out=${1:-$root/demo-out}
hw="$root/.venv/bin/hashwatch"
rm -rf "$out/kit"
"$hw" testkit "$out/kit"
echo "== scanning $out/kit with the kit's list of originals (scan cache: $out/cache.sqlite)"
status=0
"$hw" scan --cache "$out/cache.sqlite" --list "$out/kit/testkit-list.csv" "$out/kit" || status=$?
case $status in
  1) echo "== demo: matches found, as expected (exit status 1 = found, like clamscan)";;
  0) echo "== demo: NOTHING found: the engine is not working" >&2; exit 1;;
  *) echo "== demo: the scan failed with status $status" >&2; exit "$status";;
esac
