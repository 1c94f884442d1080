#!/usr/bin/env bash
# The real-time figures of issue 14, each as a ratio to the bare relay measured in the same run:
# for every case, `runs` rounds of (relay, then Liveroom), the server pinned to core 0 and the
# generator to core 1, medians printed at the end (and every run's JSON kept in $OUT).
#
#   benches/realtime.sh [fanout|small|idle|gifts|all] [runs]     # default: all 3
#
#   fanout: 10,000 viewers x 50 chats/s for 10 s     small: 2,000 viewers x 100 chats/s
#   idle:   15,000 idle viewers (KiB per viewer)
#   gifts:  1,000 viewers, 20 chats/s while 5,000 gifts/s are paid over HTTP (50 users); the
#           relay carries the same 5,020 frames/s to 1,000 viewers. giftsN: N gifts/s instead
#           (gifts500: 500 gifts/s beside the relay at 520 frames/s)
#
# Liveroom runs with embedded backends in a fresh directory, rate limits off; the relay is
# `loadgen --relay` (tokio-tungstenite, one broadcast channel, frames merged per write).
# LIVEROOM_BIN / LOADGEN_BIN override the binaries (e.g. an older build to compare with).
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${1:-all}
RUNS=${2:-3}
TARGET=${CARGO_TARGET_DIR:-target}
if [[ -z "${LIVEROOM_BIN:-}" || -z "${LOADGEN_BIN:-}" ]]; then
  cargo build --release --bin liveroom --bin loadgen >&2
fi
LIVEROOM_BIN=${LIVEROOM_BIN:-$TARGET/release/liveroom}
LOADGEN_BIN=${LOADGEN_BIN:-$TARGET/release/loadgen}
OUT=${OUT:-$(mktemp -d /tmp/realtime.XXXX)}
mkdir -p "$OUT"
RELAY_PORT=18090
LR_PORT=18080
ulimit -n 20000 || true
echo "results in $OUT" >&2

case_args() { # case [relay]
  if [[ $1 == gifts* ]]; then
    local g=${1#gifts}
    g=${g:-5000}
    if [[ ${2:-} == relay ]]; then
      echo "--viewers 1000 --senders 10 --rate $((g + 20)) --duration 10 --workers 2 --grace 5"
    else
      echo "--viewers 1000 --senders 2 --rate 20 --gifts $g --gifters 50 --duration 10 --workers 2 --grace 5"
    fi
    return
  fi
  case $1 in
    fanout) echo "--viewers 10000 --senders 10 --rate 50 --duration 10 --workers 4 --grace 10" ;;
    small) echo "--viewers 2000 --senders 10 --rate 100 --duration 10 --workers 2 --grace 5" ;;
    idle) echo "--viewers 15000 --workers 4 --idle --settle 3" ;;
  esac
}

wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

run_relay() { # case run
  taskset -c 0 "$LOADGEN_BIN" --relay --listen 127.0.0.1:$RELAY_PORT 2>/dev/null &
  local pid=$!
  wait_port $RELAY_PORT
  # shellcheck disable=SC2046
  taskset -c 1 "$LOADGEN_BIN" --bare --addr 127.0.0.1:$RELAY_PORT --server-pid $pid $(case_args "$1" relay) \
    > "$OUT/$1-relay-$2.json" 2> "$OUT/$1-relay-$2.log" || true
  kill $pid; wait $pid 2>/dev/null || true
}

run_liveroom() { # case run
  local dir
  dir=$(mktemp -d /tmp/realtime-lr.XXXX)
  LIVEROOM__SERVER__PORT=$LR_PORT LIVEROOM__LIMITS__ENABLED=false \
    LIVEROOM__DATABASE__URL="sqlite://$dir/lr.db?mode=rwc" LIVEROOM__KV__PATH="$dir/lr.kv" \
    LIVEROOM__SERVER__STATIC_DIR="$PWD/frontend" RUST_LOG=warn \
    taskset -c 0 "$LIVEROOM_BIN" > "$dir/server.log" 2>&1 &
  local pid=$!
  wait_port $LR_PORT
  # shellcheck disable=SC2046
  taskset -c 1 "$LOADGEN_BIN" --addr 127.0.0.1:$LR_PORT --server-pid $pid $(case_args "$1") \
    > "$OUT/$1-liveroom-$2.json" 2> "$OUT/$1-liveroom-$2.log" || true
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$dir"
}

[[ $CASES == all ]] && CASES="fanout small idle gifts"
for c in $CASES; do
  for r in $(seq 1 "$RUNS"); do
    echo "$c run $r: relay" >&2; run_relay "$c" "$r"; sleep 2
    echo "$c run $r: liveroom" >&2; run_liveroom "$c" "$r"; sleep 2
  done
done

python3 - "$OUT" $CASES <<'PY'
import json, statistics, sys, glob, os
out, cases = sys.argv[1], sys.argv[2:]
def load(c, who):
    rs = []
    for f in sorted(glob.glob(f"{out}/{c}-{who}-*.json")):
        try: rs.append(json.load(open(f)))
        except Exception: pass
    return rs
def med(rs, f):
    v = [f(r) for r in rs]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else float('nan')
for c in cases:
    relay, lr = load(c, "relay"), load(c, "liveroom")
    print(f"## {c} (medians of {len(relay)} relay / {len(lr)} Liveroom runs)")
    if c == "idle":
        rows = [("KiB per idle viewer", lambda r: r["kib_per_viewer"]),
                ("connect s", lambda r: r["connect_s"]),
                ("peak RSS MiB", lambda r: r["server_hwm_kib"] / 1024)]
    else:
        rows = [("delivered frames/s (gifts count one each)", lambda r: r["delivered_per_s"]),
                ("frames/s on the wire", lambda r: r.get("wire_frames_per_s", r["delivered_per_s"])),
                ("gifts paid/s", lambda r: r.get("gifts_paid_per_s")),
                ("gift commit-to-viewer p99 ms", lambda r: r.get("gift_latency_ms", {}).get("p99")),
                ("gift request p99 ms", lambda r: r.get("gift_request_ms", {}).get("p99")),
                ("p50 ms", lambda r: r["latency_ms"]["p50"]),
                ("p99 ms", lambda r: r["latency_ms"]["p99"]),
                ("lost frames", lambda r: r["lost_frames"]),
                ("server CPU cores", lambda r: r["server_cpu_cores"]),
                ("peak RSS MiB", lambda r: r["server_hwm_kib"] / 1024)]
    print("| | relay | Liveroom | Liveroom / relay |\n|---|---|---|---|")
    for name, f in rows:
        a, b = med(relay, f), med(lr, f)
        ratio = b / a if a else float('nan')
        print(f"| {name} | {a:,.1f} | {b:,.1f} | {ratio:.2f} |")
    print()
PY
