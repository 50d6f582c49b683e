//! NATS-style subjects: dot-separated tokens; in patterns `*` matches one token and `>` (last
//! token only) matches one or more. The local bus uses the same rules so both backends agree.

use crate::error::{CoordError, Result};

/// Checks a topic a message is published to (no wildcards, no empty tokens, no whitespace).
pub fn validate_topic(topic: &str) -> Result<()> {
    validate(topic, false)
}

/// Checks a subscription pattern (`*` and a final `>` allowed).
pub fn validate_pattern(pattern: &str) -> Result<()> {
    validate(pattern, true)
}

fn validate(topic: &str, wildcards: bool) -> Result<()> {
    let invalid = |reason| {
        Err(CoordError::InvalidTopic {
            topic: topic.to_owned(),
            reason,
        })
    };
    if topic.is_empty() {
        return invalid("empty");
    }
    if topic.chars().any(char::is_whitespace) {
        return invalid("contains whitespace");
    }
    let mut tokens = topic.split('.').peekable();
    while let Some(token) = tokens.next() {
        let last = tokens.peek().is_none();
        match token {
            "" => return invalid("empty token (leading, trailing or double dot)"),
            "*" | ">" if !wildcards => return invalid("wildcards are only allowed in patterns"),
            ">" if !last => return invalid("'>' must be the last token"),
            _ if token.len() > 1 && (token.contains('*') || token.contains('>')) => {
                return invalid("'*' and '>' must be whole tokens");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `topic` matches `pattern` (both assumed valid).
pub fn matches(pattern: &str, topic: &str) -> bool {
    let mut topic_tokens = topic.split('.');
    for p in pattern.split('.') {
        match (p, topic_tokens.next()) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(_)) => {}
            (p, Some(t)) if p == t => {}
            _ => return false,
        }
    }
    topic_tokens.next().is_none()
}

/// Whether a pattern contains wildcards (an exact pattern can be looked up directly).
pub fn is_exact(pattern: &str) -> bool {
    !pattern.split('.').any(|t| t == "*" || t == ">")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, topic: &str, expected: bool) {
        assert_eq!(matches(pattern, topic), expected, "{pattern} vs {topic}");
    }

    #[test]
    fn wildcards_match_like_nats() {
        check("a.b", "a.b", true);
        check("a.b", "a.c", false);
        check("a.*", "a.b", true);
        check("a.*", "a.b.c", false);
        check("a.>", "a.b.c", true);
        check("a.>", "a", false);
        check("*.b.>", "x.b.y", true);
        check(">", "anything.at.all", true);
        check("a.b.c", "a.b", false);
    }

    #[test]
    fn invalid_topics_are_rejected() {
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>"] {
            assert!(validate_topic(bad).is_err(), "{bad:?}");
        }
        for bad in ["a.>.b", "a.b*", "a.>x"] {
            assert!(validate_pattern(bad).is_err(), "{bad:?}");
        }
        for good in ["a.*.c", "a.>", "*", ">"] {
            validate_pattern(good).unwrap();
        }
    }
}
