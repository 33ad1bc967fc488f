#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that face the network and the disk (`make fuzz`):
# each cargo-fuzz target in fuzz/ runs for FUZZ_SECONDS (default 300) on the nightly
# toolchain, starting from fuzz/corpus/TARGET (seeded from the test fixtures), whose
# corpus is then minimised in place. Prints the executions per target; exits non-zero on
# any crash, which libFuzzer leaves in fuzz/artifacts/TARGET/ (fix it in the library and
# add the input to fuzz/regressions/TARGET/, which `make test` replays).
#
# Usage: scripts/fuzz.sh [TARGET...]     (default: every target)
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-300}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(sip sdp siprec rtp srtp container)
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "make fuzz needs a nightly toolchain beside stable (rustup toolchain list shows none)" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seeds from the test fixtures (the same ones tests/fuzz_corpus.rs replays).
cargo test --quiet --test fuzz_corpus -- --ignored write_seed_corpus >/dev/null

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
done
printf '%-10s %14s\n' total "$total"
exit $failed
