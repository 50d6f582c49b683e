//! The programs a shell command line starts, read the way the shell reads it: quoting,
//! escapes, `$(...)`, backticks, `${...}`, arithmetic, process substitution, here-documents,
//! redirections, compound commands (`if`/`for`/`while`/`case`/`{ }`/`( )`/`[[ ]]`),
//! function definitions, wrappers (`env`, `sudo`, `timeout`, `xargs`, `find -exec`, ...),
//! `sh -c`, `eval`, `trap` and assignments to variables whose value the shell runs
//! (`PROMPT_COMMAND`, `PS1`, `BASH_ENV`, ...).
//!
//! This is the daemon's *early, friendly* refusal: it names the program an agent lacks
//! before anything runs. The fence is the sandbox's execute allowlist, which holds whatever
//! this reading misses (aliases, scripts, `$CMD` indirection).
//!
//! No existing crate fits: `shlex` and `shell-words` split words but know no operators,
//! and nothing they return says which word is a command.
//!
//! ```
//! use ai_session_security::command_line::programs_in;
//! assert_eq!(programs_in(r#"python3 -c "import os; print(1)""#), ["python3"]);
//! assert_eq!(programs_in("ls; cat x | grep -v y > out 2>&1"), ["ls", "cat", "grep"]);
//! assert_eq!(programs_in("echo \"$(whoami)\" `id -u`"), ["echo", "whoami", "id"]);
//! ```

/// Shell words that are grammar, not commands.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "select", "in",
    "case", "esac", "function", "{", "}", "!", "time", "coproc", "[[", "]]",
];

/// Words after which the next word is in command position again.
const PREFIX_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "{", "!", "time", "coproc",
];

/// Builtins that only change the shell's own state or test things: they start nothing, so
/// they need no grant (the kernel's allowlist does not see them either).
const STATE_BUILTINS: &[&str] = &[
    "cd", "pwd", "pushd", "popd", "dirs", "true", "false", ":", "export", "unset", "set", "shift",
    "exit", "return", "local", "declare", "typeset", "readonly", "wait", "test", "[", "read",
    "umask", "shopt", "hash", "type", "jobs", "break", "continue", "let", "eval", "trap", "exec",
    "command", "builtin",
];

/// Builtins whose `NAME=VALUE` arguments are assignments.
const DECLARING_BUILTINS: &[&str] = &["export", "local", "declare", "typeset", "readonly"];

/// Variables whose value the shell runs as a command line.
const COMMAND_VARIABLES: &[&str] = &["PROMPT_COMMAND"];

/// Variables whose value the shell expands later, so a `$(...)` in them runs then (prompts;
/// the startup files `BASH_ENV` and `ENV` name).
const EXPANDED_VARIABLES: &[&str] = &["PS0", "PS1", "PS2", "PS3", "PS4", "BASH_ENV", "ENV"];

/// Programs that run the rest of their arguments as a command, with the options of each
/// that take a value.
const WRAPPERS: &[(&str, &[&str])] = &[
    (
        "env",
        &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"],
    ),
    (
        "sudo",
        &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-R"],
    ),
    ("doas", &["-u", "-C"]),
    ("nohup", &[]),
    ("nice", &["-n", "--adjustment"]),
    ("ionice", &["-c", "-n", "-p", "-P", "-u"]),
    ("chrt", &[]),
    ("setsid", &[]),
    ("stdbuf", &["-i", "-o", "-e"]),
    ("timeout", &["-s", "--signal", "-k", "--kill-after"]),
    (
        "xargs",
        &[
            "-a", "-d", "-E", "-e", "-I", "-i", "-L", "-l", "-n", "-P", "-s",
        ],
    ),
    ("strace", &["-e", "-o", "-p", "-s", "-u"]),
    ("watch", &["-n", "-d"]),
];

/// Wrappers that take one positional argument before the command (`timeout 5 cmd`).
const WRAPPERS_WITH_OPERAND: &[&str] = &["timeout", "chrt"];

const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "busybox"];

/// How deep `sh -c`, `eval` and substitutions are followed.
const MAX_DEPTH: usize = 8;

/// The programs `command_line` starts, in order, by file name (`/usr/bin/git` is `git`); a
/// command word the shell would expand (`$CMD`) is returned as written.
pub fn programs_in(command_line: &str) -> Vec<String> {
    let mut programs = Vec::new();
    collect(command_line, &mut programs, 0);
    programs
}

