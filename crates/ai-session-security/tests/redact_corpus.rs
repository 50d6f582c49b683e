//! Redaction against a corpus of token formats: synthetic values, exact in prefix,
//! alphabet and length (generated here, so no live-looking secret sits in the repository),
//! each in the contexts tools print them in; near-misses that must stay; and the real
//! command outputs of `shared/corpus`, which hold no secret and must come out unchanged.

use ai_session_security::redact::{Redactor, redact};

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const DIGITS: &str = "0123456789";
const HEX: &str = "0123456789abcdef";
const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn alnum() -> String {
    format!("{UPPER}{LOWER}{DIGITS}")
}

fn url_safe() -> String {
    format!("{}_-", alnum())
}

/// A small deterministic generator: the corpus is the same on every run.
struct Chars(u64);

impl Chars {
    fn pick(&mut self, alphabet: &str, len: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                chars[(self.0 % chars.len() as u64) as usize]
            })
            .collect()
    }
}

/// (kind, token) pairs in every format the redactor knows.
fn tokens() -> Vec<(&'static str, String)> {
    let mut g = Chars(0x9e37_79b9_7f4a_7c15);
    let an = alnum();
    let us = url_safe();
    let b64 = format!("{}+/", alnum());
    let jwt_header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    let jwt_payload = "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ";
    let pem_body: String = (0..6)
        .map(|_| g.pick(&b64, 64))
        .collect::<Vec<_>>()
        .join("\n");
    vec![
        ("github_token", format!("ghp_{}", g.pick(&an, 36))),
        ("github_token", format!("gho_{}", g.pick(&an, 36))),
        ("github_token", format!("ghs_{}", g.pick(&an, 36))),
        ("github_token", format!("ghu_{}", g.pick(&an, 36))),
        ("github_token", format!("ghr_{}", g.pick(&an, 36))),
        (
            "github_pat",
            format!("github_pat_{}_{}", g.pick(&an, 22), g.pick(&an, 59)),
        ),
        ("gitlab_token", format!("glpat-{}", g.pick(&us, 20))),
        (
            "slack_token",
            format!(
                "xoxb-{}-{}-{}",
                g.pick(DIGITS, 12),
                g.pick(DIGITS, 13),
                g.pick(&an, 24)
            ),
        ),
        (
            "slack_token",
            format!(
                "xoxp-{}-{}-{}-{}",
                g.pick(DIGITS, 11),
                g.pick(DIGITS, 12),
                g.pick(DIGITS, 12),
                g.pick(HEX, 32)
            ),
        ),
        (
            "slack_webhook",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                g.pick(&format!("{UPPER}{DIGITS}"), 8),
                g.pick(&format!("{UPPER}{DIGITS}"), 10),
                g.pick(&an, 24)
            ),
        ),
        ("stripe_key", format!("sk_live_{}", g.pick(&an, 24))),
        ("stripe_key", format!("rk_live_{}", g.pick(&an, 99))),
        ("stripe_key", format!("sk_test_{}", g.pick(&an, 34))),
        ("google_api_key", format!("AIza{}", g.pick(&us, 35))),
        ("google_oauth_token", format!("ya29.{}", g.pick(&us, 120))),
        ("openai_key", format!("sk-proj-{}", g.pick(&us, 156))),
        ("openai_key", format!("sk-svcacct-{}", g.pick(&us, 120))),
        ("openai_key", format!("sk-{}", g.pick(&an, 48))),
        (
            "openai_key",
            format!("sk-{}T3BlbkFJ{}", g.pick(&an, 20), g.pick(&an, 20)),
        ),
        (
            "anthropic_key",
            format!("sk-ant-api03-{}AA", g.pick(&us, 93)),
        ),
        (
            "anthropic_key",
            format!("sk-ant-admin01-{}AA", g.pick(&us, 93)),
        ),
        ("npm_token", format!("npm_{}", g.pick(&an, 36))),
        (
            "pypi_token",
            format!("pypi-AgEIcHlwaS5vcmc{}", g.pick(&us, 150)),
        ),
        ("huggingface_token", format!("hf_{}", g.pick(&an, 34))),
        (
            "sendgrid_key",
            format!("SG.{}.{}", g.pick(&us, 22), g.pick(&us, 43)),
        ),
        ("digitalocean_token", format!("dop_v1_{}", g.pick(HEX, 64))),
        ("shopify_token", format!("shpat_{}", g.pick(HEX, 32))),
        (
            "jwt",
            format!("{jwt_header}.{jwt_payload}.{}", g.pick(&us, 43)),
        ),
        ("aws_access_key_id", format!("AKIA{}", g.pick(BASE32, 16))),
        ("aws_access_key_id", format!("ASIA{}", g.pick(BASE32, 16))),
        (
            "private_key",
            format!("-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----"),
        ),
        (
            "private_key",
            format!(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE{}\n-----END OPENSSH PRIVATE KEY-----",
                g.pick(&b64, 200)
            ),
        ),
        (
            "private_key",
            format!(
                "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----",
                g.pick(&b64, 160)
            ),
        ),
        (
            "private_key",
            format!("-----BEGIN PRIVATE KEY-----\n{pem_body}\n-----END PRIVATE KEY-----"),
        ),
        (
            "private_key",
            format!(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{pem_body}\n-----END ENCRYPTED PRIVATE KEY-----"
            ),
        ),
        (
            "private_key",
            format!(
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{pem_body}\n-----END PGP PRIVATE KEY BLOCK-----"
            ),
        ),
        (
            // A service-account JSON file: the newlines are `\n` escapes.
            "private_key",
            format!(
                "-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----",
                g.pick(&b64, 300)
            ),
        ),
    ]
}

