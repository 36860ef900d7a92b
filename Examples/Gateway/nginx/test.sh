#!/usr/bin/env bash
# Two gateway instances behind nginx (the shipped gateway.conf, ports and certificate paths substituted) on
# loopback: calls land on both, and a call survives the other instance being stopped. Part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(cd ../.. && pwd)
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
missing=""
for tool in nginx openssl curl; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    echo "nginx test: installing$missing"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null || { echo "nginx test: cannot install$missing" >&2; exit 1; }
fi
swift build >/dev/null
bin=$(swift build --show-bin-path)
work=$(mktemp -d)
pids=()
cleanup() {
    local npid
    npid=$(cat "$work/nginx.pid" 2>/dev/null || true)
    [ -n "${KEEP:-}" ] && cp "$work"/*.log /tmp/ 2>/dev/null; 
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # nginx runs as a daemon (not our child): wait for it to let go of its port.
    for _ in $(seq 50); do [ -n "$npid" ] && kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "nginx test: $*" >&2; exit 1; }

# The ports must be free (a previous run's processes gone).
for port in 9420 9421 9422 9443; do
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break; sleep 0.2; done
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "port $port is in use"
done
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=localhost 2>/dev/null
echo '{"type":"realtime"}' > "$work/session.json"
"$bin/gateway-harness" model --port 9420 --reply "$root/samples/speech-24k.wav" >/dev/null &
pids+=($!)
for port in 9421 9422; do
    GATEWAY_SHARED_SECRET=scale "$bin/realtime-gateway" --port "$port" --realtime-url ws://127.0.0.1:9420/v1/realtime \
        --session "$work/session.json" --public-url wss://localhost:9443 --log-level ${GW_LOG:-error} &
    pids+=($!)
done
sed -e 's/127.0.0.1:8081/127.0.0.1:9421/; s/127.0.0.1:8082/127.0.0.1:9422/; s/listen 443 ssl/listen 127.0.0.1:9443 ssl/' \
    -e "s#/etc/ssl/certs/voice.example.com.pem#$work/cert.pem#; s#/etc/ssl/private/voice.example.com.key#$work/key.pem#" \
    nginx/gateway.conf > "$work/gateway.conf"
cat > "$work/nginx.conf" <<CONF
pid $work/nginx.pid;
error_log $work/error.log;
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
    include $work/gateway.conf;
}
CONF
nginx -c "$work/nginx.conf" -p "$work" || fail "nginx did not start: $(cat "$work/error.log")"
for port in 9421 9422; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
done
# The fake model too: a call that reaches the gateway before the model listens has no model to talk to.
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9420) 2>/dev/null && break; sleep 0.1; done
calls() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^gateway_calls_total/ {print $2}'; }
active() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^gateway_calls_active/ {print int($2)}'; }
silence="$work/silence.wav"
sox -n -r 8000 -c 1 "$silence" trim 0 1 2>/dev/null || python3 -c "
import wave; w = wave.open('$silence', 'wb'); w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(b'\0\0' * 8000); w.close()"

# Six calls at once through nginx's TLS: least_conn spreads them over both instances.
"$bin/gateway-harness" load --gateway wss://localhost:9443/media --wav "$silence" --secret scale --calls 6 --tail 1 --insecure > "$work/load.json"
grep -q '"closed_early":0' "$work/load.json" || fail "calls were cut: $(cat "$work/load.json")"
a=$(calls 9421); b=$(calls 9422)
[ "${a:-0}" -ge 1 ] && [ "${b:-0}" -ge 1 ] || fail "calls landed on one instance only ($a and $b)"

# A long call on one instance survives the other being stopped.
"$bin/gateway-harness" call --gateway wss://localhost:9443/media --wav "$silence" --secret scale --tail 5 --insecure > "$work/call.json" &
call=$!
sleep 1.5
if [ "$(active 9421)" = 1 ]; then other=${pids[2]}; else other=${pids[1]}; fi
kill "$other"
wait "$call" || fail "the call failed"
grep -q '"closed_early":false' "$work/call.json" || fail "the call did not survive the other instance: $(cat "$work/call.json")"
# New calls go to the instance still up.
"$bin/gateway-harness" call --gateway wss://localhost:9443/media --wav "$silence" --secret scale --tail 0.5 --insecure > "$work/after.json" \
    || fail "a call after the stop failed"
grep -q '"closed_early":false' "$work/after.json" || fail "a call after the stop was cut: $(cat "$work/after.json")"
echo "nginx test: calls on both instances ($a, $b), one survived the other's stop, new calls went on"

# SIGTERM drains: the remaining instance takes no new call but lets the one in progress finish, then exits.
survivor=$([ "$other" = "${pids[1]}" ] && echo "${pids[2]}" || echo "${pids[1]}")
survivor_port=$([ "$other" = "${pids[1]}" ] && echo 9422 || echo 9421)
"$bin/gateway-harness" call --gateway "ws://127.0.0.1:$survivor_port/media" --wav "$silence" --secret scale --tail 2 > "$work/drain.json" &
call=$!
sleep 0.7
kill -TERM "$survivor"
sleep 0.3
"$bin/gateway-harness" call --gateway "ws://127.0.0.1:$survivor_port/media" --wav "$silence" --secret scale --tail 0.2 >/dev/null 2>&1 \
    && fail "a new call was accepted during the drain"
refused=$(curl -sf "http://127.0.0.1:$survivor_port/metrics" | awk '/^gateway_upgrades_refused_total\{reason="full"\}/ {print $2}')
[ "${refused:-0}" -ge 1 ] || fail "the refused call during the drain was not counted"
wait "$call" || fail "the draining call failed"
grep -q '"closed_early":false' "$work/drain.json" || fail "SIGTERM cut the call in progress: $(cat "$work/drain.json")"
for _ in $(seq 50); do kill -0 "$survivor" 2>/dev/null || break; sleep 0.1; done
kill -0 "$survivor" 2>/dev/null && fail "the instance did not exit after its last call"
echo "nginx test: SIGTERM refused a new call (counted), let the call in progress finish, and the instance exited"
