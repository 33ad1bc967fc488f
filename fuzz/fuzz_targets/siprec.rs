//! Fuzz target: see `hushline::fuzz::siprec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hushline::fuzz::siprec(data));
