//! `cargo xtask ui [--check]`: installs the dashboard's npm packages exactly as
//! `crates/ai-session/ui-web/package-lock.json` pins them (`npm ci`) and copies the xterm.js
//! files the binary embeds into `ui-web/vendor/`. The vendored files are committed, so a
//! `cargo build` needs no npm; `--check` (run by CI) fails when they differ from what the
//! lock file gives, i.e. when someone changed the pin without re-running `cargo xtask ui`.
//! `npm ci` also installs `playwright-core`, which the dashboard's browser test drives.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Do not write: fail if `ui-web/vendor/` differs from the pinned packages.
    #[arg(long)]
    pub check: bool,
    /// Skip `npm ci` (use the `node_modules` already installed).
    #[arg(long)]
    pub offline: bool,
}

/// Each embedded vendor file: where it comes from in `node_modules`.
const VENDOR: &[(&str, &str)] = &[
    ("xterm.mjs", "@xterm/xterm/lib/xterm.mjs"),
    ("xterm.css", "@xterm/xterm/css/xterm.css"),
    ("xterm.LICENSE", "@xterm/xterm/LICENSE"),
];

/// The dashboard's web directory.
pub fn web_dir() -> anyhow::Result<PathBuf> {
    Ok(crate::fuzz::workspace_root()?.join("crates/ai-session/ui-web"))
}

pub fn run(args: &UiArgs) -> anyhow::Result<()> {
    let web = web_dir()?;
    if !args.offline {
        npm_ci(&web)?;
    }
    let modules = web.join("node_modules");
    let vendor = web.join("vendor");
    let mut stale = Vec::new();
    for (name, source) in VENDOR {
        let from = modules.join(source);
        let bytes = std::fs::read(&from).with_context(|| {
            format!(
                "{} is missing: run `cargo xtask ui` (it runs `npm ci` in {})",
                from.display(),
                web.display()
            )
        })?;
        let wanted = embeddable(name, bytes);
        let to = vendor.join(name);
        if std::fs::read(&to).ok().as_deref() == Some(&wanted[..]) {
            continue;
        }
        if args.check {
            stale.push(to.display().to_string());
            continue;
        }
        std::fs::create_dir_all(&vendor)?;
        std::fs::write(&to, &wanted).with_context(|| format!("writing {}", to.display()))?;
        eprintln!("xtask ui: wrote {} ({} bytes)", to.display(), wanted.len());
    }
    if !stale.is_empty() {
        bail!(
            "the embedded dashboard files differ from package-lock.json's packages: {}; \
             run `cargo xtask ui` and commit ui-web/vendor/",
            stale.join(", ")
        );
    }
    eprintln!("xtask ui: {} matches package-lock.json", vendor.display());
    Ok(())
}

/// `npm ci` in `web`: exactly the lock file's versions, nothing else.
pub fn npm_ci(web: &Path) -> anyhow::Result<()> {
    eprintln!("xtask ui: npm ci in {}", web.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(web)
        .status()
        .context("could not run npm (install Node.js and npm, e.g. `apt-get install npm`)")?;
    if !status.success() {
        bail!("npm ci failed in {} ({status})", web.display());
    }
    Ok(())
}

/// The file as the binary serves it: without the source-map comment, so the browser asks
/// for no file the binary does not have.
fn embeddable(name: &str, bytes: Vec<u8>) -> Vec<u8> {
    if !name.ends_with(".mjs") {
        return bytes;
    }
    let text = String::from_utf8_lossy(&bytes);
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("//# sourceMappingURL="))
        .collect();
    let mut out = kept.join("\n").into_bytes();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_map_comment_is_dropped() {
        let out = embeddable(
            "x.mjs",
            b"export{a};\n//# sourceMappingURL=x.mjs.map\n".to_vec(),
        );
        assert_eq!(out, b"export{a};\n");
        assert_eq!(embeddable("x.css", b"a{}".to_vec()), b"a{}");
    }
}
