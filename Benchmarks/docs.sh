#!/usr/bin/env bash
# make docs: the DocC archives of the library products, offline (swift-docc-plugin), into .build/docs/<Target>.
# Fails, listing them, while any product has DocC warnings (broken links, undocumented parameters) or public
# symbols without an abstract: every public symbol is documented with units, ranges, errors and threading.
set -uo pipefail
cd "$(dirname "$0")/.."
out=.build/docs
rm -rf "$out"
mkdir -p "$out"
status=0
for target in RealtimeAudio RealtimeSession RealtimeCarrier SoundFile ALSA; do
    log="$out/$target.log"
    if ! swift package --allow-writing-to-directory "$out" generate-documentation --target "$target" \
        --output-path "$out/$target" --experimental-documentation-coverage --coverage-summary-level brief --experimental-skip-synthesized-symbols >"$log" 2>&1; then
        echo "$target: DocC failed (see $log)" >&2
        status=1
        continue
    fi
    warnings=$(grep -c '^warning:' "$log")
    undocumented=$(python3 -c '
import json, sys
# Members the compiler synthesizes or a standard protocol supplies carry that protocol'"'"'s documentation.
inherited = {"!=(_:_:)", "hashValue", "hash(into:)", "init(rawValue:)", "withContiguousStorageIfAvailable(_:)",
             "encode(to:)", "init(from:)"}
symbols = [s for s in json.load(open(sys.argv[1]))
           if s["kind"]["isSymbol"] and not s["hasAbstract"] and s["title"] not in inherited]
for s in symbols: print("  no abstract: " + s["referencePath"].split("/documentation/")[-1])
' "$out/$target/documentation-coverage.json")
    count=$(printf '%s' "$undocumented" | grep -c 'no abstract' || true)
    echo "$target: $warnings DocC warnings, $count public symbols without an abstract -> $out/$target"
    if [ "$warnings" -gt 0 ] || [ "$count" -gt 0 ]; then
        grep '^warning:' "$log" | sed 's/^/  /' | sort -u
        [ -n "$undocumented" ] && printf '%s\n' "$undocumented"
        status=1
    fi
done
exit $status
