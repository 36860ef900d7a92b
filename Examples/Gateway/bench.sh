#!/usr/bin/env bash
# make bench-gateway: N concurrent calls through realtime-gateway on loopback, the fake carrier and the fake model
# on the same machine (all three share its cores: the figures are for the gateway under that load, not alone).
# Each call: the caller speaks 7.1 s (samples/call-8k-ulaw.wav) in real time, the model answers its turn with
# 7.5 s (samples/speech-24k.wav), the call lasts 16 s. CALLS="1 50 100" picks the loads; TURNS=local runs our
# detector in the gateway instead of the model's; PACED=1 has the model send its replies as real-time-paced 100 ms
# deltas instead of the API's bursts; FORMAT=g711_ulaw runs the session in µ-law both ways (Twilio's samples' choice:
# the caller's bytes pass through, nothing is resampled); STEADY=1 gives each call three turns of the caller, 9 s
# apart, and starts the calls over 16 s instead of 5, so replies play at every phase (about half the calls at a time)
# instead of all at once; FRAME_MS=20 has the gateway send 20 ms frames (a mark after each) instead of its default
# 40; APPEND_MS=20 has it send every caller frame to the model as it comes even while it runs behind (by default it
# then gathers up to 100 ms per append); BIN=DIR runs the binaries in DIR (another build, for a comparison back
# to back); SHED=1 runs the gateway with --refuse-when-overloaded (calls past what the machine keeps on time are
# refused with 503 and counted, instead of every call getting late); FAKES_NICE=19 runs both fakes at that nice value,
# so the gateway gets the CPU first (what it holds when the machine is its own), and the last column says whether the
# fakes still kept their own schedules (the carrier's 20 ms ticks, the model's deltas): a load generator that falls
# behind offers less than the run claims. A fresh gateway for each load, so its RSS
# growth is that load's. The first line says how fast the machine runs at the time (this VM's speed swings up to
# 2x between quarter hours: compare figures only within one run or back to back).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
bin=${BIN:-$(swift build -c release --show-bin-path)}
work=$(mktemp -d)
model_port=${MODEL_PORT:-9310}
gateway_port=${GATEWAY_PORT:-9311}
gateway=
cleanup() { kill "$model" $gateway 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [ "${FORMAT:-pcm16}" = g711_ulaw ]; then
    echo '{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"}}}}' > "$work/session.json"
else
    echo '{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":24000}},"output":{"format":{"type":"audio/pcm","rate":24000}}}}' > "$work/session.json"
fi
"$bin/gateway-harness" model --port "$model_port" --reply "$root/samples/speech-24k.wav" --format "${FORMAT:-pcm16}" ${PACED:+--delta-interval-ms 100} \
    ${FAKES_NICE:+--nice "$FAKES_NICE"} >/dev/null &
model=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$model_port") 2>/dev/null && break; sleep 0.1; done
hz=$(getconf CLK_TCK)
probe=$(for _ in 1 2 3; do { TIMEFORMAT=%R; time awk 'BEGIN { for (i = 0; i < 2e7; i++) s += i * 0.5 }'; } 2>&1; done | sort -n | head -1)
echo "machine speed probe: $probe s for a fixed awk loop, the best of three (lower is faster)"
echo "| calls | frame lateness p99 at the gateway (ms) | underflows | arrival gap at the carrier p50 / p99 / max (ms) | starved ticks | closed early | inbound latency p99 (ms) | caller frames per append | gateway CPU per call (% of a core) | RSS per call (KiB) | refused | fake carrier / fake model CPU per call (% of a core) | fake carrier / fake model lateness p99 (ms) |"
echo "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
for n in ${CALLS:-1 50 100 200 300 500}; do
    GATEWAY_SHARED_SECRET=bench "$bin/realtime-gateway" --port "$gateway_port" --realtime-url "ws://127.0.0.1:$model_port/v1/realtime" \
        --session "$work/session.json" --max-calls 100000 --log-level error --turn-detection "${TURNS:-server}" --frame-ms "${FRAME_MS:-40}" ${APPEND_MS:+--append-ms "$APPEND_MS"} ${SHED:+--refuse-when-overloaded} &
    gateway=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$gateway_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
    cpu0=$(awk '{print $14 + $15}' "/proc/$gateway/stat")
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")
    curl -sf "http://127.0.0.1:$gateway_port/metrics" > "$work/before"
    # (A fake model older than its `GET /stats` answers 404: its lateness then reads "-".)
    curl -sf "http://127.0.0.1:$model_port/stats" >> "$work/before" || true
    echo "$rss0" > "$work/peak"
    ( while kill -0 "$gateway" 2>/dev/null; do
          r=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status"); [ "$r" -gt "$(cat "$work/peak")" ] && echo "$r" > "$work/peak"; sleep 0.25
      done ) &
    sampler=$!
    m0=$(awk '{print $14 + $15}' "/proc/$model/stat")
    t0=$(date +%s.%N)
    # `times` after the load: its second line is the CPU the fake carriers used (user and system).
    out=$( ("$bin/gateway-harness" load --gateway "ws://127.0.0.1:$gateway_port/media" --wav "$root/samples/call-8k-ulaw.wav" \
        --secret bench --calls "$n" --tail 9 ${FAKES_NICE:+--nice "$FAKES_NICE"} ${STEADY:+--turns 3 --turn-gap 9} --ramp "$(if [ -n "${STEADY:-}" ]; then echo 0.032; else echo 0.01; fi)"
        times > "$work/times") )
    t1=$(date +%s.%N)
    m1=$(awk '{print $14 + $15}' "/proc/$model/stat")
    carrier_cpu=$(awk 'NR == 2 { n = split($0, t, " "); s = 0; for (i = 1; i <= n; i++) { split(t[i], p, "m"); s += p[1] * 60 + p[2] } print s }' "$work/times")
    kill "$sampler" 2>/dev/null || true
    cpu1=$(awk '{print $14 + $15}' "/proc/$gateway/stat")
    curl -sf "http://127.0.0.1:$gateway_port/metrics" > "$work/after"
    curl -sf "http://127.0.0.1:$model_port/stats" >> "$work/after" || true
    # A histogram's p99 over this run: the smallest bucket holding 99 % of the run's observations ("-" for none:
    # no observation, or a process that does not publish it).
    p99() { awk -v name="$1" '$0 ~ "^" name "_bucket" { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); v[FILENAME, le] = $2; les[le] = 1 }
        END { n = v[ARGV[2], "+Inf"] - v[ARGV[1], "+Inf"]; best = "inf"; if (n <= 0) { printf "-"; exit }
              for (le in les) if (le != "+Inf" && v[ARGV[2], le] - v[ARGV[1], le] >= 0.99 * n && (best == "inf" || le + 0 < best + 0)) best = le
              printf "%s", (best == "inf" ? ">max" : "<=" best * 1000) }' "$work/before" "$work/after"; }
    p99=$(p99 gateway_inbound_latency_seconds)
    late=$(p99 gateway_frame_lateness_seconds)
    # The fake model's own lateness: its reply deltas against their schedule.
    model_late=$(p99 fake_model_delta_lateness_seconds)
    # The pacer's underflows (a response's audio ran out while it played) over this run.
    underflows=$(awk '/^gateway_underflows_total / { v[FILENAME] = $2 } END { printf "%d", v[ARGV[2]] - v[ARGV[1]] }' "$work/before" "$work/after")
    # Caller frames per `append` to the model (1 while the gateway keeps up; more while it gathers them).
    gather=$(awk '/^gateway_caller_frames_total / { f[FILENAME] = $2 } /^gateway_model_appends_total / { a[FILENAME] = $2 }
        END { d = a[ARGV[2]] - a[ARGV[1]]; printf "%.2f", (d > 0 ? (f[ARGV[2]] - f[ARGV[1]]) / d : 0) }' "$work/before" "$work/after")
    echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
n, cpu0, cpu1, t0, t1, hz, rss0, peak, p99, late, underflows, gather, carrier, m0, m1, model_late = sys.argv[1:]
n = int(n); seconds = float(t1) - float(t0)
admitted = max(1, n - r["refused"])  # the per-call figures are over the calls the gateway took
cpu = (float(cpu1) - float(cpu0)) / float(hz) / seconds / admitted * 100
rss = (int(peak) - int(rss0)) / admitted
fakes = (float(carrier) / seconds / admitted * 100, (float(m1) - float(m0)) / float(hz) / seconds / admitted * 100)
gaps = [r[k] for k in ("arrival_gap_ms_p50", "arrival_gap_ms_p99", "arrival_gap_ms_max")]
print("| %d | %s | %s | %.1f / %.1f / %.1f | %d | %d | %s | %s | %.2f | %.0f | %d | %.2f / %.2f | %s / %s |" % (n, late, underflows, *gaps, r["starved_ticks"], r["closed_early"], p99, gather, cpu, rss, r["refused"], *fakes,
    "%.1f" % r["carrier_lateness_ms_p99"] if "carrier_lateness_ms_p99" in r else "-", model_late))
' "$n" "$cpu0" "$cpu1" "$t0" "$t1" "$hz" "$rss0" "$(cat "$work/peak")" "$p99" "$late" "$underflows" "$gather" "$carrier_cpu" "$m0" "$m1" "$model_late"
    kill "$gateway"
    wait "$gateway" 2>/dev/null || true
    gateway=
done
