//! Fuzz target: see `hushline::fuzz::sdp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hushline::fuzz::sdp(data));
