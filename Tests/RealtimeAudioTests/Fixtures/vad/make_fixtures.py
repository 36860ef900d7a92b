#!/usr/bin/env python3
"""Builds the small labelled turn-taking set the ServerVAD tests read (16 kHz mono pcm16, little-endian, raw).

Each file: leading silence, then turns of espeak-ng speech separated by long gaps; one turn holds a 300 ms pause
inside it (a pause shorter than silence_duration_ms must not end the turn). Speech is trimmed to its first and
last sample above -50 dBFS, so the labels are where speech really starts and ends. Then a noise condition is
added at a given SNR (speech power over noise power, measured over the speech only).
Deterministic: fixed texts, voices, seeds. Needs espeak-ng, numpy, scipy. Writes *.pcm and labels.json beside it.
"""
import json, os, subprocess, tempfile
import numpy as np
from scipy.io import wavfile
from scipy.signal import lfilter, resample_poly

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 16000


def say(text, voice="en-us", wpm=170):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", path, text], check=True)
        fs, x = wavfile.read(path)
    x = x.astype(np.float64) / 32768
    x = resample_poly(x, RATE // np.gcd(RATE, fs), fs // np.gcd(RATE, fs))
    loud = np.nonzero(np.abs(x) > 10 ** (-50 / 20))[0]
    return x[loud[0]:loud[-1] + 1]


def noise(kind, n, rng):
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":   # Kellet's three-pole approximation of 1/f
        b, a = [0.049922035, -0.095993537, 0.050612699, -0.004408786], [1, -2.494956002, 2.017265875, -0.522189400]
        return lfilter(b, a, rng.standard_normal(n))
    if kind == "hum":    # 50 Hz mains with harmonics
        t = np.arange(n) / RATE
        return sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 6))
    raise ValueError(kind)


def build(name, turns, condition=None, snr=None, seed=1):
    """turns: list of (gap_before_s, [text pieces joined by 300 ms pauses], voice)."""
    rng = np.random.default_rng(seed)
    pieces, labels, t = [], [], 0
    for gap, texts, voice in turns:
        pieces.append(np.zeros(int(gap * RATE))); t += int(gap * RATE)
        start = t
        for i, text in enumerate(texts):
            if i:
                pieces.append(np.zeros(int(0.3 * RATE))); t += int(0.3 * RATE)
            s = say(text, voice) * 10 ** (-12 / 20) / 0.5
            pieces.append(s); t += len(s)
        labels.append([round(start * 1000 / RATE), round(t * 1000 / RATE)])
    pieces.append(np.zeros(int(1.5 * RATE)))
    x = np.concatenate(pieces)
    if condition:
        speech = np.concatenate([x[int(a * RATE / 1000):int(b * RATE / 1000)] for a, b in labels])
        nz = noise(condition, len(x), rng)
        nz *= np.sqrt(np.mean(speech ** 2) / np.mean(nz ** 2) / 10 ** (snr / 10))
        x = x + nz
    x = np.clip(np.round(x * 32768), -32768, 32767).astype("<i2")
    x.tofile(os.path.join(HERE, name + ".pcm"))
    return {"file": name + ".pcm", "rate": RATE, "condition": condition or "clean", "snr_db": snr, "turns_ms": labels}


def main():
    a = [(0.8, ["Hello, I would like to book a table for two."], "en-us"),
         (1.6, ["Tomorrow evening,", "around eight o'clock if possible."], "en-us+f3"),
         (1.4, ["Yes, thank you very much."], "en-gb")]
    b = [(1.0, ["Can you tell me the weather in Paris?"], "en-us+m3"),
         (2.0, ["And what about Berlin", "next weekend?"], "en-us")]
    sets = [build("clean", a), build("white10", b, "white", 10, seed=2), build("pink10", a, "pink", 10, seed=3),
            build("hum5", b, "hum", 5, seed=4)]
    json.dump(sets, open(os.path.join(HERE, "labels.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