/// The ways tools print a token.
fn contexts(token: &str) -> Vec<String> {
    vec![
        token.to_owned(),
        format!("export API_THING={token}\n"),
        format!("{{\"key\": \"{token}\", \"other\": 1}}"),
        format!("Authorization: Bearer {token}\r\n"),
        format!("error: bad credentials '{token}'."),
        format!("  token = {token} # set by ci"),
        format!("line one\n{token}\nline three"),
    ]
}

#[test]
fn every_format_is_redacted_in_every_context() {
    for (kind, token) in tokens() {
        for text in contexts(&token) {
            let out = redact(&text);
            assert!(
                !out.contains(&token),
                "{kind} survived in {text:?}: {out:?}"
            );
            let marker = format!("[redacted:{kind}]");
            assert!(
                out.contains(&marker),
                "{text:?} gave {out:?}, wanted {marker}"
            );
            // Only the token went: the text around it is intact.
            assert_eq!(out.replacen(&marker, &token, 1), text, "{kind}");
        }
    }
}

#[test]
fn context_formats_keep_their_context() {
    let mut g = Chars(42);
    let secret = g.pick(&format!("{}+/", alnum()), 40);
    for text in [
        format!("aws_secret_access_key = {secret}"),
        format!("AWS_SECRET_ACCESS_KEY={secret}\n"),
        format!("\"aws_secret_key\": \"{secret}\""),
        format!("aws_secret_access_key={secret}"),
    ] {
        let out = redact(&text);
        assert_eq!(
            out,
            text.replace(&secret, "[redacted:aws_secret_access_key]"),
            "{text:?}"
        );
    }
    let url = "git clone https://deploy:Sup3r-S3cret!@git.example.com/team/repo.git";
    assert_eq!(
        redact(url),
        "git clone https://deploy:[redacted:url_password]@git.example.com/team/repo.git"
    );
    assert_eq!(
        redact("postgres://app:pw@db:5432/x and redis://:onlypass@cache/0"),
        "postgres://app:[redacted:url_password]@db:5432/x and redis://:onlypass@cache/0"
    );
}

#[test]
fn near_misses_are_left_alone() {
    let mut g = Chars(7);
    let an = alnum();
    let near = [
        format!("ghp_{}", g.pick(&an, 35)),
        format!("ghp_{}", g.pick(&an, 37)),
        format!("GHP_{}", g.pick(&an, 36)),
        format!("xghp_{}", g.pick(&an, 36)),
        format!("AKIA{}", g.pick(BASE32, 15)),
        format!("AKIA{}", g.pick(LOWER, 16)),
        format!("AKIA{}01", g.pick(BASE32, 14)),
        format!("sk-{}", g.pick(&an, 20)),
        format!("sk_live_{}", g.pick(&an, 10)),
        format!("AIza{}", g.pick(&an, 20)),
        format!("npm_{}", g.pick(&an, 20)),
        format!("hf_{}", g.pick(&an, 10)),
        format!("glpat-{}", g.pick(&an, 12)),
        "xoxb-123-abc".to_owned(),
        format!("dop_v1_{}", g.pick(HEX, 10)),
        format!("shpat_{}", g.pick(HEX, 31)),
        format!("aws_secret_access_key = {}", g.pick(&an, 20)),
        "eyJhbGciOiJIUzI1NiJ9 is a header, not a token".to_owned(),
        // Hashes, ids and blobs.
        "commit 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 (HEAD -> main)".to_owned(),
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        "id 123e4567-e89b-12d3-a456-426614174000".to_owned(),
        format!("data: {}", g.pick(&format!("{an}+/"), 200)),
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----".to_owned(),
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----".to_owned(),
        "scp user@host:/path .".to_owned(),
        "see https://example.com/users/@alice and mailto:bob@example.com".to_owned(),
        "password: ******** (hidden)".to_owned(),
        "task-1234-sk-live-migration done".to_owned(),
    ];
    for text in near {
        assert_eq!(redact(&text), text, "redacted a near-miss");
    }
}

