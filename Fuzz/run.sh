#!/usr/bin/env bash
# Builds the libFuzzer binary and runs every target for FUZZ_SECONDS (default 60) from the committed seeds.
# New inputs go to a scratch corpus; crashes go to Fuzz/crashes/<target>/ and make the run fail.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
swift build --sanitize fuzzer --sanitize address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp >/dev/null || exit 1
bin=$(swift build --sanitize fuzzer --sanitize address --show-bin-path)/fuzz
work=$(mktemp -d)
failed=0
printf '| target | seconds | executions | coverage | crashes |\n|---|---:|---:|---:|---:|\n'
for target in ${FUZZ_TARGETS:-base64 pcm16-stream g711 session-json inbound soundfile resampler speed pipelines}; do
    mkdir -p "$work/$target" "crashes/$target"
    log="$work/$target.log"
    # LeakSanitizer reports the banks inside a resampler chain's second stage as lost: it cannot see a pointer whose
    # spare bits carry an enum tag (llvm/llvm-project#56751), as `.chain(pre:next:)` stores it. A false positive:
    # `TerminationTests.chainsAreFreed` shows every filter and bank of a chain freed by weak references. So leak
    # checks are off for this target only.
    extra=""
    asan="${ASAN_OPTIONS:-}"
    if [ "$target" = resampler ]; then extra="-detect_leaks=0"; asan="detect_leaks=0"; fi
    ASAN_OPTIONS="$asan" FUZZ_TARGET=$target "$bin" "$work/$target" "corpus/$target" -max_total_time="$seconds" -max_len=8192 $extra \
        -artifact_prefix="crashes/$target/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
    crashes=$(ls "crashes/$target" | wc -l)
    printf '| %s | %s | %s | %s | %s |\n' "$target" "$seconds" "${runs:-0}" "${cov:-0}" "$crashes"
    if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ]; then failed=1; tail -30 "$log" >&2; fi
done
rm -rf "$work"
exit $failed
