#!/usr/bin/env python3
"""Packet-loss concealment scored as the lossy-legs issue asks: PESQ (ITU-T P.862 narrowband, the `pesq`
package) and segmental SNR of the concealed frames, against the loss-free decode, for frames left as silence
(zero fill), the previous frame repeated, spandsp's PLC (libspandsp, through ctypes) and ours (`rtaudio stream
decode --conceal plc` on a Twilio capture with the lost chunks left out, the user's own path).

Speech: the samples plus espeak-ng and festival voices, 8 kHz µ-law, 20 ms frames. Loss: random at 1, 3, 5, 10
and 20 %, and bursty (Gilbert-Elliott, mean burst 2.5 frames, 5 % and 10 % overall), several seeds each.

    python3 score_plc.py --rtaudio .build/release/rtaudio [--seeds 3]
Needs: libspandsp-dev, espeak-ng, festival, sox, numpy, scipy, pesq (pip).
"""
import argparse, base64, ctypes, json, os, subprocess, sys, tempfile
import numpy as np
from scipy.io import wavfile
from pesq import pesq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FRAME = 160

TEXTS = [
    "Please read me the confirmation code on your screen, one letter at a time.",
    "I would like to move my appointment from Tuesday morning to Thursday afternoon.",
    "The package was delivered to the wrong address, and nobody answered the door.",
]


def ulaw_encode(x):
    x = np.clip(x, -32768, 32767).astype(np.int32)
    sign = (x < 0)
    mag = np.minimum(np.abs(x), 32635) + 132
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7
    mant = (mag >> (exp + 3)) & 0x0F
    code = ~((sign.astype(np.int32) << 7) | (exp << 4) | mant) & 0xFF
    return code.astype(np.uint8)


def ulaw_decode(c):
    c = ~c.astype(np.int32) & 0xFF
    sign = c & 0x80
    exp = (c >> 4) & 0x07
    mant = c & 0x0F
    mag = ((mant << 3) + 132) << exp
    return np.where(sign != 0, 132 - mag, mag - 132).astype(np.int16)


def voices(tmp):
    out = []
    for name in ["speech-24k.wav", "call-8k-ulaw.wav"]:
        out.append(("sample:" + name, os.path.join(ROOT, "samples", name)))
    for i, text in enumerate(TEXTS):
        p = os.path.join(tmp, f"espeak{i}.wav")
        subprocess.run(["espeak-ng", "-v", ["en-us", "en", "en-us+f3"][i], "-w", p, text], check=True)
        out.append((f"espeak-ng {i}", p))
        p = os.path.join(tmp, f"festival{i}.wav")
        subprocess.run(["text2wave", "-o", p], input=text.encode(), check=True, stderr=subprocess.DEVNULL)
        out.append((f"festival {i}", p))
    result = []
    for name, path in out:
        q = os.path.join(tmp, os.path.basename(path) + ".8k.wav")
        subprocess.run(["sox", path, "-r", "8000", "-c", "1", "-b", "16", q, "norm", "-20"], check=True,
                       stderr=subprocess.DEVNULL)
        _, x = wavfile.read(q)
        codes = ulaw_encode(x.astype(np.int32))
        n = len(codes) // FRAME * FRAME
        result.append((name, codes[:n]))
    return result


def losses(frames, kind, rate, seed):
    rng = np.random.default_rng(seed)
    lost = np.zeros(frames, bool)
    if kind == "random":
        lost = rng.random(frames) < rate
    else:  # Gilbert-Elliott: mean burst 2.5 frames, overall `rate`
        p_bg = 1 / 2.5
        p_gb = rate * p_bg / (1 - rate)
        bad = False
        for k in range(frames):
            bad = (rng.random() >= p_bg) if bad else (rng.random() < p_gb)
            lost[k] = bad
    lost[:3] = False  # the call has started
    return lost


