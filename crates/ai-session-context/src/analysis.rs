//! The bridge to `ai-session-output`: normalised text and digest of one command's output.
//!
//! TEMPORARY stand-in until `ai_session_output::analyze` lands on main; the real call replaces
//! the body of [`analyze`] and nothing else in this crate changes.

/// What the context needs from the output pipeline for one command.
#[derive(Debug, Clone)]
pub struct Analyzed {
    /// The output as a person saw it (escape sequences removed, `\r` overwrites applied).
    pub normalized: String,
    /// The output crate's digest under the configured budget.
    pub digest: String,
}

/// Normalises and digests `raw`, the output of `command`.
pub fn analyze(
    _command: &str,
    raw: &[u8],
    _exit_code: Option<i32>,
    _budget: usize,
    _more_hint: Option<String>,
) -> Analyzed {
    let normalized = strip_escapes(&String::from_utf8_lossy(raw));
    let lines: Vec<&str> = normalized.lines().collect();
    let digest = if lines.len() <= 60 {
        normalized.clone()
    } else {
        let mut kept: Vec<&str> = lines[..10].to_vec();
        kept.extend(lines[10..lines.len() - 10].iter().filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("fail") || l.contains("panicked")
        }));
        kept.extend_from_slice(&lines[lines.len() - 10..]);
        kept.join("\n")
    };
    Analyzed { normalized, digest }
}

fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut line_start = 0;
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                Some('(') => {
                    chars.next();
                }
                _ => {}
            },
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => out.truncate(line_start),
            '\n' => {
                out.push('\n');
                line_start = out.len();
            }
            c => out.push(c),
        }
    }
    out
}
