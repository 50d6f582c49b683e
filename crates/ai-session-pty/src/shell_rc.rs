//! The rc snippets that make a shell emit nonce-carrying OSC 133 / OSC 7 marks, and the argv and
//! environment that load them.
//!
//! Each session gets its own rc file (it contains the nonce) in a private directory; the session
//! deletes it as soon as the shell shows its first prompt, so the nonce only lives in the shell's
//! memory afterwards.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::ShellKind;
use crate::error::{PtyError, Result};

/// Files written for one session's integration, removed by [`RcFiles::remove`] or on drop.
#[derive(Debug)]
pub struct RcFiles {
    /// The file (bash, sh) or directory (zsh: `ZDOTDIR`) to remove.
    path: PathBuf,
    is_dir: bool,
}

impl RcFiles {
    /// The path to remove and whether it is a directory (kept sessions store it, so the next
    /// daemon can remove it).
    pub(crate) fn parts(&self) -> (&Path, bool) {
        (&self.path, self.is_dir)
    }

    /// Files written by an earlier process for a session this one adopted.
    pub(crate) fn from_parts(path: PathBuf, is_dir: bool) -> RcFiles {
        RcFiles { path, is_dir }
    }

    /// Remove the files now (idempotent).
    pub fn remove(&self) {
        let result = if self.is_dir {
            fs::remove_dir_all(&self.path)
        } else {
            fs::remove_file(&self.path)
        };
        if let Err(error) = result
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::debug!(path = %self.path.display(), %error, "could not remove rc file");
        }
    }
}

impl Drop for RcFiles {
    fn drop(&mut self) {
        self.remove();
    }
}

/// What to add to the spawn so the shell loads its integration.
#[derive(Debug)]
pub struct ShellLaunch {
    /// Arguments appended to the program's argv.
    pub extra_args: Vec<String>,
    /// Environment variables to set.
    pub env: Vec<(String, String)>,
    /// The written files.
    pub files: RcFiles,
}

/// Write the rc for `kind` with `nonce` and return how to load it.
pub fn prepare(kind: ShellKind, nonce: &str, user_rc: bool) -> Result<ShellLaunch> {
    let dir = private_dir()?;
    let id = crate::nonce::random_hex(8);
    match kind {
        ShellKind::Bash => {
            let path = dir.join(format!("bashrc-{id}"));
            write_private(&path, &bash_rc(nonce, user_rc))?;
            Ok(ShellLaunch {
                extra_args: vec![
                    "--noprofile".into(),
                    "--rcfile".into(),
                    path.display().to_string(),
                    "-i".into(),
                ],
                env: Vec::new(),
                files: RcFiles {
                    path,
                    is_dir: false,
                },
            })
        }
        ShellKind::Posix => {
            let path = dir.join(format!("shrc-{id}"));
            let user_env = std::env::var("ENV").ok().filter(|_| user_rc);
            write_private(&path, &posix_rc(nonce, user_env.as_deref()))?;
            Ok(ShellLaunch {
                extra_args: vec!["-i".into()],
                env: vec![("ENV".into(), path.display().to_string())],
                files: RcFiles {
                    path,
                    is_dir: false,
                },
            })
        }
        ShellKind::Zsh => {
            let zdotdir = dir.join(format!("zdotdir-{id}"));
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&zdotdir)
                .map_err(|source| PtyError::RcFile {
                    path: zdotdir.display().to_string(),
                    source,
                })?;
            let files = RcFiles {
                path: zdotdir.clone(),
                is_dir: true,
            };
            write_private(&zdotdir.join(".zshrc"), &zsh_rc(nonce, user_rc))?;
            Ok(ShellLaunch {
                extra_args: vec!["-d".into(), "-i".into()],
                env: vec![("ZDOTDIR".into(), zdotdir.display().to_string())],
                files,
            })
        }
    }
}

/// Where shell integration rc files are written: `$XDG_RUNTIME_DIR/ai-session-pty` or
/// `$TMPDIR/ai-session-pty-<uid>`. A sandboxed shell needs to read it.
pub fn integration_dir() -> PathBuf {
    let uid = nix::unistd::getuid().as_raw();
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) if Path::new(&runtime).is_dir() => {
            PathBuf::from(runtime).join("ai-session-pty")
        }
        _ => std::env::temp_dir().join(format!("ai-session-pty-{uid}")),
    }
}