fn collect(line: &str, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_DEPTH {
        // Nested too deep to read: name it so the check refuses rather than guesses.
        out.push(line.chars().take(40).collect());
        return;
    }
    let lexed = Lexer::new(line).run();
    Parser {
        out,
        depth,
        case_pattern: false,
    }
    .run(&lexed.tokens);
    for nested in &lexed.nested {
        collect(nested, out, depth + 1);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A word, quotes and escapes removed.
    Word(String),
    /// A control operator (`;`, `&&`, `|`, `(`, newline, `;;`, ...).
    Op(&'static str),
    /// A redirection operator; the next word is its target, not a command.
    Redirect,
}

struct Lexed {
    tokens: Vec<Token>,
    /// Command lines found in substitutions, here-documents and arithmetic.
    nested: Vec<String>,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    tokens: Vec<Token>,
    nested: Vec<String>,
    /// Here-documents whose body starts at the next newline: (delimiter, quoted, `<<-`).
    heredocs: Vec<(String, bool, bool)>,
}

const OPERATORS: &[&str] = &[
    ";;&", ";;", ";&", "&&", "||", "|&", "|", "&", ";", "(", ")", "\n",
];
const REDIRECTS: &[&str] = &[
    "&>>", "<<<", "<<-", "&>", "<<", "<>", "<&", ">>", ">&", ">|", "<", ">",
];

impl Lexer {
    fn new(line: &str) -> Lexer {
        Lexer {
            chars: line.chars().collect(),
            pos: 0,
            tokens: Vec::new(),
            nested: Vec::new(),
            heredocs: Vec::new(),
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.peek(i) == Some(c))
    }

    fn run(mut self) -> Lexed {
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' => self.pos += 1,
                '\\' if self.peek(1) == Some('\n') => self.pos += 2,
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                '(' if self.peek(1) == Some('(') => {
                    self.pos += 2;
                    let body = self.balanced('(', ')');
                    self.close_arithmetic();
                    // `(( ... ))`: arithmetic; only its substitutions run.
                    self.scan_expansions(&body);
                }
                '<' | '>' if self.peek(1) == Some('(') => {
                    self.pos += 2;
                    let body = self.balanced('(', ')');
                    self.nested.push(body);
                    self.tokens.push(Token::Word(String::new()));
                }
                _ => {
                    // `&>` and `&>>` before `&`, which would otherwise claim them.
                    let ampersand_redirect =
                        ["&>>", "&>"].into_iter().find(|r| self.starts_with(r));
                    if let Some(redirect) = ampersand_redirect {
                        self.pos += redirect.len();
                        self.redirect(redirect);
                    } else if let Some(op) = OPERATORS.iter().find(|op| self.starts_with(op)) {
                        self.pos += op.chars().count();
                        self.tokens.push(Token::Op(op));
                        if *op == "\n" {
                            self.read_heredoc_bodies();
                        }
                    } else if let Some(redirect) = REDIRECTS.iter().find(|r| self.starts_with(r)) {
                        self.pos += redirect.chars().count();
                        self.redirect(redirect);
                    } else {
                        let word = self.word();
                        // `2>file`: a file descriptor number glued to a redirection.
                        let is_fd = !word.is_empty() && word.chars().all(|c| c.is_ascii_digit());
                        if is_fd && matches!(self.peek(0), Some('<' | '>')) {
                            continue;
                        }
                        self.tokens.push(Token::Word(word));
                    }
                }
            }
        }
        self.read_heredoc_bodies();
        Lexed {
            tokens: self.tokens,
            nested: self.nested,
        }
    }

    fn redirect(&mut self, op: &str) {
        self.tokens.push(Token::Redirect);
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.pos += 1;
        }
        if matches!(op, "<<" | "<<-") {
            let start = self.pos;
            let delimiter = self.word();
            let quoted = self.chars[start..self.pos]
                .iter()
                .any(|c| matches!(c, '\'' | '"' | '\\'));
            self.heredocs.push((delimiter.clone(), quoted, op == "<<-"));
            self.tokens.push(Token::Word(delimiter));
        }
    }

    /// Consumes the bodies of the pending here-documents (the lines after the newline just
    /// read); an unquoted delimiter means the body is expanded, so its substitutions run.
    fn read_heredoc_bodies(&mut self) {
        for (delimiter, quoted, strip_tabs) in std::mem::take(&mut self.heredocs) {
            let mut body = String::new();
            while self.pos < self.chars.len() {
                let end = self.chars[self.pos..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(self.chars.len(), |i| self.pos + i);
                let line: String = self.chars[self.pos..end].iter().collect();
                self.pos = (end + 1).min(self.chars.len());
                let candidate = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if candidate == delimiter {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if !quoted {
                self.scan_expansions(&body);
            }
        }
    }

    /// A word up to an unquoted blank or operator, quotes and escapes removed; the
    /// substitutions in it are recorded.
    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\\' => {
                    self.pos += 1;
                    match self.peek(0) {
                        Some('\n') => self.pos += 1,
                        Some(next) => {
                            word.push(next);
                            self.pos += 1;
                        }
                        None => {}
                    }
                }
                '\'' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        if c == '\'' {
                            break;
                        }
                        word.push(c);
                    }
                }
                '"' => {
                    self.pos += 1;
                    let text = self.double_quoted(Some('"'));
                    word.push_str(&text);
                }
                '$' | '`' => {
                    let text = self.expansion();
                    word.push_str(&text);
                }
                _ => {
                    word.push(c);
                    self.pos += 1;
                }
            }
        }
        word
    }

    /// Text up to `terminator` (consumed) with double-quote rules: `\` escapes only
    /// `$ \` " \ newline`, expansions are recorded.
    fn double_quoted(&mut self, terminator: Option<char>) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            if Some(c) == terminator {
                self.pos += 1;
                break;
            }
            match c {
                '\\' => {
                    self.pos += 1;
                    match self.peek(0) {
                        Some(next @ ('$' | '`' | '"' | '\\')) => {
                            text.push(next);
                            self.pos += 1;
                        }
                        Some('\n') => self.pos += 1,
                        _ => text.push('\\'),
                    }
                }
                '$' | '`' => {
                    let expanded = self.expansion();
                    text.push_str(&expanded);
                }
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        text
    }

    /// At a `$` or backtick: records command substitutions, returns the text as written.
    fn expansion(&mut self) -> String {
        let start = self.pos;
        if self.peek(0) == Some('`') {
            self.pos += 1;
            let mut body = String::new();
            while let Some(c) = self.peek(0) {
                self.pos += 1;
                match c {
                    '`' => break,
                    '\\' if matches!(self.peek(0), Some('`' | '\\' | '$')) => {
                        body.push(self.chars[self.pos]);
                        self.pos += 1;
                    }
                    _ => body.push(c),
                }
            }
            self.nested.push(body);
        } else {
            self.pos += 1;
            match (self.peek(0), self.peek(1)) {
                (Some('('), Some('(')) => {
                    self.pos += 2;
                    let body = self.balanced('(', ')');
                    self.close_arithmetic();
                    self.scan_expansions(&body);
                }
                (Some('('), _) => {
                    self.pos += 1;
                    let body = self.balanced('(', ')');
                    self.nested.push(body);
                }
                (Some('{'), _) => {
                    self.pos += 1;
                    let body = self.balanced('{', '}');
                    self.scan_expansions(&body);
                }
                (Some('\''), _) => {
                    // $'...': ANSI-C quoting, backslash escapes, no expansion.
                    self.pos += 1;
                    let mut text = String::new();
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        match c {
                            '\'' => break,
                            '\\' => {
                                if let Some(next) = self.peek(0) {
                                    text.push(next);
                                    self.pos += 1;
                                }
                            }
                            _ => text.push(c),
                        }
                    }
                    return text;
                }
                _ => {}
            }
        }
        self.pos = self.pos.min(self.chars.len());
        self.chars[start..self.pos].iter().collect()
    }

    /// The text up to the `close` that balances an `open` just consumed, skipping quoted
    /// parts (the closing character is consumed, not returned).
    fn balanced(&mut self, open: char, close: char) -> String {
        let start = self.pos;
        let mut depth = 1usize;
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => self.pos += 1,
                '\'' => {
                    self.pos += 1;
                    while self.peek(0).is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                }
                '"' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        if c == '\\' {
                            self.pos += 1;
                        } else if c == '"' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        let body = self.chars[start..self.pos].iter().collect();
                        self.pos += 1;
                        return body;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        // Unbalanced: the rest of the line is the body (the shell would wait for more).
        self.pos = self.chars.len();
        self.chars[start..].iter().collect()
    }

    /// Consumes the second `)` of an arithmetic `))` (`balanced` took the first).
    fn close_arithmetic(&mut self) {
        if self.peek(0) == Some(')') {
            self.pos += 1;
        }
    }

    /// Records the substitutions in `text` read with double-quote rules (a here-document
    /// body, `${...}`, arithmetic).
    fn scan_expansions(&mut self, text: &str) {
        let mut inner = Lexer::new(text);
        inner.double_quoted(None);
        self.nested.extend(inner.nested);
    }
}

