//! Fuzz target: see `hushline::fuzz::container`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hushline::fuzz::container(data));
