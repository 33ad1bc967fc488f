//! Fuzz target: see `hushline::fuzz::srtp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hushline::fuzz::srtp(data));