#[test]
fn session_environment_values_are_redacted() {
    let env = [
        ("DEPLOY_TOKEN", "dpl-4f8e2a9c1b7d"),
        ("DATABASE_PASSWORD", "correct horse battery"),
        ("SIGNING_KEY", "k3y-material-000111"),
        ("CLIENT_SECRET", "cs_abcdefgh"),
        ("HOME", "/home/agent"),
        ("SHORT_TOKEN", "abc"),
    ];
    let redactor = Redactor::new().with_env(env);
    let text = "using dpl-4f8e2a9c1b7d and 'correct horse battery' with k3y-material-000111, cs_abcdefgh in /home/agent (abc)";
    assert_eq!(
        redactor.redact(text),
        "using [redacted:env:DEPLOY_TOKEN] and '[redacted:env:DATABASE_PASSWORD]' with \
         [redacted:env:SIGNING_KEY], [redacted:env:CLIENT_SECRET] in /home/agent (abc)"
    );
    // A value that is also a known format is named by its format.
    let (_, github) = tokens().remove(0);
    let redactor = Redactor::new().with_env([("GITHUB_TOKEN", github.as_str())]);
    assert_eq!(redactor.redact(&github), "[redacted:github_token]");
}

/// `AI_SESSION_CORPUS`, else `shared/corpus` beside the checkout (a worktree sits one
/// level deeper).
fn corpus_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("AI_SESSION_CORPUS") {
        return dir.into();
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../../../shared/corpus", "../../../../shared/corpus"]
        .iter()
        .map(|rel| manifest.join(rel))
        .find(|dir| dir.join("README.md").is_file())
        .unwrap_or_else(|| manifest.join("../../../shared/corpus"))
}

fn corpus_outputs() -> Vec<(String, String)> {
    let dir = corpus_dir();
    let mut outputs = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("shared/corpus beside the repository") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "raw") {
            let bytes = std::fs::read(&path).unwrap();
            outputs.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    assert!(outputs.len() >= 20, "corpus not found in {}", dir.display());
    outputs
}

#[test]
fn real_command_outputs_come_out_unchanged_but_for_their_one_secret() {
    let mut secrets = Vec::new();
    for (name, text) in corpus_outputs() {
        for finding in Redactor::new().find(&text) {
            let file = name.rsplit('/').next().unwrap_or(&name).to_owned();
            secrets.push((file, finding.kind, text[finding.range].to_owned()));
        }
    }
    // `env` printed a database URL with its password: the one true secret in the corpus.
    assert_eq!(
        secrets,
        [(
            "env_listing.raw".to_owned(),
            "url_password".to_owned(),
            "changeme".to_owned()
        )]
    );
}

/// `cargo test --release -p ai-session-security --test redact_corpus -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let mut text = String::new();
    let outputs = corpus_outputs();
    while text.len() < 32 << 20 {
        for (_, output) in &outputs {
            text.push_str(output);
        }
    }
    let env: Vec<(String, String)> = (0..20)
        .map(|i| (format!("SECRET_{i}_TOKEN"), format!("value-number-{i}-xyz")))
        .collect();
    for (label, redactor) in [
        ("formats only", Redactor::new()),
        (
            "formats + 20 env values",
            Redactor::new().with_env(env.clone()),
        ),
    ] {
        let _ = redactor.redact(&text[..1 << 20]);
        let start = std::time::Instant::now();
        let out = redactor.redact(&text);
        let elapsed = start.elapsed();
        std::hint::black_box(&out);
        eprintln!(
            "{label}: {:.0} MB/s ({} MB in {elapsed:?})",
            text.len() as f64 / 1e6 / elapsed.as_secs_f64(),
            text.len() >> 20
        );
    }
}
