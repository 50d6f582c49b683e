//! Which environment variables a restricted agent may set for its session's shell.
//!
//! Many variables are code in disguise: the shell runs `PROMPT_COMMAND` before every
//! prompt, expands `$(...)` in `PS0`..`PS4`, sources `BASH_ENV`/`ENV` at start, imports
//! functions from `BASH_FUNC_*`; the dynamic loader maps `LD_PRELOAD`; interpreters run
//! `PYTHONSTARTUP`, `NODE_OPTIONS=--require`, `PERL5OPT=-M`; tools start `PAGER`,
//! `EDITOR`, `GIT_SSH_COMMAND`. So a restricted agent's `env` goes through an allowlist of
//! names whose values are data ([`AGENT_ENV_ALLOWLIST`]); [`is_code_carrying`] names the
//! known code carriers so a refusal can say why.
//!
//! ```
//! use ai_session_security::environment::{check_agent_env, is_code_carrying};
//! assert!(check_agent_env("RUST_LOG").is_ok());
//! assert!(is_code_carrying("PROMPT_COMMAND") && is_code_carrying("LD_PRELOAD"));
//! let refused = check_agent_env("BASH_FUNC_ls%%").unwrap_err();
//! assert!(refused.to_string().contains("carries code"), "{refused}");
//! assert!(check_agent_env("MY_APP_SETTING").unwrap_err().to_string().contains("allowlist"));
//! ```

/// Names a restricted agent may set: terminal, locale, and the switches of common tools
/// whose values are data, never a command or a file that is run or loaded.
pub const AGENT_ENV_ALLOWLIST: &[&str] = &[
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLUMNS",
    "LINES",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_COLLATE",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NUMERIC",
    "LC_TIME",
    "TZ",
    "CI",
    "DEBIAN_FRONTEND",
    "GIT_TERMINAL_PROMPT",
    "PIP_NO_INPUT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "CARGO_TERM_COLOR",
    "CARGO_INCREMENTAL",
    "NODE_ENV",
    "DEBUG",
];

/// Variables that name code to run, a file to source or load, or change what a command
/// name resolves to.
const CODE_CARRYING: &[&str] = &[
    // The shell: run before prompts, prompt expansion (`$(...)`), startup files, options.
    "PROMPT_COMMAND",
    "PS0",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "IFS",
    "INPUTRC",
    "ZDOTDIR",
    "FPATH",
    "PATH",
    "CDPATH",
    "HOME",
    "SHELL",
    "XDG_CONFIG_HOME",
    "HISTFILE",
    "TERMINFO",
    // glibc's loader and libc (its "unsecure" list).
    "GCONV_PATH",
    "GETCONF_DIR",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    "TMPDIR",
    "TZDIR",
    // Interpreters: startup code, module search paths, options that load modules.
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONINSPECT",
    "PYTHONWARNINGS",
    "PYTHONBREAKPOINT",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    "RUBYOPT",
    "RUBYLIB",
    "NODE_OPTIONS",
    "NODE_PATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "LUA_INIT",
    "LUA_PATH",
    "LUA_CPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "TCLLIBPATH",
    // Tools that start a program named by a variable.
    "PAGER",
    "GIT_PAGER",
    "MANPAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "EDITOR",
    "VISUAL",
    "GIT_EDITOR",
    "SUDO_EDITOR",
    "BROWSER",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_EXTERNAL_DIFF",
    "GIT_EXEC_PATH",
    "GIT_PROXY_COMMAND",
    "GIT_TEMPLATE_DIR",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTFLAGS",
    "CC",
    "CXX",
    "MAKEFLAGS",
];

/// Prefixes of code-carrying families: the loader (`LD_PRELOAD`, `LD_AUDIT`,
/// `LD_LIBRARY_PATH`, ...), exported bash functions, git config injected through the
/// environment (`GIT_CONFIG_KEY_0=core.pager`), cargo settings (`CARGO_TARGET_*_RUNNER`,
/// `CARGO_BUILD_RUSTC_WRAPPER`), malloc tracing, macOS's loader.
const CODE_CARRYING_PREFIXES: &[&str] = &[
    "LD_",
    "BASH_FUNC_",
    "GIT_CONFIG",
    "CARGO_",
    "MALLOC_",
    "DYLD_",
    "LUA_INIT_",
];

/// True when the variable `name` names code to run, a file to source or load, or a search
/// path for programs or modules.
pub fn is_code_carrying(name: &str) -> bool {
    CODE_CARRYING.contains(&name)
        || CODE_CARRYING_PREFIXES.iter().any(|p| name.starts_with(p))
        // bash exports a function `f` as `BASH_FUNC_f%%` (older: `f()`-valued names).
        || name.contains('%')
        || name.contains('(')
}

/// Why a variable was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvRefused {
    /// It carries code.
    #[error(
        "environment variable `{0}` carries code (the shell, the loader or a tool would run or load what it names)"
    )]
    CodeCarrying(String),
    /// It is not on the allowlist.
    #[error(
        "environment variable `{0}` is not on the allowlist of a restricted agent's session environment (docs/security.md#session-parameters)"
    )]
    NotAllowed(String),
}

/// Whether a restricted agent may set `name` for its session's shell.
pub fn check_agent_env(name: &str) -> Result<(), EnvRefused> {
    if AGENT_ENV_ALLOWLIST.contains(&name) {
        Ok(())
    } else if is_code_carrying(name) {
        Err(EnvRefused::CodeCarrying(name.to_owned()))
    } else {
        Err(EnvRefused::NotAllowed(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_allowed_name_carries_code() {
        for name in AGENT_ENV_ALLOWLIST {
            // The two cargo switches are data; every other allowed name is outside the lists.
            if !name.starts_with("CARGO_") {
                assert!(!is_code_carrying(name), "{name}");
            }
        }
    }

    #[test]
    fn the_known_carriers_are_refused() {
        for name in [
            "PROMPT_COMMAND",
            "BASH_ENV",
            "ENV",
            "PS1",
            "PS4",
            "LD_PRELOAD",
            "LD_AUDIT",
            "BASH_FUNC_ls%%",
            "SHELLOPTS",
            "PYTHONSTARTUP",
            "NODE_OPTIONS",
            "PERL5OPT",
            "GIT_CONFIG_KEY_0",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
            "GLIBC_TUNABLES",
            "PATH",
        ] {
            assert_eq!(
                check_agent_env(name),
                Err(EnvRefused::CodeCarrying(name.to_owned())),
                "{name}"
            );
        }
        assert_eq!(
            check_agent_env("HARMLESS"),
            Err(EnvRefused::NotAllowed("HARMLESS".into()))
        );
    }
}
