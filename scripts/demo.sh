#!/usr/bin/env bash
# The main job on embedded defaults, nothing to start by hand:
#  1. write the harmless test kit and scan it with its list (the engine, as `hashwatch scan`);
#  2. bring up the management server on SQLite with a seeded, clearly synthetic organisation
#     (a few hundred devices, weeks of incidents from the test kit) and serve its dashboard
#     on http://127.0.0.1:8765/ until Ctrl-C. Sign-in details are printed.
# Usage: scripts/demo.sh [--check] [OUTDIR]   (default OUTDIR: demo-out/ in the repository)
#   --check: serve, sign in and fetch the main pages with curl, then stop (for CI and tests).
#   PORT=8080 scripts/demo.sh  to use another port.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
check=""
if [[ ${1:-} == --check ]]; then check=1; shift; fi
"$root/scripts/setup.sh"
out=${1:-$root/demo-out}
port=${PORT:-8765}
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

echo "== the dashboard of a synthetic organisation (SQLite in $out/server)"
if [[ -z $check ]]; then
  exec "$hw" server demo --data-dir "$out/server" --port "$port"
fi
"$hw" server demo --data-dir "$out/server" --seed-only
"$hw" server run --data-dir "$out/server" --port "$port" --workers 1 --log-level warning &
pid=$!
jar=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$jar"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 150); do curl -fs "$url/api/v1/health" >/dev/null && break; sleep 0.2; done
password=$("$root/.venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' \
  "$out/server/demo-credentials.json")
token=$(curl -fs -c "$jar" "$url/login" | sed -n 's/.*name="login_csrf" value="\([^"]*\)".*/\1/p')
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "username=admin" \
  --data-urlencode "password=$password" --data-urlencode "login_csrf=$token" "$url/login"
for page in /incidents /fleet /lists /analytics /settings /takedown /takedown/hosts /takedown/notices /reports/weekly; do
  code=$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$url$page")
  echo "   $page -> $code"
  [[ $code == 200 ]] || { echo "== demo: $page answered $code" >&2; exit 1; }
done
total=$(curl -fs -b "$jar" "$url/api/v1/incidents?limit=1" | "$root/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["total"])')
urls=$(curl -fs -b "$jar" "$url/api/v1/takedown/urls?limit=1" | "$root/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["total"])')
code=$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$url/api/v1/reports/weekly?format=pdf")
[[ $code == 200 ]] || { echo "== demo: the weekly report PDF answered $code" >&2; exit 1; }
echo "== demo OK: the dashboard serves $total incidents and $urls reported URLs of the synthetic organisation"
