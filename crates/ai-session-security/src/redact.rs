//! Secret redaction: replaces private keys, well-known API token formats and the values of
//! secret-named environment variables with `[redacted:KIND]`, before text leaves the daemon
//! (digests, context packs, MCP answers, audit records).
//!
//! Two passes, both linear in the input: one regex over every token format (its literal
//! prefixes drive the `regex` crate's SIMD prefilter, so ordinary text is skipped at memory
//! speed; a candidate is then classified by the one pattern that matched), and one literal
//! search for the session's secret values. Patterns are format-exact (prefix, alphabet and
//! length), so a commit hash, a UUID or a base64 blob is left alone.
//!
//! ```
//! use ai_session_security::redact::Redactor;
//! let redactor = Redactor::new().with_env([("DEPLOY_TOKEN", "s3cr3t-value-123")]);
//! let text = "push with s3cr3t-value-123 to https://bob:hunter22@git.example/x";
//! assert_eq!(
//!     redactor.redact(text),
//!     "push with [redacted:env:DEPLOY_TOKEN] to https://bob:[redacted:url_password]@git.example/x"
//! );
//! assert_eq!(redactor.redact("nothing to see"), "nothing to see");
//! ```

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// One token format: its kind and a pattern; a pattern with a capture group redacts only
/// the group (the secret), keeping its context (`aws_secret_access_key = `) or the one
/// character that ends a token whose alphabet has `-` (where `\b` cannot end it).
struct Format {
    kind: &'static str,
    pattern: &'static str,
}

/// Every format, most specific first (an alternation picks the first branch that matches,
/// so `sk-ant-` must come before the generic `sk-`). Tokens start and end at a word
/// boundary (ASCII), so a longer run of letters is not a token.
const FORMATS: &[Format] = &[
    Format {
        kind: "private_key",
        // PEM (RSA, EC, DSA, PKCS#8, encrypted, OpenSSH, PGP) to its END line, also when
        // its newlines are JSON escapes (`\n` in a service-account file); cut at the end of
        // the text when the END line is missing.
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
    },
    Format {
        kind: "aws_access_key_id",
        pattern: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?-u:\b)",
    },
    Format {
        kind: "aws_secret_access_key",
        pattern: r#"(?-u:\b)(?i:aws_?secret_?(?:access_?)?key)["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|\z)"#,
    },
    Format {
        kind: "github_pat",
        pattern: r"(?-u:\b)github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
    },
    Format {
        kind: "github_token",
        pattern: r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36}(?-u:\b)",
    },
    Format {
        kind: "gitlab_token",
        pattern: r"(?-u:\b)(glpat-[A-Za-z0-9_\-]{20,})",
    },
    Format {
        kind: "slack_token",
        pattern: r"(?-u:\b)xox[abposr]-[0-9]{10,13}-[0-9A-Za-z\-]{10,}",
    },
    Format {
        kind: "slack_webhook",
        pattern: r"https://hooks\.slack\.com/services/T[A-Z0-9]{8,}/B[A-Z0-9]{8,}/[A-Za-z0-9]{24}",
    },
    Format {
        kind: "stripe_key",
        pattern: r"(?-u:\b)(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99}(?-u:\b)",
    },
    Format {
        kind: "google_api_key",
        pattern: r"(?-u:\b)(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|\z)",
    },
    Format {
        kind: "google_oauth_token",
        pattern: r"(?-u:\b)ya29\.[0-9A-Za-z_\-]{30,}",
    },
    Format {
        kind: "anthropic_key",
        pattern: r"(?-u:\b)sk-ant-(?:api|admin|oat)[0-9]{2}-[A-Za-z0-9_\-]{80,}",
    },
    Format {
        kind: "openai_key",
        pattern: r"(?-u:\b)(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48}))(?:[^A-Za-z0-9_\-]|\z)",
    },
    Format {
        kind: "npm_token",
        pattern: r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)",
    },
    Format {
        kind: "pypi_token",
        pattern: r"(?-u:\b)pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
    },
    Format {
        kind: "huggingface_token",
        pattern: r"(?-u:\b)hf_[A-Za-z0-9]{34}(?-u:\b)",
    },
    Format {
        kind: "sendgrid_key",
        pattern: r"(?-u:\b)(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|\z)",
    },
    Format {
        kind: "digitalocean_token",
        pattern: r"(?-u:\b)do[opr]_v1_[a-f0-9]{64}(?-u:\b)",
    },
    Format {
        kind: "shopify_token",
        pattern: r"(?-u:\b)shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?-u:\b)",
    },
    Format {
        kind: "jwt",
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
    },
    Format {
        kind: "url_password",
        // `scheme://user:PASSWORD@host`: only the password. Anchored on `://`, a literal,
        // so the scan's prefilter keeps working (a leading class would disable it).
        pattern: r"://[^/\s:@]+:([^/\s@]{1,256})@",
    },
];

struct Compiled {
    /// Every format in one alternation (for the scan).
    any: Regex,
    /// Each format alone, anchored (to classify a match and find its secret group).
    each: Vec<(&'static str, Regex)>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let any = FORMATS
        .iter()
        .map(|f| format!("(?:{})", f.pattern))
        .collect::<Vec<_>>()
        .join("|");
    Compiled {
        any: Regex::new(&any).expect("the redaction formats compile"),
        each: FORMATS
            .iter()
            .map(|f| {
                let anchored = format!(r"\A(?:{})", f.pattern);
                (
                    f.kind,
                    Regex::new(&anchored).expect("a redaction format compiles"),
                )
            })
            .collect(),
    }
});

