//! The normaliser on arbitrary bytes: never panics, never leaves an escape
//! or carriage return behind.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = ai_session_output::normalize(data);
    assert!(!text.contains('\x1b'));
    assert!(!text.contains('\r'));
});
