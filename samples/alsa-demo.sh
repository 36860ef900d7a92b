#!/usr/bin/env bash
# record / listen / play with no sound card: alsa-lib's own `file` PCM (the one the tests use) stands in for a
# device. Capture reads a raw file of samples, playback writes one, and `plug` gives them a 16 kHz mono S16 face.
# Usage: samples/alsa-demo.sh RTAUDIO OUTDIR
set -euo pipefail
bin=$1
out=$(cd "$2" && pwd)/alsa
mkdir -p "$out/turns"
run() { echo "\$ rtaudio $*"; "$bin" "$@"; }
"$bin" convert samples/speech-24k.wav "$out/capture.raw" --rate 16000 --format pcm16
cat > "$out/demo.asoundrc" <<CONF
pcm.filecap { type file; slave.pcm { type null }; file "/dev/null"; infile "$out/capture.raw"; format "raw" }
pcm.fileplay { type file; slave.pcm { type null }; file "$out/playback.raw"; format "raw" }
pcm.democap { type plug; slave { pcm "filecap"; format S16_LE; rate 16000; channels 1 } }
pcm.demoplay { type plug; slave { pcm "fileplay"; format S16_LE; rate 16000; channels 1 } }
CONF
export ALSA_CONFIG_PATH="$out/demo.asoundrc"
echo "# ALSA_CONFIG_PATH=$ALSA_CONFIG_PATH: democap captures samples/speech-24k.wav (as 16 kHz raw), demoplay writes playback.raw"
run record "$out/recorded.wav" --device democap --rate 24000
run info "$out/recorded.wav"
echo
run listen --device democap --save-turns "$out/turns" --stats
ls "$out/turns"
echo
run play samples/speech-24k.wav --device demoplay --speed 1.25
run info "$out/playback.raw" --input-rate 16000