/// Environment variable names whose values are secrets: containing `TOKEN`, `SECRET`,
/// `PASSWORD`, `PASSWD`, `CREDENTIAL`, `API_KEY`/`APIKEY`, or ending in `_KEY`/`_PAT`.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "API_KEY",
        "APIKEY",
    ]
    .iter()
    .any(|part| upper.contains(part))
        || upper.ends_with("_KEY")
        || upper.ends_with("_PAT")
}

/// Values shorter than this are not redacted (`PASSWORD=x` would redact every `x`).
pub const MIN_SECRET_VALUE_LEN: usize = 8;

/// One secret found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Byte range of the secret.
    pub range: Range<usize>,
    /// What it is (`github_token`, `private_key`, `env:NAME`, ...).
    pub kind: String,
}

/// Finds and replaces secrets. [`Redactor::new`] knows the token formats; add the
/// session's environment with [`Redactor::with_env`].
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Secret values (longest first, so a value containing another wins) and their kinds.
    values: Vec<(String, String)>,
    /// One search over every value.
    value_search: Option<Regex>,
}

impl Redactor {
    /// A redactor for the token formats only.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Adds the values of the secret-named variables of `env` ([`is_secret_name`],
    /// at least [`MIN_SECRET_VALUE_LEN`] bytes).
    pub fn with_env<'a, I, K, V>(mut self, env: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str> + 'a,
        V: AsRef<str> + 'a,
    {
        for (name, value) in env {
            let (name, value) = (name.as_ref(), value.as_ref());
            if is_secret_name(name) && value.len() >= MIN_SECRET_VALUE_LEN {
                self.values.push((value.to_owned(), format!("env:{name}")));
            }
        }
        self.values
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        self.values.dedup_by(|a, b| a.0 == b.0);
        self.value_search = (!self.values.is_empty()).then(|| {
            let alternation = self
                .values
                .iter()
                .map(|(value, _)| regex::escape(value))
                .collect::<Vec<_>>()
                .join("|");
            Regex::new(&alternation).expect("escaped literals compile")
        });
        self
    }

    /// Every secret in `text`, in order, not overlapping.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let compiled = &*COMPILED;
        let mut found: Vec<Finding> = Vec::new();
        for candidate in compiled.any.find_iter(text) {
            let rest = &text[candidate.start()..];
            let classified = compiled
                .each
                .iter()
                .find_map(|(kind, regex)| regex.captures(rest).map(|c| (*kind, c)));
            let Some((kind, captures)) = classified else {
                continue;
            };
            let secret = captures.get(1).or_else(|| captures.get(0));
            if let Some(secret) = secret {
                found.push(Finding {
                    range: candidate.start() + secret.start()..candidate.start() + secret.end(),
                    kind: kind.to_owned(),
                });
            }
        }
        if let Some(search) = &self.value_search {
            for value in search.find_iter(text) {
                let kind = self
                    .values
                    .iter()
                    .find(|(v, _)| v == value.as_str())
                    .map_or("env", |(_, kind)| kind.as_str());
                found.push(Finding {
                    range: value.range(),
                    kind: kind.to_owned(),
                });
            }
            found.sort_by(|a, b| {
                a.range
                    .start
                    .cmp(&b.range.start)
                    .then(b.range.end.cmp(&a.range.end))
            });
            let mut end = 0;
            found.retain(|f| {
                let keep = f.range.start >= end;
                if keep {
                    end = f.range.end;
                }
                keep
            });
        }
        found
    }

    /// `text` with every secret replaced by `[redacted:KIND]`; borrowed when there is none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let found = self.find(text);
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for finding in found {
            out.push_str(&text[at..finding.range.start]);
            out.push_str("[redacted:");
            out.push_str(&finding.kind);
            out.push(']');
            at = finding.range.end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// [`Redactor::redact`] with the token formats only.
pub fn redact(text: &str) -> Cow<'_, str> {
    static FORMATS_ONLY: LazyLock<Redactor> = LazyLock::new(Redactor::new);
    FORMATS_ONLY.redact(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "api_key",
            "STRIPE_API_KEY",
            "NPM_TOKEN",
            "SSH_KEY",
            "GITLAB_PAT",
            "client_secret",
            "MYSQL_PWD_PASSWD",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "KEYBOARD",
            "TERM",
            "TOKENIZERS_PARALLELISM_X",
        ] {
            // TOKEN inside a longer word still counts: better a redacted value than a leak.
            assert_eq!(is_secret_name(name), name.contains("TOKEN"), "{name}");
        }
    }

    #[test]
    fn values_are_matched_longest_first_and_short_ones_skipped() {
        let redactor = Redactor::new().with_env([
            ("A_TOKEN", "abcdefgh"),
            ("B_TOKEN", "abcdefgh-longer"),
            ("SHORT_PASSWORD", "x"),
            ("PATH", "/usr/bin:/bin"),
        ]);
        assert_eq!(
            redactor.redact("abcdefgh-longer abcdefgh x /usr/bin:/bin"),
            "[redacted:env:B_TOKEN] [redacted:env:A_TOKEN] x /usr/bin:/bin"
        );
    }

    #[test]
    fn a_pem_block_without_its_end_is_cut_to_the_end() {
        let text = "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA";
        assert_eq!(redact(text), "key:\n[redacted:private_key]");
    }
}
