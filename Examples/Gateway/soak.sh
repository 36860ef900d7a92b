#!/usr/bin/env bash
# make soak-gateway: 50 concurrent calls, round after round, for SOAK_MINUTES (30) through one gateway; prints the
# gateway's RSS after each round. Memory must not grow: the last rounds' RSS against the first rounds' after warm-up.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
cleanup() { kill "$model" "$gateway" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
echo '{"type":"realtime"}' > "$work/session.json"
"$bin/gateway-harness" model --port 9330 --reply "$root/samples/speech-24k.wav" >/dev/null &
model=$!
GATEWAY_SHARED_SECRET=soak "$bin/realtime-gateway" --port 9331 --realtime-url ws://127.0.0.1:9330/v1/realtime \
    --session "$work/session.json" --log-level error &
gateway=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:9331/health >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9330) 2>/dev/null && break; sleep 0.1; done
end=$(( $(date +%s) + ${SOAK_MINUTES:-30} * 60 ))
round=0
echo "| round | minutes | calls | starved ticks | closed early | gateway RSS (KiB) |"
echo "|---:|---:|---:|---:|---:|---:|"
start=$(date +%s)
while [ "$(date +%s)" -lt "$end" ]; do
    round=$((round + 1))
    out=$("$bin/gateway-harness" load --gateway ws://127.0.0.1:9331/media --wav "$root/samples/call-8k-ulaw.wav" \
        --secret soak --calls "${SOAK_CALLS:-50}" --tail 9 --ramp 0.02)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")
    echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("| %s | %.1f | %d | %d | %d | %s |" % (sys.argv[1], int(sys.argv[2]) / 60, r["calls"], r["starved_ticks"], r["closed_early"], sys.argv[3]))
' "$round" "$(( $(date +%s) - start ))" "$rss"
done
