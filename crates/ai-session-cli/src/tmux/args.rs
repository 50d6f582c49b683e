//! tmux's command-line grammar, as far as agent scripts use it: global flags, then commands
//! separated by a lone `;`, each with tmux's own short flags.

use std::fmt;

/// What a tmux invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `-L NAME`: a separate server, like tmux's socket name.
    pub socket_name: Option<String>,
    pub commands: Vec<TmuxCommand>,
}

/// One tmux command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TmuxCommand {
    NewSession(NewSession),
    SendKeys {
        target: Option<String>,
        literal: bool,
        repeat: usize,
        keys: Vec<String>,
    },
    CapturePane(Capture),
    ListSessions {
        format: Option<String>,
    },
    HasSession {
        target: Option<String>,
    },
    KillSession {
        target: Option<String>,
    },
    KillServer,
    DisplayMessage {
        target: Option<String>,
        print: bool,
        message: String,
    },
    /// Options and other server settings: accepted and ignored, so scripts that set them run.
    Ignored(String),
}

/// `new-session` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSession {
    pub name: Option<String>,
    pub detached: bool,
    pub attach_if_exists: bool,
    pub cwd: Option<String>,
    pub width: Option<u16>,
    pub height: Option<u16>,
    pub env: Vec<(String, String)>,
    pub print_format: Option<String>,
    pub command: Option<String>,
}

/// `capture-pane` flags. Lines follow tmux: 0 is the first visible row, negative numbers reach
/// into history, `None` for `-S -` / `-E -` means the start of history / the last visible row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub target: Option<String>,
    pub print: bool,
    pub start: LineBound,
    pub end: LineBound,
    pub escapes: bool,
    pub join: bool,
}

/// A `-S`/`-E` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineBound {
    /// The default: first (for `-S`) or last (for `-E`) visible row.
    Default,
    /// `-`: start of history (for `-S`) or last visible row (for `-E`).
    Edge,
    Line(i64),
}

/// A usage error, worded like tmux's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Parses everything after `tmux`.
pub fn parse(argv: &[String]) -> Result<Invocation, UsageError> {
    let mut socket_name = None;
    let mut i = 0;
    while let Some(arg) = argv.get(i) {
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        if arg == "--" {
            i += 1;
            break;
        }
        let mut chars = flags.chars();
        while let Some(flag) = chars.next() {
            match flag {
                // Flags taking a value: the rest of this word, or the next word.
                'L' | 'S' | 'f' | 'c' | 'T' => {
                    let rest: String = chars.by_ref().collect();
                    let value = if rest.is_empty() {
                        i += 1;
                        argv.get(i).cloned().ok_or_else(|| {
                            UsageError(format!("option requires an argument -- {flag}"))
                        })?
                    } else {
                        rest
                    };
                    if flag == 'L' {
                        socket_name = Some(value);
                    }
                }
                '2' | 'u' | 'v' | 'V' | 'D' | 'N' | 'l' | 'C' => {}
                other => return Err(UsageError(format!("unknown option -- {other}"))),
            }
        }
        i += 1;
    }
    let mut commands = Vec::new();
    for words in argv[i..].split(|w| w == ";") {
        if let Some((name, rest)) = words.split_first() {
            commands.push(parse_command(name, rest)?);
        }
    }
    if commands.is_empty() {
        // Plain `tmux` means `tmux new-session`.
        commands.push(TmuxCommand::NewSession(NewSession::default()));
    }
    Ok(Invocation {
        socket_name,
        commands,
    })
}

/// Short flags of one command: which take a value.
struct FlagSpec {
    with_value: &'static str,
    without_value: &'static str,
}

struct Flags {
    set: Vec<(char, Option<String>)>,
    rest: Vec<String>,
}

impl Flags {
    fn has(&self, flag: char) -> bool {
        self.set.iter().any(|(f, _)| *f == flag)
    }

    fn value(&self, flag: char) -> Option<String> {
        self.set
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .and_then(|(_, v)| v.clone())
    }

    fn values(&self, flag: char) -> Vec<String> {
        self.set
            .iter()
            .filter(|(f, _)| *f == flag)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }
}

