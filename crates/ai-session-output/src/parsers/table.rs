//! Whitespace-aligned tables (ps, top, df, ss, netstat, free).

/// Split into at most `n` whitespace-separated fields; the last keeps its
/// inner spaces (a command line, a mount point with spaces).
pub(crate) fn split_fields(line: &str, n: usize) -> Vec<&str> {
    let mut fields = Vec::with_capacity(n);
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if fields.len() + 1 == n {
            fields.push(rest.trim_end());
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    fields
}

/// Parse a number that may carry a `%` sign.
pub(crate) fn number(text: &str) -> Option<f64> {
    text.trim_end_matches('%').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::split_fields;

    #[test]
    fn fields() {
        assert_eq!(split_fields("  a b   c d e", 3), ["a", "b", "c d e"]);
        assert_eq!(split_fields("a", 3), ["a"]);
        assert_eq!(split_fields("", 3), Vec::<&str>::new());
    }
}
