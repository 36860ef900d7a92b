#!/usr/bin/env bash
# Instructions per output sample under callgrind (deterministic, unlike wall time on a shared machine): each
# configuration runs at two lengths, and the difference in instructions over the difference in samples cancels
# setup (filter design, allocation, process start).
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)"; exit 1; }
bin=$(swift build -c release --product instructions --show-bin-path)/instructions
swift build -c release --product instructions >/dev/null
count() {   # args... -> "instructions samples"
    local out; out=$(mktemp)
    local samples
    samples=$(valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$@" 2>/dev/null | tail -1)
    local ir; ir=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')
    rm -f "$out"
    echo "$ir $samples"
}
per_sample() {   # label args-without-seconds...
    local label=$1; shift
    read -r i1 s1 < <(count "$@" 1)
    read -r i2 s2 < <(count "$@" 3)
    awk -v l="$label" -v i1="$i1" -v i2="$i2" -v s1="$s1" -v s2="$s2" 'BEGIN { printf "| %s | %.1f |\n", l, (i2 - i1) / (s2 - s1) }'
}
echo "| component (20 ms chunks) | instructions per output sample |"
echo "|---|---:|"
if [ "${1:-all}" != resampler ] && [ "${1:-all}" != speed ] && [ "${1:-all}" != session ] && [ "${1:-all}" != plc ]; then
    for c in ulaw-encode ulaw-encode-int16 ulaw-decode alaw-encode alaw-encode-int16 alaw-decode pcm16-encode pcm16-decode base64-decode; do
        per_sample "$c" "$c"
    done
fi
if [ "${1:-all}" = plc ]; then
    # Per concealed frame (8 kHz, 20 ms frames, every fifth lost, the received ones' passage included), ours and
    # spandsp's under the same workload (Benchmarks/Peers/plc/spandsp_plc.c; needs libspandsp-dev).
    per_sample "loss concealment, ours (per concealed frame)" plc
    cc -O2 Peers/plc/spandsp_plc.c -lspandsp -lm -o "${TMPDIR:-/tmp}/spandsp_plc"
    bin="${TMPDIR:-/tmp}/spandsp_plc" per_sample "loss concealment, spandsp (per concealed frame)"
    exit 0
fi
if [ "${1:-all}" = session ]; then
    per_sample "full-duplex session, 24 kHz model (per 8 kHz caller sample)" session 24000
    per_sample "full-duplex session, 16 kHz model (per 8 kHz caller sample)" session 16000
    exit 0
fi
if [ "${1:-all}" = speed ]; then
    for speed in 0.5 0.75 1.25 1.5 1.0; do per_sample "speed scaler $speed at 24000 Hz (per input sample)" speed "$speed" 24000; done
    exit 0
fi
if [ "${1:-all}" = vad ]; then
    for rate in 8000 16000 24000 48000; do per_sample "server VAD at $rate Hz (per input sample)" vad "$rate"; done
    exit 0
fi
for q in ${QUALITIES:-fast voice high}; do
    for pair in 8000:24000 24000:8000 16000:24000 48000:24000 44100:24000 24000:16000 24000:48000; do
        per_sample "resample $q ${pair/:/→}" resample "${pair%:*}" "${pair#*:}" "$q"
    done
done
