#!/usr/bin/env bash
# A newcomer's first run of the management server, with curl as the agent: init a server on
# SQLite in a temporary directory, run it on loopback, make an enrolment token, enrol,
# heartbeat, post a (synthetic) incident twice, sign in and see it in the queue.
# Usage: scripts/server-walkthrough.sh [PORT]       (the test suite runs it)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
hw="$root/.venv/bin/hashwatch"
py="$root/.venv/bin/python"
port=${1:-8765}
URL="http://127.0.0.1:$port"
work=$(mktemp -d)
trap 'kill "$server_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
json() { "$py" -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== init (SQLite in $work/srv)"
printf 'walkthrough-password-%s\n' "$RANDOM$RANDOM" > "$work/pw"
"$hw" server init --data-dir "$work/srv" --admin-password-file "$work/pw"

echo "== run on $URL"
"$hw" server run --data-dir "$work/srv" --port "$port" --log-level warning &
server_pid=$!
for _ in $(seq 100); do curl -fs "$URL/api/v1/health" >/dev/null && break; sleep 0.2; done

echo "== enrolment token, enrol"
TOKEN=$("$hw" server token --data-dir "$work/srv" --uses 1 --expires 1h 2>/dev/null)
enrol=$(curl -fs -X POST "$URL/api/v1/agent/enroll" -H 'Content-Type: application/json' \
  -d "{\"token\": \"$TOKEN\", \"hostname\": \"WALKTHROUGH-PC\", \"os\": \"Linux\"}")
AGENT=$(echo "$enrol" | json '["token"]')
echo "device $(echo "$enrol" | json '["device_id"]')"

echo "== heartbeat"
curl -fs -X POST "$URL/api/v1/agent/heartbeat" -H "Authorization: Bearer $AGENT" \
  -H 'Content-Type: application/json' -d '{"status": "ok", "queue_depth": 1}'; echo

echo "== incident (synthetic), sent twice: stored once"
id=$("$py" -c 'import uuid; print(uuid.uuid4())')
cat > "$work/batch.json" <<JSON
{"incidents": [{"id": "$id", "detected_at": "2026-11-21T23:14:05+01:00", "trigger": "removable",
 "host": {"hostname": "WALKTHROUGH-PC", "os_user": "demo"},
 "file": {"path": "/media/demo/SYNTHETIC/testkit-001.png", "size": 1234,
          "sha256": "$(printf 'a%.0s' $(seq 64))",
          "volume": {"kind": "removable", "label": "SYNTHETIC"}},
 "match": {"signal_type": "sha256", "signal": "$(printf 'a%.0s' $(seq 64))",
           "list": "hashwatch-testkit", "entry_id": "1"},
 "context": {"online": false}}]}
JSON
for _ in 1 2; do
  curl -fs -X POST "$URL/api/v1/agent/incidents" -H "Authorization: Bearer $AGENT" \
    -H 'Content-Type: application/json' -d @"$work/batch.json"; echo
done

echo "== sign in, the incident queue"
curl -fs -c "$work/jar" -X POST "$URL/api/v1/session" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$(cat "$work/pw")\"}" >/dev/null
queue=$(curl -fs -b "$work/jar" "$URL/api/v1/incidents")
echo "$queue" | json '["incidents"][0]["id"]'
test "$(echo "$queue" | json '["total"]')" = 1
echo "== walkthrough OK: incident $id arrived once"
