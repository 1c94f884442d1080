#!/usr/bin/env bash
# Schemathesis over /api/openapi.json with every check: starts the binary on a free port with a
# fresh SQLite file and the embedded backends, logs in with the dev code, runs a bounded number
# of examples per operation, and stops the server.
#   LIVEROOM_BIN   the binary to run (default: target/debug/liveroom under CARGO_TARGET_DIR)
#   ST_EXAMPLES    examples per operation (default 25)
#   ST_TIMEOUT     bound of each schemathesis run, seconds (default 600)
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${LIVEROOM_BIN:-${CARGO_TARGET_DIR:-target}/debug/liveroom}
[ -x "$BIN" ] || { echo "schemathesis: no binary at $BIN" >&2; exit 1; }
if ! command -v schemathesis >/dev/null; then
  echo "installing schemathesis with pip"
  python3 -m pip install --quiet schemathesis
fi

DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
SERVER=""
stop() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap stop EXIT

LIVEROOM_ENV=dev \
LIVEROOM__DATABASE__URL="sqlite://$DATA/liveroom.db?mode=rwc" \
LIVEROOM__SERVER__HOST=127.0.0.1 \
LIVEROOM__SERVER__PORT=$PORT \
  "$BIN" >"$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 60); do
  curl -fsS "$BASE/api/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
  sleep 1
done
curl -fsS "$BASE/api/health" >/dev/null || { echo "schemathesis: the server did not start" >&2; cat "$DATA/server.log" >&2; exit 1; }

# The admin (config default), so the admin paths are reached too.
PHONE=13141150122
curl -fsS -X POST "$BASE/api/auth/sms" -H 'content-type: application/json' -d "{\"phone\": \"$PHONE\"}" >/dev/null
TOKEN=$(curl -fsS -X POST "$BASE/api/auth/login" -H 'content-type: application/json' \
  -d "{\"phone\": \"$PHONE\", \"code\": \"1000\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

# The settings (per-operation statuses that the schema cannot express) are in schemathesis.toml.
# Logout ends the session the other operations use, so it runs alone, last.
st() {
  timeout -k 10 "${ST_TIMEOUT:-600}" schemathesis --config-file tests/schemathesis/schemathesis.toml run "$BASE/api/openapi.json" \
    -H "Authorization: Bearer $TOKEN" \
    --checks all \
    --max-examples "${ST_EXAMPLES:-25}" \
    --workers 1 \
    --seed "${ST_SEED:-1}" \
    --no-color "$@"
}
status=0
st --exclude-path /api/auth/logout || status=$?
st --include-path /api/auth/logout || status=$?
if [ "$status" != 0 ]; then
  echo "schemathesis found problems (server log: last lines below)" >&2
  tail -n 20 "$DATA/server.log" >&2
fi
exit "$status"
