#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kino_providers::fuzz::xingyun3d(data));