fn parse_flags(command: &str, words: &[String], spec: &FlagSpec) -> Result<Flags, UsageError> {
    let mut set = Vec::new();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        if word == "--" {
            i += 1;
            break;
        }
        let Some(flags) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        let mut chars = flags.chars();
        while let Some(flag) = chars.next() {
            if spec.with_value.contains(flag) {
                let rest: String = chars.by_ref().collect();
                let value = if rest.is_empty() {
                    i += 1;
                    words.get(i).cloned().ok_or_else(|| {
                        UsageError(format!("{command}: option requires an argument -- {flag}"))
                    })?
                } else {
                    rest
                };
                set.push((flag, Some(value)));
            } else if spec.without_value.contains(flag) {
                set.push((flag, None));
            } else {
                return Err(UsageError(format!("{command}: unknown option -- {flag}")));
            }
        }
        i += 1;
    }
    Ok(Flags {
        set,
        rest: words[i..].to_vec(),
    })
}

fn parse_command(name: &str, words: &[String]) -> Result<TmuxCommand, UsageError> {
    let command = match name {
        "new-session" | "new" => {
            let flags = parse_flags(
                "new-session",
                words,
                &FlagSpec {
                    with_value: "sc-xynFetf",
                    without_value: "dADEPX",
                },
            )?;
            let mut env = Vec::new();
            for pair in flags.values('e') {
                let (key, value) = pair.split_once('=').ok_or_else(|| {
                    UsageError(format!("new-session: bad -e (expected VAR=value): {pair}"))
                })?;
                env.push((key.to_owned(), value.to_owned()));
            }
            TmuxCommand::NewSession(NewSession {
                name: flags.value('s'),
                detached: flags.has('d'),
                attach_if_exists: flags.has('A'),
                cwd: flags.value('c'),
                width: size_flag(&flags, 'x')?,
                height: size_flag(&flags, 'y')?,
                env,
                print_format: flags.has('P').then(|| {
                    flags
                        .value('F')
                        .unwrap_or_else(|| "#{session_name}:".to_owned())
                }),
                command: (!flags.rest.is_empty()).then(|| flags.rest.join(" ")),
            })
        }
        "send-keys" | "send" => {
            let flags = parse_flags(
                "send-keys",
                words,
                &FlagSpec {
                    with_value: "tN",
                    without_value: "lHRMX",
                },
            )?;
            let repeat = match flags.value('N') {
                Some(n) => n
                    .parse()
                    .map_err(|_| UsageError(format!("send-keys: repeat count invalid: {n}")))?,
                None => 1,
            };
            TmuxCommand::SendKeys {
                target: flags.value('t'),
                literal: flags.has('l'),
                repeat,
                keys: flags.rest,
            }
        }
        "capture-pane" | "capturep" => {
            let flags = parse_flags(
                "capture-pane",
                words,
                &FlagSpec {
                    with_value: "tSEb",
                    without_value: "apPqeCJN",
                },
            )?;
            TmuxCommand::CapturePane(Capture {
                target: flags.value('t'),
                print: flags.has('p'),
                start: line_bound(flags.value('S'))?,
                end: line_bound(flags.value('E'))?,
                escapes: flags.has('e'),
                join: flags.has('J'),
            })
        }
        "list-sessions" | "ls" => {
            let flags = parse_flags(
                "list-sessions",
                words,
                &FlagSpec {
                    with_value: "Ff",
                    without_value: "",
                },
            )?;
            TmuxCommand::ListSessions {
                format: flags.value('F'),
            }
        }
        "has-session" | "has" => TmuxCommand::HasSession {
            target: target_only("has-session", words)?,
        },
        "kill-session" => {
            let flags = parse_flags(
                "kill-session",
                words,
                &FlagSpec {
                    with_value: "t",
                    without_value: "aC",
                },
            )?;
            TmuxCommand::KillSession {
                target: flags.value('t'),
            }
        }
        "kill-server" => TmuxCommand::KillServer,
        "display-message" | "display" => {
            let flags = parse_flags(
                "display-message",
                words,
                &FlagSpec {
                    with_value: "tcdF",
                    without_value: "aIpv",
                },
            )?;
            TmuxCommand::DisplayMessage {
                target: flags.value('t'),
                print: flags.has('p'),
                message: flags.value('F').unwrap_or_else(|| flags.rest.join(" ")),
            }
        }
        "set-option" | "set" | "set-window-option" | "setw" | "set-environment" | "setenv"
        | "resize-window" | "resizew" | "start-server" | "start" | "source-file" | "source" => {
            TmuxCommand::Ignored(name.to_owned())
        }
        other => return Err(UsageError(format!("unknown command: {other}"))),
    };
    Ok(command)
}

