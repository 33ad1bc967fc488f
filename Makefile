# The README's two commands: `make demo` and `make test`. Both install what a fresh
# Debian machine lacks first, and fetch + convert the Whisper model once (cached in models/).
CARGO ?= cargo

.PHONY: demo test eval eval-matrix deps model lint bench bench-live bench-workers fuzz clean

demo: deps
	$(CARGO) run --release --quiet -- demo

test: deps lint model
	$(CARGO) test --lib --bins --tests -- --test-threads=1
	$(MAKE) eval

# Redacts every call in samples/ (into a temporary folder), scores the outputs against
# their ground truth and fails on any leak. Dependencies are optimised in the dev profile,
# so the debug binary the tests built is fast enough and nothing is built twice.
eval: model
	$(CARGO) run --quiet -- eval samples --truth samples

# The broad, phone-like evaluation (scripts/matrix-eval.sh): calls in many voices from
# several speech engines, stereo and mono, 16 kHz and 8 kHz G.711, scored per voice and
# format. Hours on two cores; not part of `make test`. Options go in MATRIX, e.g.
# make eval-matrix MATRIX="--lang en --voices flite,piper --formats mono-ulaw8k 7"
eval-matrix: deps model
	bash scripts/matrix-eval.sh $(MATRIX)

deps:
	@bash scripts/install-deps.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --features mic --lib --bins -- -D warnings

# Tests use the real models (tiny.en, and base for Chinese); fetched once into models/.
model:
	$(CARGO) run --quiet -- model fetch tiny.en
	$(CARGO) run --quiet -- model fetch base

bench: deps
	$(CARGO) bench

# Concurrent live calls on this machine: latency, fail-closed seconds, CPU and memory per
# call (needs root for SIPp's RTP playback).
bench-live: deps model
	python3 scripts/live_capacity.py

# Coverage-guided fuzzing (cargo-fuzz on the nightly toolchain) of the SIP, SDP, SIPREC,
# RTP/RFC 4733, SRTP and recording-container parsers, FUZZ_SECONDS (300) per target; the
# corpus is minimised in place and replayed on stable by `make test`.
fuzz: deps
	bash scripts/fuzz.sh

# Queue workers on this machine: throughput with 1, 2 and 3 workers and CPU per audio
# hour (starts its own nats-server and s3s-fs on loopback).
bench-workers: deps model
	$(CARGO) build --quiet
	python3 scripts/worker_throughput.py 1 2 3

clean:
	$(CARGO) clean
	rm -rf out