struct Parser<'a> {
    out: &'a mut Vec<String>,
    depth: usize,
    /// After `case WORD in` or `;;`: the next segment closed by `)` is a pattern.
    case_pattern: bool,
}

impl Parser<'_> {
    fn run(&mut self, tokens: &[Token]) {
        let mut index = 0;
        while index < tokens.len() {
            // `[[ ... ]]` holds operators (`&&`, `<`, `(`) that are not command separators.
            if tokens[index] == Token::Word("[[".into()) {
                while index < tokens.len() && tokens[index] != Token::Word("]]".into()) {
                    index += 1;
                }
                index += 1;
                continue;
            }
            let mut words = Vec::new();
            let mut terminator = None;
            while index < tokens.len() {
                match &tokens[index] {
                    Token::Word(word) => words.push(word.clone()),
                    // The redirection's target is a file name, not a command.
                    Token::Redirect => index += 1,
                    Token::Op(op) => {
                        terminator = Some(*op);
                        index += 1;
                        break;
                    }
                }
                index += 1;
            }
            // `name() { ...; }`: a function definition, not a command `name`.
            if terminator == Some("(") && tokens.get(index) == Some(&Token::Op(")")) {
                index += 1;
                continue;
            }
            self.segment(&words, terminator);
        }
    }

    fn segment(&mut self, words: &[String], terminator: Option<&str>) {
        if self.case_pattern {
            if words.first().is_some_and(|w| w == "esac") {
                self.case_pattern = false;
                return;
            }
            if terminator == Some(")") {
                self.case_pattern = false;
                return;
            }
            // `a|b)`: alternatives of one pattern.
            if words.is_empty() || terminator == Some("|") {
                return;
            }
            self.case_pattern = false;
        }
        if words.first().is_some_and(|w| w == "case") {
            // `case WORD in PATTERN)`: the pattern may share the segment.
            self.case_pattern = terminator != Some(")");
            return;
        }
        if matches!(terminator, Some(";;" | ";&" | ";;&")) {
            self.case_pattern = true;
        }
        self.command(words);
    }

    /// One simple command: prefix keywords, assignments, then the command word.
    fn command(&mut self, words: &[String]) {
        let mut rest = words;
        while let Some(first) = rest.first() {
            if PREFIX_WORDS.contains(&first.as_str()) {
                rest = &rest[1..];
            } else if first == "function" {
                // `function NAME { BODY; }`: the body's first command follows the name.
                rest = &rest[rest.len().min(2)..];
            } else if let Some((name, value)) = assignment(first) {
                self.code_variable(name, value);
                rest = &rest[1..];
            } else {
                break;
            }
        }
        let Some(word) = rest.first() else {
            return;
        };
        if RESERVED.contains(&word.as_str()) {
            // `for x in ...`, `function f`, `done`, `fi`, `esac`, `}`: no command here.
            return;
        }
        let name = word.rsplit('/').next().unwrap_or(word).to_owned();
        let args = &rest[1..];
        if STATE_BUILTINS.contains(&word.as_str()) {
            self.builtin(word, args);
            return;
        }
        self.out.push(name.clone());
        if let Some((_, value_options)) = WRAPPERS.iter().find(|(w, _)| *w == name) {
            self.wrapped(&name, value_options, args);
        } else if SHELLS.contains(&name.as_str()) {
            if let Some(script) = shell_script(args) {
                self.nested(script);
            }
        } else if name == "find" {
            let mut args = args;
            while let Some(at) = args
                .iter()
                .position(|a| matches!(a.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir"))
            {
                let command = &args[at + 1..];
                let end = command
                    .iter()
                    .position(|a| a == ";" || a == "+")
                    .unwrap_or(command.len());
                self.command(&command[..end]);
                args = &command[end..];
            }
        }
    }

    fn builtin(&mut self, builtin: &str, args: &[String]) {
        match builtin {
            "eval" => self.nested(&args.join(" ")),
            "trap" => {
                if let Some(code) = args.iter().find(|a| !a.starts_with('-')) {
                    self.nested(code);
                }
            }
            // `exec cmd`, `command cmd`, `builtin cmd`: cmd runs (options skipped).
            "exec" | "command" | "builtin" => {
                let start = args
                    .iter()
                    .position(|a| !a.starts_with('-'))
                    .unwrap_or(args.len());
                if !(builtin == "command" && args.iter().any(|a| a == "-v" || a == "-V")) {
                    self.command(&args[start..]);
                }
            }
            _ if DECLARING_BUILTINS.contains(&builtin) => {
                for arg in args {
                    if let Some((name, value)) = assignment(arg) {
                        self.code_variable(name, value);
                    }
                }
            }
            _ => {}
        }
    }

    /// The command a wrapper runs: its arguments after its options (and their values),
    /// `NAME=VALUE` for `env`, and the operand of `timeout`/`chrt`.
    fn wrapped(&mut self, wrapper: &str, value_options: &[&str], args: &[String]) {
        let mut index = 0;
        let mut operand_pending = WRAPPERS_WITH_OPERAND.contains(&wrapper);
        while let Some(arg) = args.get(index) {
            if arg == "--" {
                index += 1;
                break;
            }
            if arg.starts_with('-') && arg.len() > 1 {
                if wrapper == "env" && matches!(arg.as_str(), "-S" | "--split-string") {
                    if let Some(script) = args.get(index + 1) {
                        self.nested(script);
                    }
                    return;
                }
                let takes_value = value_options.contains(&arg.as_str());
                index += if takes_value { 2 } else { 1 };
                continue;
            }
            if wrapper == "env" && assignment(arg).is_some() {
                index += 1;
                continue;
            }
            if operand_pending {
                operand_pending = false;
                index += 1;
                continue;
            }
            break;
        }
        self.command(&args[index.min(args.len())..]);
    }

    fn code_variable(&mut self, name: &str, value: &str) {
        if COMMAND_VARIABLES.contains(&name) {
            self.nested(value);
        } else if EXPANDED_VARIABLES.contains(&name) {
            let mut lexer = Lexer::new("");
            lexer.scan_expansions(value);
            for line in lexer.nested {
                self.nested(&line);
            }
        }
    }

    fn nested(&mut self, line: &str) {
        collect(line, self.out, self.depth + 1);
    }
}

/// `NAME=VALUE` (also `NAME+=VALUE`, `NAME[i]=VALUE`) split into name and value.
fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let name = name.strip_suffix('+').unwrap_or(name);
    let base = name.split('[').next().unwrap_or(name);
    let valid = base
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((base, value))
}

