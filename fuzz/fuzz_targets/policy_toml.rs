//! `SecurityPolicy` TOML loader: any text either loads or gives a `PolicyError`, never a panic;
//! a policy that loads serialises back to TOML that loads to the same policy.
#![no_main]

use ai_session_security::SecurityPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = SecurityPolicy::from_toml_str(text) else {
        return;
    };
    let again = SecurityPolicy::from_toml_str(&policy.to_toml_string())
        .expect("a loaded policy's own TOML must load again");
    assert_eq!(policy, again, "policy TOML round trip changed the policy");
});
