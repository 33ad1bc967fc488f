"""A two-party call laid out on a timeline, and its renderings with exact ground truth.

The agent speaks on channel 0 and the customer on channel 1 of the stereo copies; the
mono copies mix both. Every piece (a phrase, a group of digits) is synthesised on its
own and placed with a known pause, so each item's start and end are known to the
sample. `Call.render` writes each requested format with a truth file in the
`samples/*.truth.json` format plus the fields reports group by (`voice`, `engine`,
`format`, `layout`, `codec`, `scenario` and, per entry, the speaker's voice).
"""

import json
import os
import subprocess
import tempfile

import numpy as np

from voices import RATE, read_wav, write_wav

# name: (layout, codec, rate)
FORMATS = {
    "stereo-16k": ("stereo", "pcm16k", 16000),
    "mono-16k": ("mono", "pcm16k", 16000),
    "stereo-ulaw8k": ("stereo", "ulaw8k", 8000),
    "mono-ulaw8k": ("mono", "ulaw8k", 8000),
    "stereo-alaw8k": ("stereo", "alaw8k", 8000),
    "mono-alaw8k": ("mono", "alaw8k", 8000),
}
CHANNEL = {"agent": 0, "customer": 1}
# Line noise on the 8 kHz copies: white, about -54 dBFS RMS, independent per channel.
LINE_NOISE_RMS = 0.002


