//! tmux's command-line grammar: global flags, then commands separated by `;`, each with the
//! getopt-style flags of tmux 3.3a's command table (a flag's value in the same word or the
//! next), command aliases and unique prefixes.

use std::fmt;

/// What a tmux invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `-L NAME`.
    pub socket_name: Option<String>,
    /// `-S PATH`.
    pub socket_path: Option<String>,
    /// `-f FILE` (config read when the server starts).
    pub config: Option<String>,
    /// `-V`.
    pub version: bool,
    /// `-C` (`-CC`): a control-mode client.
    pub control: bool,
    /// `-c COMMAND`: run a shell command (tmux acts as a login shell).
    pub shell_command: Option<String>,
    pub commands: Vec<Command>,
}

/// One command with its flags and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Canonical name (`new-session`, not `new`).
    pub name: &'static str,
    pub flags: Vec<(char, Option<String>)>,
    pub args: Vec<String>,
}

impl Command {
    pub fn has(&self, flag: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == flag)
    }

    /// The last value given for a flag.
    pub fn value(&self, flag: char) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn values(&self, flag: char) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(f, _)| *f == flag)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    pub fn target(&self) -> Option<&str> {
        self.value('t')
    }

    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
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

/// A command table entry: name, alias, getopt template (`x:` takes a value), minimum and
/// maximum number of arguments (`-1`: any).
struct Spec {
    name: &'static str,
    alias: &'static str,
    template: &'static str,
    min: usize,
    max: i32,
}

const fn spec(
    name: &'static str,
    alias: &'static str,
    template: &'static str,
    min: usize,
    max: i32,
) -> Spec {
    Spec {
        name,
        alias,
        template,
        min,
        max,
    }
}

