//! Shared by benches: the real-output corpus (`../shared/corpus`, read in place, never copied).
#![allow(
    dead_code,
    reason = "each bench that includes this module uses a different subset"
)]

use std::path::{Path, PathBuf};

/// One capture: command line, exit status, raw bytes.
pub struct Capture {
    pub name: String,
    pub command: String,
    pub exit_code: i32,
    pub raw: Vec<u8>,
}

/// `../shared/corpus` beside the repository (or a worktree one level deeper), else `$AI_SESSION_CORPUS`.
pub fn dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../shared/corpus"),
        manifest.join("../../../shared/corpus"),
    ];
    if let Some(dir) = candidates.iter().find(|d| d.join("README.md").is_file()) {
        return dir.clone();
    }
    match std::env::var_os("AI_SESSION_CORPUS").map(PathBuf::from) {
        Some(dir) if dir.join("README.md").is_file() => dir,
        _ => panic!("corpus not found at {candidates:?}; set AI_SESSION_CORPUS to shared/corpus"),
    }
}

/// Every capture, in name order.
pub fn load() -> Vec<Capture> {
    let dir = dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".raw").map(str::to_string)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let cmd = std::fs::read_to_string(dir.join(format!("{name}.cmd"))).expect("read .cmd");
            let mut lines = cmd.lines();
            let command = lines.next().unwrap_or_default().to_string();
            let exit_code = lines
                .next()
                .and_then(|l| l.strip_prefix("exit="))
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(0);
            let raw = std::fs::read(dir.join(format!("{name}.raw"))).expect("read .raw");
            Capture {
                name,
                command,
                exit_code,
                raw,
            }
        })
        .collect()
}