class Call:
    def __init__(self, synth, name, language, scenario, speakers, rng):
        self.synth, self.name, self.language, self.scenario = synth, name, language, scenario
        self.speakers = speakers  # {"agent": Speaker, "customer": Speaker}
        self.rng = rng
        self.pieces = []  # (who, start_sample, samples)
        self.now = int(0.5 * RATE)
        self.items, self.decoys, self.speech = [], [], []

    # ------------------------------------------------------------ building

    def _place(self, who, x, pause, overlap_at=None):
        start = overlap_at if overlap_at is not None else self.now + int(pause * RATE)
        gain = self.speakers[who].gain
        self.pieces.append((who, start, x * (gain / max(1e-6, float(np.max(np.abs(x)))))))
        if overlap_at is None:
            self.now = max(self.now, start + len(x))
        return start, start + len(x)

    def _entry(self, who, start, end, **fields):
        v = self.speakers[who].voice
        entry = {"speaker": who, "start_sample": start, "end_sample": end, "voice": v.label, "engine": v.engine}
        entry.update(fields)
        return entry

    def pause_range(self, lo, hi):
        return self.rng.uniform(lo, hi)

    def say(self, who, text, pause=None, overlap_at=None):
        """Innocent speech. `overlap_at` places it at that sample without moving the
        timeline on (a back-channel over the other speaker)."""
        pause = self.pause_range(0.35, 0.8) if pause is None else pause
        x = self.synth.speak(self.speakers[who], text)
        s, e = self._place(who, x, pause, overlap_at)
        self.speech.append(self._entry(who, s, e, text=text))
        return s, e

    def number(self, who, kind, digits, pieces, pause=None, gaps=(0.15, 0.6), decoy=False, between=None):
        """Speaks `pieces` one after another; one item (or decoy) spans them all.

        `between` maps a piece index to (speaker, text): that line is said after the
        piece, before the next one (the agent's "mm-hm, go on" inside a card).
        """
        pause = self.pause_range(0.3, 0.7) if pause is None else pause
        first = last = None
        for i, text in enumerate(pieces):
            gap = pause if i == 0 else self.rng.uniform(*gaps)
            x = self.synth.speak(self.speakers[who], text)
            s, last = self._place(who, x, gap)
            first = s if first is None else first
            if between and i in between:
                other, line = between[i]
                self.say(other, line, pause=self.rng.uniform(0.2, 0.45))
        entry = self._entry(who, first, last, type=kind, digits=digits, text=" | ".join(pieces))
        (self.decoys if decoy else self.items).append(entry)
        return first, last

    def silence(self, seconds):
        self.now += int(seconds * RATE)

    # ------------------------------------------------------------ rendering

    def tracks(self):
        total = self.now + int(0.7 * RATE)
        out = {who: np.zeros(total, np.float32) for who in CHANNEL}
        for who, start, x in self.pieces:
            out[who][start : start + len(x)] += x
        return out

    def render(self, out_dir, formats, meta):
        """Writes `NAME__FORMAT.wav` and `NAME__FORMAT.truth.json` for each format."""
        tracks = self.tracks()
        written = []
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in formats:
                layout, codec, rate = FORMATS[fmt]
                chans = [tracks["agent"], tracks["customer"]] if layout == "stereo" else [tracks["agent"] + tracks["customer"]]
                stem = f"{self.name}__{fmt}"
                path = os.path.join(out_dir, stem + ".wav")
                encode(chans, codec, path, tmp, self.rng)
                truth = self._truth(stem + ".wav", fmt, layout, codec, rate, len(chans[0]) / RATE, meta)
                write_json(os.path.join(out_dir, stem + ".truth.json"), truth)
                written.append(stem)
        return written

    def _truth(self, file, fmt, layout, codec, rate, duration, meta):
        def place(entries, drop_overlapping=False):
            out = []
            for e in entries:
                ch = CHANNEL[e["speaker"]] if layout == "stereo" else 0
                if drop_overlapping and any(overlaps(e, i) for i in self.items if layout == "mono" or i["speaker"] == e["speaker"]):
                    # Speech inside an item's span on the same channel is part of what must
                    # be bleeped (a back-channel within a card on a mono line): not innocent.
                    continue
                p = {k: v for k, v in e.items() if k not in ("start_sample", "end_sample")}
                p.update(channel=ch, start=e["start_sample"] / RATE, end=e["end_sample"] / RATE,
                         start_sample=e["start_sample"] * rate // RATE, end_sample=e["end_sample"] * rate // RATE)
                out.append(p)
            return sorted(out, key=lambda p: (p["start"], p["channel"]))

        agent, customer = self.speakers["agent"], self.speakers["customer"]
        return {
            "file": file,
            "language": self.language,
            "rate": rate,
            "channels": 2 if layout == "stereo" else 1,
            "duration": duration,
            "call": self.name,
            "scenario": self.scenario,
            "format": fmt,
            "layout": layout,
            "codec": codec,
            "voice": customer.voice.label,
            "engine": customer.voice.engine,
            "agent_voice": agent.voice.label,
            "speakers": {who: {"voice": s.voice.label, "engine": s.voice.engine, "speed": round(s.speed, 3),
                               "pitch_cents": s.pitch, "gain": round(s.gain, 3), "channel": CHANNEL[who]}
                         for who, s in self.speakers.items()},
            **meta,
            "items": place(self.items),
            "decoys": place(self.decoys, drop_overlapping=True),
            "speech": place(self.speech, drop_overlapping=True),
        }


def overlaps(a, b):
    return a is not b and a["start_sample"] < b["end_sample"] and b["start_sample"] < a["end_sample"]


def encode(chans, codec, path, tmp, rng):
    """16 kHz PCM as is; 8 kHz G.711 as a phone line carries it: band-limited to
    300-3400 Hz, resampled, mild line noise added, then mu-law or A-law coded."""
    part = path + ".part"
    if codec == "pcm16k":
        write_wav(part, [np.clip(c, -1, 1) for c in chans], RATE)
    else:
        wide, narrow, noisy = (os.path.join(tmp, n) for n in ("wide.wav", "narrow.wav", "noisy.wav"))
        write_wav(wide, [np.clip(c, -1, 1) for c in chans], RATE)
        subprocess.run(["sox", wide, "-r", "8000", narrow, "sinc", "300-3400"], check=True)
        x = read_wav(narrow)
        noise_rng = np.random.default_rng(rng.getrandbits(32))
        x = x + noise_rng.normal(0.0, LINE_NOISE_RMS, x.shape).astype(np.float32)
        write_wav(noisy, [np.clip(x[:, i], -1, 1) for i in range(x.shape[1])], 8000)
        encoding = "mu-law" if codec == "ulaw8k" else "a-law"
        subprocess.run(["sox", noisy, "-t", "wav", "-e", encoding, "-b", "8", part], check=True)
    os.replace(part, path)


def write_json(path, doc):
    with open(path + ".part", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(path + ".part", path)