/// tmux 3.3a's commands (templates from its cmd-*.c files).
const TABLE: &[Spec] = &[
    spec("attach-session", "attach", "c:dEf:rt:x", 0, 0),
    spec("bind-key", "bind", "nrN:T:", 1, -1),
    spec("break-pane", "breakp", "abdPF:n:s:t:", 0, 0),
    spec("capture-pane", "capturep", "ab:CeE:JNpPqS:Tt:", 0, 0),
    spec("choose-buffer", "", "F:f:K:NO:rt:yZ", 0, 1),
    spec("choose-client", "", "F:f:K:NO:rt:yZ", 0, 1),
    spec("choose-tree", "", "F:f:GK:NO:rst:wyZ", 0, 1),
    spec("clear-history", "clearhist", "Ht:", 0, 0),
    spec("clear-prompt-history", "clearphist", "T:", 0, 0),
    spec("clock-mode", "", "t:", 0, 0),
    spec("command-prompt", "", "1bFkiI:Np:t:T:", 0, 1),
    spec("confirm-before", "confirm", "bp:t:", 1, 1),
    spec("copy-mode", "", "eHMs:t:uq", 0, 0),
    spec("customize-mode", "", "F:f:Nt:yZ", 0, 0),
    spec("delete-buffer", "deleteb", "b:", 0, 0),
    spec("detach-client", "detach", "aE:s:t:P", 0, 0),
    spec("display-menu", "menu", "b:c:C:H:s:S:Ot:T:x:y:", 1, -1),
    spec("display-message", "display", "aCc:d:lINpt:F:v", 0, 1),
    spec("display-panes", "displayp", "bd:Nt:", 0, 1),
    spec(
        "display-popup",
        "popup",
        "Bb:Cc:d:e:Eh:s:S:t:T:w:x:y:",
        0,
        -1,
    ),
    spec("find-window", "findw", "CiNrt:TZ", 1, 1),
    spec("has-session", "has", "t:", 0, 0),
    spec("if-shell", "if", "bFt:", 2, 3),
    spec("join-pane", "joinp", "bdfhvp:l:s:t:", 0, 0),
    spec("kill-pane", "killp", "at:", 0, 0),
    spec("kill-server", "", "", 0, 0),
    spec("kill-session", "", "aCt:", 0, 0),
    spec("kill-window", "killw", "at:", 0, 0),
    spec("last-pane", "lastp", "det:Z", 0, 0),
    spec("last-window", "last", "t:", 0, 0),
    spec("link-window", "linkw", "abdks:t:", 0, 0),
    spec("list-buffers", "lsb", "F:f:", 0, 0),
    spec("list-clients", "lsc", "F:f:t:", 0, 0),
    spec("list-commands", "lscm", "F:", 0, 1),
    spec("list-keys", "lsk", "1aNP:T:", 0, 1),
    spec("list-panes", "lsp", "asF:f:t:", 0, 0),
    spec("list-sessions", "ls", "F:f:", 0, 0),
    spec("list-windows", "lsw", "F:f:at:", 0, 0),
    spec("load-buffer", "loadb", "b:t:w", 1, 1),
    spec("lock-client", "lockc", "t:", 0, 0),
    spec("lock-server", "lock", "", 0, 0),
    spec("lock-session", "locks", "t:", 0, 0),
    spec("move-pane", "movep", "bdfhvp:l:s:t:", 0, 0),
    spec("move-window", "movew", "abdkrs:t:", 0, 0),
    spec("new-session", "new", "Ac:dDe:EF:f:n:Ps:t:x:Xy:", 0, -1),
    spec("new-window", "neww", "abc:de:F:kn:PSt:", 0, -1),
    spec("next-layout", "nextl", "t:", 0, 0),
    spec("next-window", "next", "at:", 0, 0),
    spec("paste-buffer", "pasteb", "db:prs:t:", 0, 0),
    spec("pipe-pane", "pipep", "IOot:", 0, 1),
    spec("previous-layout", "prevl", "t:", 0, 0),
    spec("previous-window", "prev", "at:", 0, 0),
    spec("refresh-client", "refresh", "A:B:cC:Df:F:l::LRSt:U", 0, 1),
    spec("rename-session", "rename", "t:", 1, 1),
    spec("rename-window", "renamew", "t:", 1, 1),
    spec("resize-pane", "resizep", "DLMRTt:Ux:y:Z", 0, 1),
    spec("resize-window", "resizew", "aADLRt:Ux:y:", 0, 1),
    spec("respawn-pane", "respawnp", "c:e:kt:", 0, -1),
    spec("respawn-window", "respawnw", "c:e:kt:", 0, -1),
    spec("rotate-window", "rotatew", "Dt:UZ", 0, 0),
    spec("run-shell", "run", "bd:Ct:", 0, 1),
    spec("save-buffer", "saveb", "ab:", 1, 1),
    spec("select-layout", "selectl", "Enopt:", 0, 1),
    spec("select-pane", "selectp", "DdegLlMmP:RT:t:UZ", 0, 0),
    spec("select-window", "selectw", "lnpTt:", 0, 0),
    spec("send-keys", "send", "c:FHlMN:Rt:X", 0, -1),
    spec("send-prefix", "", "2t:", 0, 0),
    spec("server-access", "", "adlrw", 0, 1),
    spec("set-buffer", "setb", "aAb:n:t:w", 0, 1),
    spec("set-environment", "setenv", "Fhgrt:u", 1, 2),
    spec("set-hook", "", "agpRt:uw", 1, 2),
    spec("set-option", "set", "aFgopqst:uUw", 1, 2),
    spec("set-window-option", "setw", "aFgoqt:uU", 1, 2),
    spec("show-buffer", "showb", "b:", 0, 0),
    spec("show-environment", "showenv", "hgst:", 0, 1),
    spec("show-hooks", "", "gpt:w", 0, 1),
    spec("show-messages", "showmsgs", "JTt:", 0, 0),
    spec("show-options", "show", "AgHpqst:vw", 0, 1),
    spec("show-prompt-history", "showphist", "T:", 0, 0),
    spec("show-window-options", "showw", "gvt:", 0, 1),
    spec("source-file", "source", "Fnqv", 1, -1),
    spec("split-window", "splitw", "bc:de:fF:hIl:p:Pt:vZ", 0, -1),
    spec("start-server", "start", "", 0, 0),
    spec("suspend-client", "suspendc", "t:", 0, 0),
    spec("swap-pane", "swapp", "dDs:t:UZ", 0, 0),
    spec("swap-window", "swapw", "ds:t:", 0, 0),
    spec("switch-client", "switchc", "c:EFlnO:pt:rT:Z", 0, 0),
    spec("unbind-key", "unbind", "anqT:", 0, 1),
    spec("unlink-window", "unlinkw", "kt:", 0, 0),
    spec("wait-for", "wait", "LSU", 1, 1),
];

