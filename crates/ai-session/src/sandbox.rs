//! Running one program in the sandbox in the foreground of this process (`ai-session
//! sandbox`, like bwrap), and the hidden `__sandbox-exec` entry point the daemon's sandboxed
//! sessions start through. Both fork, so both must run while the process has one thread.

use std::path::Path;

pub use ai_session_security::sandbox::EXIT_SANDBOX_FAILED;
pub use ai_session_security::{
    SANDBOX_EXEC_SUBCOMMAND, SandboxError, SandboxRequest, SecurityPolicy, Step, run_sandboxed,
    sandbox_exec_main,
};

/// The policy of a foreground launch: the TOML policy `file` when given, else the preset
/// `preset` (`trusted`, `workspace`, `strict`). A policy that does not load fails the launch's
/// `arguments` step, as a bad `__sandbox-exec` argument does.
pub fn launch_policy(preset: &str, file: Option<&Path>) -> Result<SecurityPolicy, SandboxError> {
    match file {
        Some(file) => SecurityPolicy::from_toml_file(file),
        None => SecurityPolicy::named(preset),
    }
    .map_err(|e| SandboxError {
        step: Step::Arguments,
        detail: e.to_string(),
        exit_code: EXIT_SANDBOX_FAILED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_load_and_bad_policies_fail_the_arguments_step() {
        assert!(launch_policy("strict", None).unwrap().sandbox);
        assert!(!launch_policy("trusted", None).unwrap().sandbox);
        let error = launch_policy("no-such-preset", None).unwrap_err();
        assert_eq!((error.step, error.exit_code), (Step::Arguments, 125));
        let missing = Path::new("/nonexistent/policy.toml");
        let error = launch_policy("strict", Some(missing)).unwrap_err();
        assert_eq!(error.step, Step::Arguments);
        assert!(error.detail.contains("/nonexistent/policy.toml"), "{error}");
    }
}