/// The script of `sh -c SCRIPT` (also `-ec`, `-lc`, `-o pipefail -c ...`).
fn shell_script(args: &[String]) -> Option<&str> {
    let at = args
        .iter()
        .position(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains('c'))?;
    args.get(at + 1).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (line, programs) in [
            // Quoting: `;` and words inside quotes are data.
            (r#"python3 -c "import os; print(1)""#, &["python3"][..]),
            ("python3 -c 'import os; os.system(1)'", &["python3"]),
            (r"echo a\;b", &["echo"]),
            ("echo 'a | b' \"c && d\"", &["echo"]),
            ("l's' -la", &["ls"]),
            // Separators and pipelines.
            ("ls; cat x", &["ls", "cat"]),
            ("ls && cat x || grep y", &["ls", "cat", "grep"]),
            ("ls | wc -l |& tee f", &["ls", "wc", "tee"]),
            ("sleep 1 & cat x", &["sleep", "cat"]),
            ("ls\ncat x", &["ls", "cat"]),
            ("(cd src && make)", &["make"]),
            ("{ ls; cat x; }", &["ls", "cat"]),
            // Substitutions, in and out of double quotes.
            ("echo $(cat x)", &["echo", "cat"]),
            ("echo \"$(cat x)\"", &["echo", "cat"]),
            ("echo `cat x`", &["echo", "cat"]),
            ("echo \"`id`\"", &["echo", "id"]),
            ("echo '$(cat x)'", &["echo"]),
            ("echo \\$(cat x)", &["echo", "cat"]),
            ("echo ${x:-$(cat x)}", &["echo", "cat"]),
            ("echo $((1 + $(wc -l < f)))", &["echo", "wc"]),
            ("(( i++ ))", &[]),
            ("echo $(echo $(whoami))", &["echo", "echo", "whoami"]),
            ("diff <(ls a) >(tee b)", &["diff", "ls", "tee"]),
            // Redirections: their targets are files, `2>&1` is no separator.
            ("ls > out 2>&1", &["ls"]),
            ("ls 2>/dev/null >>log", &["ls"]),
            ("cat < in > out", &["cat"]),
            ("ls &> all", &["ls"]),
            ("< in grep x", &["grep"]),
            // Here-documents: an unquoted body expands.
            (
                "cat <<EOF\nhello $(whoami)\nls\nEOF\necho done",
                &["cat", "echo", "whoami"],
            ),
            ("cat <<'EOF'\n$(whoami)\nEOF", &["cat"]),
            ("cat <<-EOF\n\t`id`\n\tEOF", &["cat", "id"]),
            ("grep x <<< \"$(ls)\"", &["grep", "ls"]),
            // Compound commands.
            ("if test -f x; then cat x; else ls; fi", &["cat", "ls"]),
            ("for f in a b; do wc $f; done", &["wc"]),
            ("while read l; do echo $l; done < f", &["echo"]),
            ("case $x in a) ls;; b|c) cat x;; *) ;; esac", &["ls", "cat"]),
            ("case $x in\n a)\n  ls\n  ;;\nesac", &["ls"]),
            ("[[ -f a && -n $(id) ]] && ls", &["ls", "id"]),
            ("f() { ls; }; f", &["ls", "f"]),
            ("function g { cat x; }", &["cat"]),
            ("! grep -q x f", &["grep"]),
            ("time make", &["make"]),
            // Assignments, builtins and wrappers.
            ("FOO=1 git diff", &["git"]),
            ("env FOO=1 git diff", &["env", "git"]),
            ("env -u HOME -i ls", &["env", "ls"]),
            ("sudo -u root cat /etc/shadow", &["sudo", "cat"]),
            ("timeout -s KILL 5 curl x", &["timeout", "curl"]),
            ("nice -n 5 make", &["nice", "make"]),
            ("xargs -I{} rm {}", &["xargs", "rm"]),
            ("find . -name x -exec rm {} \\; -print", &["find", "rm"]),
            ("exec cat x", &["cat"]),
            ("command -v git", &[]),
            ("cd src && pwd", &[]),
            ("export PATH=/x; cat f", &["cat"]),
            ("eval 'cat x; ls'", &["cat", "ls"]),
            ("trap 'curl x' EXIT", &["curl"]),
            ("PROMPT_COMMAND='cat x'", &["cat"]),
            ("export PS1='$(id) '", &["id"]),
            (
                "bash -c 'git fetch; cargo build'",
                &["bash", "git", "cargo"],
            ),
            ("sh -ec \"ls | wc\"", &["sh", "ls", "wc"]),
            ("env -S 'cat x'", &["env", "cat"]),
            ("/usr/bin/git push", &["git"]),
            ("$CMD x", &["$CMD"]),
            ("ls # ; cat x", &["ls"]),
            ("", &[]),
        ] {
            assert_eq!(programs_in(line), programs, "{line:?}");
        }
    }

    #[test]
    fn unbalanced_input_is_read_to_the_end() {
        assert_eq!(programs_in("echo $(cat x"), ["echo", "cat"]);
        assert_eq!(programs_in("echo 'open"), ["echo"]);
        assert_eq!(programs_in("echo \"$(id"), ["echo", "id"]);
    }

    proptest::proptest! {
        #[test]
        fn any_input_is_read_without_panicking(line in "[a-z $()`'\"\\;|&<>{}\n#=-]{0,80}") {
            let _ = programs_in(&line);
        }

        #[test]
        fn quoted_data_never_names_a_program(data in "[a-z ;|&<>(){}]{0,40}") {
            let quoted = data.replace('\'', "");
            proptest::prop_assert_eq!(programs_in(&format!("echo '{quoted}'")), vec!["echo".to_owned()]);
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_followed_forever() {
        let mut line = "ls".to_owned();
        for _ in 0..20 {
            line = format!("echo $({line})");
        }
        let programs = programs_in(&line);
        assert!(programs.iter().any(|p| p.contains('(')), "{programs:?}");
    }
}