/// [`integration_dir`], created with mode 0700.
fn private_dir() -> Result<PathBuf> {
    let uid = nix::unistd::getuid().as_raw();
    let dir = integration_dir();
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(PtyError::RcFile {
                path: dir.display().to_string(),
                source,
            });
        }
    }
    // Refuse a directory someone else planted in a shared /tmp.
    let meta = fs::symlink_metadata(&dir).map_err(|source| PtyError::RcFile {
        path: dir.display().to_string(),
        source,
    })?;
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(PtyError::RcFile {
            path: dir.display().to_string(),
            source: std::io::Error::other("not a private directory owned by this user (mode 0700)"),
        });
    }
    Ok(dir)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let to_err = |source| PtyError::RcFile {
        path: path.display().to_string(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(to_err)?;
    file.write_all(text.as_bytes()).map_err(to_err)
}

/// bash: no command substitution (each would fork at start-up). `PS0` marks output start; `PROMPT_COMMAND` reports `$?` and cwd; `PS1` is wrapped in
/// prompt marks (inside `\[ \]` so readline does not count them as columns).
fn bash_rc(nonce: &str, user_rc: bool) -> String {
    let user = if user_rc {
        "[ -f ~/.bashrc ] && . ~/.bashrc\n"
    } else {
        "PS1='\\$ '\n"
    };
    format!(
        r#"# ai-session shell integration (generated, removed after start-up)
{user}__ais_n={nonce}
HISTFILE=
set +o histexpand
bind 'set enable-bracketed-paste off' 2>/dev/null
bind 'set bell-style none' 2>/dev/null
__ais_precmd() {{
  local s=$?
  printf '\033]7;file://%s%s;nonce=%s\007\033]133;D;%s;nonce=%s\007' "${{HOSTNAME:-}}" "$PWD" "$__ais_n" "$s" "$__ais_n"
  return $s
}}
if [[ ${{PROMPT_COMMAND@a}} == *a* ]]; then
  PROMPT_COMMAND=(__ais_precmd "${{PROMPT_COMMAND[@]}}")
else
  PROMPT_COMMAND="__ais_precmd${{PROMPT_COMMAND:+;$PROMPT_COMMAND}}"
fi
PS0=$'\e]133;C;nonce={nonce}\a'
PS1="\[\e]133;A;nonce={nonce}\a\]$PS1\[\e]133;B;nonce={nonce}\a\]"
"#
    )
}

/// POSIX sh (dash): no pre-exec hook, so `exec` prefixes each command with `__ais_c;`, and `PS1`
/// command substitution (which sees `$?`) reports the exit code and cwd.
fn posix_rc(nonce: &str, user_env: Option<&str>) -> String {
    let user = user_env
        .map(|path| format!(". '{}'\n", path.replace('\'', r"'\''")))
        .unwrap_or_default();
    format!(
        r#"# ai-session shell integration (generated, removed after start-up)
{user}__ais_n={nonce}
__ais_c() {{ printf '\033]133;C;nonce=%s\007' "$__ais_n"; }}
PS1='$(__ais_s=$?; printf "\033]7;file://%s%s;nonce=%s\007\033]133;D;%s;nonce=%s\007\033]133;A;nonce=%s\007" "${{HOSTNAME:-}}" "$PWD" "$__ais_n" "$__ais_s" "$__ais_n" "$__ais_n")$ $(printf "\033]133;B;nonce=%s\007" "$__ais_n")'
"#
    )
}

/// zsh: `preexec`/`precmd` hooks; `%{ %}` keeps the marks out of the prompt width.
fn zsh_rc(nonce: &str, user_rc: bool) -> String {
    let user = if user_rc {
        "[[ -f ~/.zshrc ]] && source ~/.zshrc\n"
    } else {
        "PS1='%# '\n"
    };
    format!(
        r#"# ai-session shell integration (generated, removed after start-up)
unset ZDOTDIR
{user}__ais_n={nonce}
unset HISTFILE
setopt NO_BANG_HIST
# The partial-line marker (PROMPT_SP) is printed before precmd, i.e. inside the output range.
unsetopt PROMPT_SP PROMPT_CR BEEP
__ais_precmd() {{
  local s=$?
  printf '\033]7;file://%s%s;nonce=%s\007\033]133;D;%s;nonce=%s\007' "${{HOST:-}}" "$PWD" "$__ais_n" "$s" "$__ais_n"
  return $s
}}
__ais_preexec() {{ printf '\033]133;C;nonce=%s\007' "$__ais_n"; }}
precmd_functions=(__ais_precmd $precmd_functions)
preexec_functions+=(__ais_preexec)
PS1=$'%{{\e]133;A;nonce={nonce}\a%}}'"$PS1"$'%{{\e]133;B;nonce={nonce}\a%}}'
"#
    )
}

/// The line `exec` writes for `command`: multi-line commands are wrapped in one `eval` so the
/// shell runs them as a single command with one C and one D mark. It starts with C-u (kill the
/// line in readline, zle and the kernel's line editor), so text a person left half-typed at the
/// prompt is discarded instead of being glued to the command.
pub fn command_line(kind: ShellKind, command: &str) -> String {
    const KILL_LINE: char = '\u{15}';
    let body = if command.contains('\n') {
        format!("eval '{}'", command.replace('\'', r"'\''"))
    } else {
        command.to_owned()
    };
    match kind {
        ShellKind::Posix => format!("{KILL_LINE}__ais_c;{body}\n"),
        ShellKind::Bash | ShellKind::Zsh => format!("{KILL_LINE}{body}\n"),
    }
}
