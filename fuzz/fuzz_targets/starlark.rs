#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| dbuild_fuzz::starlark(data));
