//! The files of one audit log: the active file (`audit.log`) and the archived segments it
//! rotated into (`audit.log.<N>`, holding the records before sequence number `N`).
//!
//! The chain runs through all of them: the first record of a segment links to the last
//! record of the one before, so [`super::verify`] checks the retained history as one
//! chain. Retention removes the oldest segments; the chain then starts at the first
//! retained record, which `verify` reports instead of failing.

use std::fs;
use std::path::{Path, PathBuf};

/// When and how the active file rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The active file rotates before an append would take it past this size.
    pub max_bytes: u64,
    /// Archived segments kept; older ones are removed.
    pub keep: usize,
}

impl Rotation {
    /// 64 MiB per file, 8 archived segments (at most ~576 MiB in all).
    pub const DEFAULT: Rotation = Rotation {
        max_bytes: 64 << 20,
        keep: 8,
    };

    /// Never rotates (one file that grows without bound).
    pub const NEVER: Rotation = Rotation {
        max_bytes: u64::MAX,
        keep: usize::MAX,
    };
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation::DEFAULT
    }
}

/// The name the active file `log` gets when it is archived with the records before
/// sequence number `next_seq` (zero-padded, so names sort like their numbers).
pub(super) fn archive_path(log: &Path, next_seq: u64) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{next_seq:012}"));
    log.with_file_name(name)
}

/// The archived segments of `log`, oldest first, with the sequence number each ends before.
pub(super) fn archives(log: &Path) -> Vec<(u64, PathBuf)> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let prefix = format!("{name}.");
    let mut archives: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let suffix = file_name.to_str()?.strip_prefix(&prefix)?;
            if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((suffix.parse().ok()?, log.with_file_name(&file_name)))
        })
        .collect();
    archives.sort();
    archives
}

/// Every file of `log` in chain order: the archives, then the active file.
pub(super) fn all(log: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = archives(log).into_iter().map(|(_, path)| path).collect();
    files.push(log.to_owned());
    files
}

/// Removes the oldest archives beyond `keep`; returns the sequence number the kept chain
/// now starts at, when anything was removed.
pub(super) fn prune(log: &Path, keep: usize) -> Option<u64> {
    let archives = archives(log);
    let excess = archives.len().saturating_sub(keep);
    let mut first_kept = None;
    for (ends_before, path) in &archives[..excess] {
        match fs::remove_file(path) {
            Ok(()) => first_kept = Some(*ends_before),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "could not remove an old audit segment");
                break;
            }
        }
    }
    first_kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_found_in_chain_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        for name in [
            "audit.log",
            "audit.log.000000000200",
            "audit.log.000000000030",
            "audit.log.000000001000",
            "audit.log.tmp",
            "audit.log.",
            "audit.head",
            "other.log.000000000005",
        ] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        assert_eq!(
            archive_path(&log, 30),
            dir.path().join("audit.log.000000000030")
        );
        let found: Vec<u64> = archives(&log).into_iter().map(|(seq, _)| seq).collect();
        assert_eq!(found, [30, 200, 1000]);
        assert_eq!(all(&log).last(), Some(&log));
        assert_eq!(prune(&log, 1), Some(200));
        let left: Vec<u64> = archives(&log).into_iter().map(|(seq, _)| seq).collect();
        assert_eq!(left, [1000]);
    }
}
