//! Fuzz target: see `hushline::fuzz::sip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hushline::fuzz::sip(data));