fn target_only(command: &str, words: &[String]) -> Result<Option<String>, UsageError> {
    let flags = parse_flags(
        command,
        words,
        &FlagSpec {
            with_value: "t",
            without_value: "",
        },
    )?;
    Ok(flags.value('t'))
}

fn size_flag(flags: &Flags, flag: char) -> Result<Option<u16>, UsageError> {
    match flags.value(flag) {
        None => Ok(None),
        Some(v) if v == "-" => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| UsageError(format!("new-session: invalid -{flag}: {v}"))),
    }
}

fn line_bound(value: Option<String>) -> Result<LineBound, UsageError> {
    match value.as_deref() {
        None => Ok(LineBound::Default),
        Some("-") => Ok(LineBound::Edge),
        Some(v) => v
            .parse()
            .map(LineBound::Line)
            .map_err(|_| UsageError(format!("capture-pane: invalid line: {v}"))),
    }
}

/// The session part of a tmux target (`name`, `=name`, `name:0`, `name:0.1`, `$id`).
pub fn session_of(target: &str) -> &str {
    let target = target.strip_prefix('=').unwrap_or(target);
    let end = target.find([':', '.']).unwrap_or(target.len());
    &target[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn new_session_with_flags_and_command() {
        let inv = parse(&words(
            "-L agent new-session -d -s build -c /tmp -x 120 -y 40 make all",
        ))
        .unwrap();
        assert_eq!(inv.socket_name.as_deref(), Some("agent"));
        let TmuxCommand::NewSession(new) = &inv.commands[0] else {
            panic!("{inv:?}")
        };
        assert_eq!(new.name.as_deref(), Some("build"));
        assert!(new.detached);
        assert_eq!(new.cwd.as_deref(), Some("/tmp"));
        assert_eq!((new.width, new.height), (Some(120), Some(40)));
        assert_eq!(new.command.as_deref(), Some("make all"));
    }

    #[test]
    fn joined_flags_and_values() {
        let inv = parse(&words("new -ds x")).unwrap();
        let TmuxCommand::NewSession(new) = &inv.commands[0] else {
            panic!()
        };
        assert!(new.detached);
        assert_eq!(new.name.as_deref(), Some("x"));
        let inv = parse(&words("capture-pane -pt x -S -20")).unwrap();
        assert_eq!(
            inv.commands[0],
            TmuxCommand::CapturePane(Capture {
                target: Some("x".into()),
                print: true,
                start: LineBound::Line(-20),
                end: LineBound::Default,
                escapes: false,
                join: false,
            })
        );
    }

    #[test]
    fn send_keys_keeps_words_after_flags() {
        let inv = parse(&words("send-keys -t x:0.0 -l -- -n Enter")).unwrap();
        assert_eq!(
            inv.commands[0],
            TmuxCommand::SendKeys {
                target: Some("x:0.0".into()),
                literal: true,
                repeat: 1,
                keys: vec!["-n".into(), "Enter".into()],
            }
        );
    }

    #[test]
    fn commands_split_on_semicolon() {
        let inv = parse(&words("new -d -s a ; set -g status off ; ls")).unwrap();
        assert_eq!(inv.commands.len(), 3);
        assert_eq!(inv.commands[1], TmuxCommand::Ignored("set".into()));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse(&words("frobnicate")).unwrap_err().0,
            "unknown command: frobnicate"
        );
        assert_eq!(
            parse(&words("send-keys -t")).unwrap_err().0,
            "send-keys: option requires an argument -- t"
        );
        assert_eq!(
            parse(&words("capture-pane -S x")).unwrap_err().0,
            "capture-pane: invalid line: x"
        );
    }

    #[test]
    fn targets() {
        for (target, session) in [
            ("a", "a"),
            ("=a", "a"),
            ("a:0", "a"),
            ("a:0.1", "a"),
            ("a.1", "a"),
        ] {
            assert_eq!(session_of(target), session, "{target}");
        }
    }
}
