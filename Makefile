# The README's two commands: `make demo` and `make test`. Both install what a fresh
# Debian machine lacks first, and fetch + convert the Whisper model once (cached in models/).
CARGO ?= cargo

.PHONY: demo test deps model lint bench clean

demo: deps
	$(CARGO) run --release --quiet -- demo

test: deps lint model
	$(CARGO) test --lib --bins --tests -- --test-threads=1

deps:
	@bash scripts/install-deps.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Tests use the real tiny.en model; fetching it once here keeps test output quiet.
model:
	$(CARGO) run --quiet -- model fetch tiny.en

bench: deps
	$(CARGO) bench

clean:
	$(CARGO) clean
	rm -rf out