/// Aliases tmux's default `command-alias` option adds.
const EXTRA_ALIASES: &[(&str, &str)] =
    &[("split-pane", "split-window"), ("splitp", "split-window")];

fn find_spec(name: &str) -> Result<&'static Spec, UsageError> {
    let name = EXTRA_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, real)| real);
    if let Some(spec) = TABLE.iter().find(|s| s.name == name || s.alias == name) {
        return Ok(spec);
    }
    let hits: Vec<&Spec> = TABLE.iter().filter(|s| s.name.starts_with(name)).collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => Err(UsageError(format!("unknown command: {name}"))),
        _ => Err(UsageError(format!("ambiguous command: {name}"))),
    }
}

/// The canonical name of a command or alias, if there is one.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    find_spec(name).ok().map(|s| s.name)
}

/// Parses everything after `tmux`.
pub fn parse(argv: &[String]) -> Result<Invocation, UsageError> {
    let mut inv = Invocation {
        socket_name: None,
        socket_path: None,
        config: None,
        version: false,
        control: false,
        shell_command: None,
        commands: Vec::new(),
    };
    let mut i = 0;
    while let Some(arg) = argv.get(i) {
        if arg == "--" {
            i += 1;
            break;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        let mut chars = flags.chars();
        while let Some(flag) = chars.next() {
            match flag {
                'L' | 'S' | 'f' | 'c' | 'T' => {
                    let value = flag_value(&mut chars, argv, &mut i, || {
                        UsageError(format!("option requires an argument -- {flag}"))
                    })?;
                    match flag {
                        'L' => inv.socket_name = Some(value),
                        'S' => inv.socket_path = Some(value),
                        'f' => inv.config = Some(value),
                        'c' => inv.shell_command = Some(value),
                        _ => {}
                    }
                }
                'V' => inv.version = true,
                'C' => inv.control = true,
                '2' | '8' | 'u' | 'v' | 'D' | 'N' | 'l' => {}
                other => {
                    return Err(UsageError(format!(
                        "unknown option -- {other}\nusage: tmux [-2CDlNuVv] [-c shell-command] [-f file] [-L socket-name]\n            [-S socket-path] [-T features] [command [flags]]"
                    )));
                }
            }
        }
        i += 1;
    }
    for words in split_commands(&argv[i..]) {
        if let Some((name, rest)) = words.split_first() {
            inv.commands.push(parse_command(name, rest)?);
        }
    }
    Ok(inv)
}

/// A flag's value: the rest of its word (`-Lname`), else the next word (`-L name`),
/// which `i` then points at.
fn flag_value(
    rest: &mut std::str::Chars<'_>,
    words: &[String],
    i: &mut usize,
    missing: impl FnOnce() -> UsageError,
) -> Result<String, UsageError> {
    let rest: String = rest.collect();
    if !rest.is_empty() {
        return Ok(rest);
    }
    *i += 1;
    words.get(*i).cloned().ok_or_else(missing)
}

/// Splits words into commands at `;` (a lone `;`, or one ending a word; `\;` is literal).
fn split_commands(words: &[String]) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    for word in words {
        if word == ";" {
            commands.push(Vec::new());
        } else if let Some(stripped) = word.strip_suffix("\\;") {
            commands.last_mut().unwrap().push(format!("{stripped};"));
        } else if let Some(stripped) = word.strip_suffix(';') {
            commands.last_mut().unwrap().push(stripped.to_owned());
            commands.push(Vec::new());
        } else {
            commands.last_mut().unwrap().push(word.clone());
        }
    }
    commands.retain(|c| !c.is_empty());
    commands
}

