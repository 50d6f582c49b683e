//! `key`: the data key that encrypts stored sessions (`$AI_SESSION_HOME/keys/`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ai_session::Home;
use ai_session::persistence::{self, KeySource};
use anyhow::{Context as _, bail};
use zeroize::Zeroizing;

use crate::common::{self, Global, exit};

/// Manage the key that encrypts stored sessions.
///
/// The daemon stores each session's config, scrollback and command records under
/// `$AI_SESSION_HOME` so they survive a restart. Without a key they are stored compressed but in
/// plaintext; after `key init` everything is sealed with XChaCha20-Poly1305 under a random data
/// key, itself wrapped by a key derived from your passphrase (Argon2id) or by a raw 256-bit key.
/// The daemon then needs the secret in its environment: `AI_SESSION_PASSPHRASE`,
/// `AI_SESSION_KEY` (64 hex digits) or `AI_SESSION_KEY_FILE` (a file with 64 hex digits or 32
/// raw bytes).
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  printf '%s' \"$PASS\" | ai-session key init --passphrase-file -
  head -c 32 /dev/urandom > ~/.ai-session.key && ai-session key init --key-file ~/.ai-session.key
  AI_SESSION_PASSPHRASE=old ai-session key change-passphrase --new-passphrase-file new.txt
  ai-session key status --format json")]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeyCommand {
    /// Create the data key, wrapped under a passphrase or a raw key. Refused when a key exists or
    /// plaintext sessions are stored (kill them first; they cannot be read once a key exists).
    Init(SecretArgs),
    /// Rewrap the data key under a new passphrase or key (stored data is not re-encrypted). The
    /// current secret comes from the environment (AI_SESSION_PASSPHRASE, AI_SESSION_KEY or
    /// AI_SESSION_KEY_FILE).
    ChangePassphrase(NewSecretArgs),
    /// Show whether a key exists, its public fingerprint and its Argon2id parameters.
    Status,
}

#[derive(Debug, clap::Args)]
struct SecretArgs {
    /// Read the passphrase from this file (`-` for stdin; one trailing newline is dropped).
    #[arg(long, value_name = "FILE", conflicts_with = "key_file")]
    passphrase_file: Option<PathBuf>,
    /// Use a raw 256-bit key from this file (64 hex digits or exactly 32 bytes).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct NewSecretArgs {
    /// Read the new passphrase from this file (`-` for stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "new_key_file")]
    new_passphrase_file: Option<PathBuf>,
    /// Wrap under a raw 256-bit key from this file instead.
    #[arg(long, value_name = "FILE")]
    new_key_file: Option<PathBuf>,
}

/// Runs `key`.
pub fn run(args: KeyArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let home = Home::from_env()?;
    let status = match args.command {
        KeyCommand::Init(secret) => {
            let source = secret_from(secret.passphrase_file.as_deref(), secret.key_file.as_deref())?
                .or(KeySource::from_env()?)
                .context("give --passphrase-file or --key-file, or set AI_SESSION_PASSPHRASE / AI_SESSION_KEY")?;
            persistence::init_key(home.root(), &source)?
        }
        KeyCommand::ChangePassphrase(new) => {
            let old = KeySource::from_env()?.context(
                "set the current secret in AI_SESSION_PASSPHRASE, AI_SESSION_KEY or AI_SESSION_KEY_FILE",
            )?;
            let new = secret_from(
                new.new_passphrase_file.as_deref(),
                new.new_key_file.as_deref(),
            )?
            .context("give --new-passphrase-file or --new-key-file")?;
            persistence::change_key(home.root(), &old, &new)?
        }
        KeyCommand::Status => persistence::key_status(home.root())?,
    };
    if global.json() {
        common::print_json(&status)?;
    } else if let (Some(id), Some(method)) = (&status.key_id, &status.method) {
        println!(
            "data key {id}, wrapped with a {method}, in {}",
            status.path.display()
        );
        if let Some(kdf) = status.kdf {
            println!(
                "argon2id: {} KiB, {} passes, {} lanes",
                kdf.m_cost_kib, kdf.t_cost, kdf.p_cost
            );
        }
    } else {
        println!("no data key: stored sessions are not encrypted (run `ai-session key init`)");
    }
    Ok(ExitCode::from(exit::OK))
}

fn secret_from(
    passphrase_file: Option<&Path>,
    key_file: Option<&Path>,
) -> anyhow::Result<Option<KeySource>> {
    if let Some(path) = key_file {
        return Ok(Some(KeySource::from_key_file(path)?));
    }
    let Some(path) = passphrase_file else {
        return Ok(None);
    };
    let mut text = Zeroizing::new(if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("read passphrase from stdin")?;
        text
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("read passphrase file {}", path.display()))?
    });
    if text.ends_with('\n') {
        text.pop();
    }
    if text.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(Some(KeySource::passphrase(text.as_str())))
}
