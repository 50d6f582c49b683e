//! tmux configuration text (`-f`, `~/.tmux.conf`, `source-file`): lines, comments, `\`
//! continuations and tmux's quoting, turned into argv words for the command grammar.

/// Logical lines: comments dropped, `\`-newline continuations joined.
pub fn lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        if let Some(body) = raw.strip_suffix('\\') {
            current.push_str(body);
            continue;
        }
        current.push_str(raw);
        let line = std::mem::take(&mut current);
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            out.push(trimmed.to_owned());
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// Splits a line into words: `'...'` literal, `"..."` with `\` escapes, `\x` outside quotes,
/// `#` starting a comment between words, `~` at a word's start as `$HOME`, and `;` ending a
/// command (kept as its own word).
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            ';' if !in_word => words.push(";".into()),
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated quote: {line}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => word.push('\n'),
                            Some('t') => word.push('\t'),
                            Some(c) => word.push(c),
                            None => return Err(format!("unterminated quote: {line}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated quote: {line}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '~' if !in_word => {
                in_word = true;
                match std::env::var("HOME") {
                    Ok(home) => word.push_str(&home),
                    Err(_) => word.push('~'),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_tmux_quoting() {
        assert_eq!(
            split_words(r#"set -g status-left "[#S] " # comment"#).unwrap(),
            ["set", "-g", "status-left", "[#S] "]
        );
        assert_eq!(
            split_words("bind x 'a b' ; ls").unwrap(),
            ["bind", "x", "a b", ";", "ls"]
        );
        assert_eq!(
            lines("set -g base-index 1\n\n# c\nset \\\n -g x y\n"),
            ["set -g base-index 1", "set  -g x y"]
        );
    }
}
