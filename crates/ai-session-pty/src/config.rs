//! What to spawn and how: [`SessionConfig`], terminal [`Size`], agent-friendly environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Columns (width).
    pub cols: u16,
    /// Rows (height).
    pub rows: u16,
}

impl Default for Size {
    fn default() -> Self {
        Self {
            cols: 200,
            rows: 50,
        }
    }
}

/// Which shell integration to install, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integration {
    /// Detect from the basename of the *last* argv element (`bash`, `sh`, `dash`, `zsh`), so a
    /// wrapper argv like `ai-session __sandbox-exec ... -- bash` is integrated too.
    #[default]
    Auto,
    /// Install none: `exec` is unavailable, `write`/`read`/`screen` still work.
    None,
    /// Force an integration for this shell flavour (the last argv element is that shell).
    Shell(ShellKind),
}

/// Shell flavours with an integration rc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShellKind {
    /// GNU bash: `--noprofile --rcfile <rc> -i`, marks from `PS0`, `PROMPT_COMMAND`, `PS1`.
    Bash,
    /// POSIX sh (dash): `-i` with `ENV=<rc>`; marks from `PS1` command substitution.
    Posix,
    /// zsh: `-d -i` with `ZDOTDIR=<dir>`; marks from `precmd`/`preexec` hooks.
    Zsh,
}

impl ShellKind {
    /// Guess the flavour from a program path by its basename.
    pub fn detect(program: &str) -> Option<Self> {
        let base = program.rsplit('/').next().unwrap_or(program);
        match base {
            "bash" => Some(Self::Bash),
            "sh" | "dash" | "ash" => Some(Self::Posix),
            "zsh" => Some(Self::Zsh),
            _ => None,
        }
    }
}

/// Everything needed to start a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// argv of the program to run; default `["bash"]`. Looked up in `PATH`.
    pub program: Vec<String>,
    /// Working directory; default: the caller's.
    pub cwd: Option<PathBuf>,
    /// Environment overrides, applied after [`agent_env_defaults`] (so they win).
    pub env: BTreeMap<String, String>,
    /// Terminal size.
    pub size: Size,
    /// Scrollback ring capacity in bytes; older bytes drop off the front.
    pub scrollback_limit: usize,
    /// Source the user's rc file (`~/.bashrc`, `~/.zshrc`, `$ENV`) from our rc. Off by default:
    /// user rc files (pyenv, nvm, ...) cost tens of ms per shell and can storm the machine.
    pub user_rc: bool,
    /// Shell integration (command boundaries, exit codes, cwd).
    pub integration: Integration,
    /// Keep the kernel's output post-processing (`OPOST`/`ONLCR`: LF becomes CRLF). Turning it
    /// off makes bulk output several times faster, but programs then emit bare LF (the screen
    /// model compensates; the stored bytes keep the bare LF). See docs/performance.md, "PTY".
    pub output_processing: bool,
    /// Id of the first command record; later records count up from it (default 1). A session
    /// that continues an earlier shell's history (e.g. after its daemon restarted) starts after
    /// the highest id it already has, so ids stay unique and increasing across shells.
    pub first_command_id: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            program: vec!["bash".to_owned()],
            cwd: None,
            env: BTreeMap::new(),
            size: Size::default(),
            scrollback_limit: 4 * 1024 * 1024,
            user_rc: false,
            integration: Integration::Auto,
            output_processing: true,
            first_command_id: 1,
        }
    }
}

impl SessionConfig {
    /// A config running `program` (argv) with all other fields at their defaults.
    pub fn new<I, S>(program: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            program: program.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The shell flavour whose integration will be installed, if any.
    pub fn shell_kind(&self) -> Option<ShellKind> {
        match self.integration {
            Integration::None => None,
            Integration::Shell(kind) => Some(kind),
            Integration::Auto => self.program.last().and_then(|p| ShellKind::detect(p)),
        }
    }
}

/// Environment defaults that keep programs from waiting on a human: pagers off, no credential
/// prompts, non-interactive package managers. [`SessionConfig::env`] overrides any of them.
pub fn agent_env_defaults() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TERM", "xterm-256color"),
        ("PAGER", "cat"),
        ("GIT_PAGER", "cat"),
        ("MANPAGER", "cat"),
        ("SYSTEMD_PAGER", "cat"),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("DEBIAN_FRONTEND", "noninteractive"),
        ("PIP_NO_INPUT", "1"),
        ("PYTHONUNBUFFERED", "1"),
        ("LESS", "-FRX"),
        ("AI_SESSION", "1"),
    ]
}
