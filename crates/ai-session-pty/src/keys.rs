//! Named keys (tmux style: `C-c`, `Enter`, `Up`, `M-x`, `F5`) to the bytes a terminal sends.

use crate::error::{PtyError, Result};

/// What to do with a word that is not a key name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKey {
    /// Send it as literal text (what `tmux send-keys` does).
    Literal,
    /// Fail with [`PtyError::UnknownKey`].
    Error,
}

/// Encode one key name (a single character stands for itself). `application_cursor` selects `ESC O A` over `ESC [ A` for the cursor keys
/// (programs such as `less` and `vim` switch the terminal into that mode).
pub fn encode_key(name: &str, application_cursor: bool) -> Option<Vec<u8>> {
    if let Some(bytes) = plain_key(name, application_cursor) {
        return Some(bytes);
    }
    if let Some(c) = single_char(name) {
        return Some(c.into_bytes());
    }
    let (mods, base) = split_modifiers(name)?;
    if mods == Modifiers::default() {
        return None;
    }
    if let Some(final_byte) = cursor_final(base) {
        // xterm: CSI 1 ; <1 + shift + 2*alt + 4*ctrl> <final>
        let code = 1 + u8::from(mods.shift) + 2 * u8::from(mods.alt) + 4 * u8::from(mods.ctrl);
        return Some(format!("\x1b[1;{code}{}", final_byte as char).into_bytes());
    }
    let mut bytes = if mods.ctrl {
        vec![control_byte(base)?]
    } else if let Some(b) = plain_key(base, application_cursor) {
        b
    } else {
        single_char(base)?.into_bytes()
    };
    if mods.shift && !mods.ctrl {
        bytes = String::from_utf8(bytes).ok()?.to_uppercase().into_bytes();
    }
    if mods.alt {
        bytes.insert(0, 0x1b);
    }
    Some(bytes)
}

/// Encode a sequence of words: each key name becomes its bytes; other words follow `unknown`.
pub fn encode_keys<S: AsRef<str>>(
    words: &[S],
    unknown: UnknownKey,
    application_cursor: bool,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for word in words {
        let word = word.as_ref();
        match (encode_key(word, application_cursor), unknown) {
            (Some(bytes), _) => out.extend(bytes),
            (None, UnknownKey::Literal) => out.extend_from_slice(word.as_bytes()),
            (None, UnknownKey::Error) => {
                return Err(PtyError::UnknownKey {
                    name: word.to_owned(),
                });
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Modifiers {
    ctrl: bool,
    alt: bool,
    shift: bool,
}

/// Split `C-M-x` into modifiers and `x`. A trailing `-` is the key itself (`C--`).
fn split_modifiers(name: &str) -> Option<(Modifiers, &str)> {
    let mut mods = Modifiers::default();
    let mut rest = name;
    while rest.len() > 2 && rest.as_bytes()[1] == b'-' {
        match rest.as_bytes()[0] {
            b'C' | b'c' => mods.ctrl = true,
            b'M' | b'm' => mods.alt = true,
            b'S' | b's' => mods.shift = true,
            _ => return None,
        }
        rest = &rest[2..];
    }
    if rest.len() == 2 && rest.starts_with('^') {
        mods.ctrl = true;
        rest = &rest[1..];
    }
    Some((mods, rest))
}

fn single_char(s: &str) -> Option<String> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then(|| c.to_string())
}

fn control_byte(base: &str) -> Option<u8> {
    if base.eq_ignore_ascii_case("space") {
        return Some(0);
    }
    let [b] = base.as_bytes() else {
        return None;
    };
    match b {
        b'a'..=b'z' => Some(b - b'a' + 1),
        b'A'..=b'Z' => Some(b - b'A' + 1),
        b'@' | b' ' | b'2' => Some(0),
        b'[' | b'3' => Some(0x1b),
        b'\\' | b'4' => Some(0x1c),
        b']' | b'5' => Some(0x1d),
        b'^' | b'6' => Some(0x1e),
        b'_' | b'-' | b'7' | b'/' => Some(0x1f),
        b'?' | b'8' => Some(0x7f),
        _ => None,
    }
}

fn cursor_final(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().as_str() {
        "up" => Some(b'A'),
        "down" => Some(b'B'),
        "right" => Some(b'C'),
        "left" => Some(b'D'),
        "home" => Some(b'H'),
        "end" => Some(b'F'),
        _ => None,
    }
}

fn plain_key(name: &str, application_cursor: bool) -> Option<Vec<u8>> {
    if let Some(final_byte) = cursor_final(name) {
        let intro = if application_cursor { b'O' } else { b'[' };
        return Some(vec![0x1b, intro, final_byte]);
    }
    let bytes: &[u8] = match name.to_ascii_lowercase().as_str() {
        "enter" | "return" | "cr" => b"\r",
        "lf" | "linefeed" => b"\n",
        "tab" => b"\t",
        "btab" | "backtab" => b"\x1b[Z",
        "escape" | "esc" => b"\x1b",
        "space" => b" ",
        "bspace" | "backspace" | "bs" => b"\x7f",
        "dc" | "delete" | "del" => b"\x1b[3~",
        "ic" | "insert" | "ins" => b"\x1b[2~",
        "ppage" | "pageup" | "pgup" => b"\x1b[5~",
        "npage" | "pagedown" | "pgdn" => b"\x1b[6~",
        "f1" => b"\x1bOP",
        "f2" => b"\x1bOQ",
        "f3" => b"\x1bOR",
        "f4" => b"\x1bOS",
        "f5" => b"\x1b[15~",
        "f6" => b"\x1b[17~",
        "f7" => b"\x1b[18~",
        "f8" => b"\x1b[19~",
        "f9" => b"\x1b[20~",
        "f10" => b"\x1b[21~",
        "f11" => b"\x1b[23~",
        "f12" => b"\x1b[24~",
        _ => return None,
    };
    Some(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_table() {
        let cases: &[(&str, &[u8])] = &[
            ("C-c", b"\x03"),
            ("C-d", b"\x04"),
            ("^C", b"\x03"),
            ("C-[", b"\x1b"),
            ("C-Space", b"\x00"),
            ("Enter", b"\r"),
            ("Tab", b"\t"),
            ("Escape", b"\x1b"),
            ("BSpace", b"\x7f"),
            ("Up", b"\x1b[A"),
            ("Down", b"\x1b[B"),
            ("F1", b"\x1bOP"),
            ("F12", b"\x1b[24~"),
            ("M-x", b"\x1bx"),
            ("C-M-a", b"\x1b\x01"),
            ("S-Up", b"\x1b[1;2A"),
            ("C-Left", b"\x1b[1;5D"),
            ("PageDown", b"\x1b[6~"),
            ("q", b"q"),
        ];
        for (name, bytes) in cases {
            assert_eq!(encode_key(name, false).as_deref(), Some(*bytes), "{name}");
        }
        assert_eq!(encode_key("Up", true).as_deref(), Some(&b"\x1bOA"[..]));
        assert_eq!(encode_key("hello", false), None);
        assert_eq!(encode_key("C-", false), None);
    }

    #[test]
    fn words_literal_or_error() {
        let bytes = encode_keys(&["echo hi", "Enter"], UnknownKey::Literal, false).unwrap();
        assert_eq!(bytes, b"echo hi\r");
        assert!(encode_keys(&["Nope"], UnknownKey::Error, false).is_err());
    }
}
