#!/usr/bin/env bash
# Makes the demo samples: short synthetic speech (espeak-ng) as a 24 kHz pcm16 WAV, as the Realtime API's model
# speaks it, and as an 8 kHz µ-law WAV, as a telephone caller sends it. Needs espeak-ng and sox.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

espeak-ng -v en-us -s 150 -w "$tmp/a.wav" \
  "Hello, thanks for calling. How can I help you today? I can check your order or book an appointment."
sox "$tmp/a.wav" -r 24000 -c 1 -b 16 -e signed-integer speech-24k.wav norm -3

espeak-ng -v en-gb -s 140 -p 40 -w "$tmp/b.wav" \
  "Hi, I would like to change my delivery address, please. The new one is twelve Station Road."
# Telephone band (300 to 3400 Hz), 8 kHz, G.711 µ-law in a WAV container.
sox "$tmp/b.wav" -r 8000 -c 1 -e u-law call-8k-ulaw.wav sinc 300-3400 norm -3 dither -s

ls -l speech-24k.wav call-8k-ulaw.wav