class Spandsp:
    def __init__(self):
        self.lib = ctypes.CDLL("libspandsp.so.2")
        self.lib.plc_init.restype = ctypes.c_void_p
        self.lib.plc_init.argtypes = [ctypes.c_void_p]
        self.lib.plc_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
        self.lib.plc_fillin.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
        self.lib.plc_free.argtypes = [ctypes.c_void_p]

    def conceal(self, pcm, lost):
        s = self.lib.plc_init(None)
        out = pcm.copy()
        for k in range(len(lost)):
            buf = (ctypes.c_int16 * FRAME)(*out[k * FRAME:(k + 1) * FRAME].tolist())
            if lost[k]:
                self.lib.plc_fillin(s, buf, FRAME)
            else:
                self.lib.plc_rx(s, buf, FRAME)
            out[k * FRAME:(k + 1) * FRAME] = np.frombuffer(buf, dtype=np.int16)
        self.lib.plc_free(s)
        return out


def ours(rtaudio, codes, lost, tmp):
    lines = [json.dumps({"event": "start", "start": {"streamSid": "MZ1"}, "streamSid": "MZ1"})]
    for k in range(len(lost)):
        if lost[k]:
            continue
        payload = base64.b64encode(codes[k * FRAME:(k + 1) * FRAME].tobytes()).decode()
        lines.append(json.dumps({"event": "media", "streamSid": "MZ1",
                                 "media": {"track": "inbound", "chunk": str(k + 1), "payload": payload}}))
    # A stream that ends inside a loss: the frames after the last received one are silence (no chunk says more).
    cap = os.path.join(tmp, "cap.jsonl")
    out = os.path.join(tmp, "ours.wav")
    open(cap, "w").write("\n".join(lines) + "\n")
    subprocess.run([rtaudio, "stream", "decode", cap, out, "--conceal", "plc"], check=True, stdout=subprocess.DEVNULL)
    _, y = wavfile.read(out)
    full = np.zeros(len(lost) * FRAME, np.int16)
    full[:len(y)] = y[:len(full)]
    return full


def segsnr(ref, test, lost):
    vals = []
    for k in np.flatnonzero(lost):
        r = ref[k * FRAME:(k + 1) * FRAME].astype(float)
        e = r - test[k * FRAME:(k + 1) * FRAME].astype(float)
        vals.append(np.clip(10 * np.log10((np.sum(r * r) + 1e-9) / (np.sum(e * e) + 1e-9)), -10, 35))
    return float(np.mean(vals)) if vals else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtaudio", default=os.path.join(ROOT, ".build", "release", "rtaudio"))
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    spandsp = Spandsp()
    conditions = [("random", r) for r in (0.01, 0.03, 0.05, 0.10, 0.20)] + [("bursty", 0.05), ("bursty", 0.10)]
    methods = ["zero", "repeat", "spandsp", "ours"]
    with tempfile.TemporaryDirectory() as tmp:
        speech = voices(tmp)
        print(f"{len(speech)} voices, {args.seeds} seeds per condition; PESQ NB mean (segmental SNR of lost frames, dB)\n")
        print("| loss | " + " | ".join(methods) + " | ours - spandsp | ours - zero |")
        print("|---|" + "---:|" * (len(methods) + 2))
        for kind, rate in conditions:
            scores = {m: [] for m in methods}
            snrs = {m: [] for m in methods}
            for name, codes in speech:
                ref = ulaw_decode(codes)
                frames = len(codes) // FRAME
                for seed in range(args.seeds):
                    lost = losses(frames, kind, rate, seed * 1000 + int(rate * 100))
                    if not lost.any():
                        continue
                    zero = ref.copy()
                    repeat = ref.copy()
                    for k in np.flatnonzero(lost):
                        zero[k * FRAME:(k + 1) * FRAME] = 0
                        repeat[k * FRAME:(k + 1) * FRAME] = repeat[(k - 1) * FRAME:k * FRAME]
                    outs = {"zero": zero, "repeat": repeat, "spandsp": spandsp.conceal(ref, lost),
                            "ours": ours(args.rtaudio, codes, lost, tmp)}
                    for m in methods:
                        scores[m].append(pesq(8000, ref.astype(float), outs[m].astype(float), "nb"))
                        snrs[m].append(segsnr(ref, outs[m], lost))
            mean = {m: np.mean(scores[m]) for m in methods}
            cells = [f"{mean[m]:.2f} ({np.mean(snrs[m]):.1f})" for m in methods]
            print(f"| {kind} {int(rate * 100)} % | " + " | ".join(cells) +
                  f" | {mean['ours'] - mean['spandsp']:+.2f} | {mean['ours'] - mean['zero']:+.2f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
