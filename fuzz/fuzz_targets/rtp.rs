//! Fuzz target: see `hushline::fuzz::rtp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hushline::fuzz::rtp(data));