/// Parses one command's words with its getopt template.
pub fn parse_command(name: &str, words: &[String]) -> Result<Command, UsageError> {
    let spec = find_spec(name)?;
    let mut flags = Vec::new();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        if word == "--" {
            i += 1;
            break;
        }
        let Some(letters) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        let mut chars = letters.chars();
        while let Some(flag) = chars.next() {
            let Some(pos) = spec.template.find(flag).filter(|_| flag != ':') else {
                return Err(UsageError(format!(
                    "command {}: unknown flag -{flag}",
                    spec.name
                )));
            };
            if spec.template[pos + flag.len_utf8()..].starts_with(':') {
                let value = flag_value(&mut chars, words, &mut i, || {
                    UsageError(format!(
                        "command {}: -{flag} expects an argument",
                        spec.name
                    ))
                })?;
                flags.push((flag, Some(value)));
            } else {
                flags.push((flag, None));
            }
        }
        i += 1;
    }
    let args = words[i..].to_vec();
    if args.len() < spec.min || (spec.max >= 0 && args.len() > spec.max as usize) {
        return Err(UsageError(format!(
            "command {}: too {} arguments (need {}{})",
            spec.name,
            if args.len() < spec.min { "few" } else { "many" },
            if args.len() < spec.min {
                "at least "
            } else {
                "at most "
            },
            if args.len() < spec.min {
                spec.min
            } else {
                spec.max as usize
            }
        )));
    }
    Ok(Command {
        name: spec.name,
        flags,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn global_flags_and_commands() {
        let inv = parse(&words("-Lagent -f /dev/null new -ds build -x 120 make all")).unwrap();
        assert_eq!(inv.socket_name.as_deref(), Some("agent"));
        assert_eq!(inv.config.as_deref(), Some("/dev/null"));
        let new = &inv.commands[0];
        assert_eq!(new.name, "new-session");
        assert!(new.has('d'));
        assert_eq!(new.value('s'), Some("build"));
        assert_eq!(new.value('x'), Some("120"));
        assert_eq!(new.args, ["make", "all"]);
    }

    #[test]
    fn flag_values_and_separators() {
        let inv = parse(&words(
            "send-keys -t x:0.0 -l -- -n Enter ; ls -F#{session_id}",
        ))
        .unwrap();
        assert_eq!(inv.commands[0].args, ["-n", "Enter"]);
        assert!(inv.commands[0].has('l'));
        assert_eq!(inv.commands[1].name, "list-sessions");
        assert_eq!(inv.commands[1].value('F'), Some("#{session_id}"));
        let inv = parse(&words("neww; splitw -h")).unwrap();
        assert_eq!(inv.commands.len(), 2);
        assert!(parse(&words("-V")).unwrap().version);
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            parse(&words("frobnicate")).unwrap_err().0,
            "unknown command: frobnicate"
        );
        assert_eq!(
            parse(&words("send-keys -t")).unwrap_err().0,
            "command send-keys: -t expects an argument"
        );
        assert_eq!(
            parse(&words("list-")).unwrap_err().0,
            "ambiguous command: list-"
        );
        assert_eq!(
            parse(&words("new-s")).unwrap().commands[0].name,
            "new-session"
        );
        assert_eq!(
            parse(&words("splitp")).unwrap().commands[0].name,
            "split-window"
        );
    }
}
