#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that face the network and the disk (`make fuzz`):
# each cargo-fuzz target in fuzz/ runs for FUZZ_SECONDS (default 300) on the nightly
# toolchain, on the working corpus fuzz/corpus/TARGET (not committed; seeded from the test
# fixtures and the committed fuzz/replay/TARGET), which is then minimised in place. Its
# smallest inputs, up to REPLAY_BYTES (48 KiB) per target, become fuzz/replay/TARGET,
# which `make test` replays on stable. Prints the executions per target; exits non-zero
# on any crash, which libFuzzer leaves in fuzz/artifacts/TARGET/ (fix it in the library
# and add the input to fuzz/regressions/TARGET/, which `make test` replays too).
#
# Usage: scripts/fuzz.sh [TARGET...]     (default: every target)
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-300}"
replay_bytes="${REPLAY_BYTES:-49152}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(sip sdp siprec rtp srtp container)
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "make fuzz needs a nightly toolchain beside stable (rustup toolchain list shows none)" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seeds from the test fixtures (the same ones tests/fuzz_corpus.rs replays), and the
# committed replay corpus.
cargo test --quiet --test fuzz_corpus -- --ignored write_seed_corpus >/dev/null
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  [ -d "fuzz/replay/$t" ] && cp fuzz/replay/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
done

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=0
total=0
printf '%-10s %14s %10s %s\n' target executions exec/s result
cd fuzz
for t in "${targets[@]}"; do
  # -s none: the code under test is safe Rust; overflow checks and debug assertions stay on.
  if cargo +nightly fuzz run -s none "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$logs/$t" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/artifacts/$t/)"
    failed=1
    tail -40 "$logs/$t" >&2
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$logs/$t" | grep -o '[0-9]*$' || echo 0)
  total=$((total + runs))
  printf '%-10s %14s %10s %s\n' "$t" "$runs" "$rate" "$result"
  cargo +nightly fuzz cmin -s none "$t" "corpus/$t" >"$logs/$t.cmin" 2>&1 || true
  rm -rf "replay/$t" && mkdir -p "replay/$t"
  used=0
  while read -r size file; do
    used=$((used + size))
    [ "$used" -le "$replay_bytes" ] || break
    cp "corpus/$t/$file" "replay/$t/"
  done < <(cd "corpus/$t" && find . -type f -printf '%s %P\n' | sort -n)
done
printf '%-10s %14s\n' total "$total"
exit $failed
