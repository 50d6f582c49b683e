//! File listings and disk usage: ls (-l or plain), find, df, du.

use super::table::split_fields;
use super::{Input, Parse, Priority};
use crate::{
    Filesystem, FsEntry, FsReport, MAX_ITEMS, OutputKind, ParsedOutput, SizedPath, Symlink,
};

/// du entries shown as `largest` (below the total).
const LARGEST: usize = 3;

pub(crate) fn parse(input: &Input<'_>, kind: OutputKind) -> Parse {
    let (report, keep) = match kind {
        OutputKind::Df => df(input.lines),
        OutputKind::Du => du(input.lines),
        OutputKind::Find => find(input.lines),
        _ => ls(input.lines),
    };
    let headline = match (&report.total, report.operation.as_str()) {
        (Some(total), _) => format!(
            "du: {} entries; total {} {}{}",
            report.entries,
            total.size,
            total.path,
            input.exit_suffix()
        ),
        (None, "df") => format!("df: {} filesystems{}", report.entries, input.exit_suffix()),
        (None, op) => format!("{op}: {} entries{}", report.entries, input.exit_suffix()),
    };
    Parse::with_kept(ParsedOutput::FileSystemOutput(report), headline, keep)
}

/// `drwxr-xr-x  4 root root 4096 Nov 25 21:18 name`.
fn long_entry(line: &str) -> Option<FsEntry> {
    let bytes = line.as_bytes();
    if bytes.len() < 11
        || !b"-dlcbps".contains(&bytes[0])
        || !bytes[1..10].iter().all(|b| b"rwxsStT-".contains(b))
    {
        return None;
    }
    let fields = split_fields(line, 9);
    let name_field = *fields.get(8)?;
    let (name, target) = match name_field.split_once(" -> ") {
        Some((name, target)) if bytes[0] == b'l' => (name, Some(target.to_owned())),
        _ => (name_field, None),
    };
    let kind = match bytes[0] {
        b'd' => "dir",
        b'l' => "link",
        b'-' => "file",
        _ => "other",
    };
    Some(FsEntry {
        name: name.to_owned(),
        size: fields.get(4).map(|s| (*s).to_owned()),
        kind: Some(kind.to_owned()),
        target,
    })
}

fn ls(lines: &[&str]) -> (FsReport, Vec<(usize, Priority)>) {
    let mut report = FsReport {
        operation: "ls".to_owned(),
        ..FsReport::default()
    };
    let mut keep = Vec::new();
    let long = lines.iter().any(|l| long_entry(l).is_some());
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("ls: ") {
            keep.push((index, Priority::Must));
            continue;
        }
        if long {
            let Some(entry) = long_entry(line) else {
                continue;
            };
            if entry.name == "." || entry.name == ".." {
                continue;
            }
            report.entries += 1;
            keep.push((index, Priority::High));
            if let Some(target) = &entry.target {
                report.symlinks.push(Symlink {
                    name: entry.name.clone(),
                    target: target.clone(),
                });
            }
            if entry.kind.as_deref() == Some("dir") && report.directories.len() < MAX_ITEMS {
                report.directories.push(entry.name.clone());
            }
            if report.items.len() < MAX_ITEMS {
                report.items.push(entry);
            }
        } else if !line.trim().is_empty() && !line.ends_with(':') {
            for name in line.split_whitespace() {
                report.entries += 1;
                if report.items.len() < MAX_ITEMS {
                    report.items.push(FsEntry {
                        name: name.to_owned(),
                        ..FsEntry::default()
                    });
                }
            }
            keep.push((index, Priority::High));
        }
    }
    report.symlinks.truncate(MAX_ITEMS);
    (report, keep)
}

fn find(lines: &[&str]) -> (FsReport, Vec<(usize, Priority)>) {
    let mut report = FsReport {
        operation: "find".to_owned(),
        ..FsReport::default()
    };
    let mut keep = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("find: ") {
            keep.push((index, Priority::Must));
            continue;
        }
        report.entries += 1;
        if report.first_line.is_none() {
            report.first_line = Some((*line).to_owned());
            keep.push((index, Priority::Must));
        }
        report.last_line = Some((*line).to_owned());
        if report.items.len() < MAX_ITEMS {
            report.items.push(FsEntry {
                name: (*line).to_owned(),
                ..FsEntry::default()
            });
        }
    }
    (report, keep)
}

fn df(lines: &[&str]) -> (FsReport, Vec<(usize, Priority)>) {
    let mut report = FsReport {
        operation: "df".to_owned(),
        ..FsReport::default()
    };
    let mut keep = Vec::new();
    let mut pending_name: Option<&str> = None;
    // `df -T` adds a Type column after the device.
    let mut typed = false;
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("Filesystem") {
            typed = line.split_whitespace().nth(1) == Some("Type");
            keep.push((index, Priority::Must));
            continue;
        }
        let mut fields = split_fields(line, if typed { 7 } else { 6 });
        if typed && fields.len() == 7 {
            fields.remove(1);
        }
        // Long device names wrap: the name alone, the numbers on the next line.
        if fields.len() == 1 {
            pending_name = fields.first().copied();
            continue;
        }
        let fields: Vec<&str> = match pending_name.take() {
            Some(name) => std::iter::once(name).chain(split_fields(line, 5)).collect(),
            None => fields,
        };
        let [filesystem, size, used, avail, use_pct, mount] = fields[..] else {
            continue;
        };
        let Some(use_pct) = use_pct
            .strip_suffix('%')
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        report.entries += 1;
        keep.push((
            index,
            if use_pct >= 80 {
                Priority::Must
            } else {
                Priority::High
            },
        ));
        if report.filesystems.len() < MAX_ITEMS {
            report.filesystems.push(Filesystem {
                filesystem: filesystem.to_owned(),
                size: size.to_owned(),
                used: used.to_owned(),
                avail: avail.to_owned(),
                use_pct,
                mount: mount.to_owned(),
            });
        }
    }
    (report, keep)
}

/// `4.1G` -> bytes (1024-based); plain numbers are KiB blocks (du's default).
fn size_bytes(size: &str) -> Option<f64> {
    let (number, unit) = match size.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => (&size[..at], &size[at..]),
        None => (size, ""),
    };
    let value: f64 = number.replace(',', ".").parse().ok()?;
    let factor = match unit.trim_end_matches(['B', 'i']) {
        "" if unit.is_empty() => 1024.0,
        "" => 1.0,
        "K" | "k" => 1024.0,
        "M" => 1024f64.powi(2),
        "G" => 1024f64.powi(3),
        "T" => 1024f64.powi(4),
        "P" => 1024f64.powi(5),
        _ => return None,
    };
    Some(value * factor)
}

fn du(lines: &[&str]) -> (FsReport, Vec<(usize, Priority)>) {
    let mut report = FsReport {
        operation: "du".to_owned(),
        ..FsReport::default()
    };
    let mut keep = Vec::new();
    let mut sized: Vec<(f64, usize, SizedPath)> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("du: ") {
            keep.push((index, Priority::Must));
            continue;
        }
        let Some((size, path)) = line.split_once('\t').or_else(|| line.split_once(' ')) else {
            continue;
        };
        let Some(bytes) = size_bytes(size.trim()) else {
            continue;
        };
        report.entries += 1;
        if report.items.len() < MAX_ITEMS {
            report.items.push(FsEntry {
                name: path.trim().to_owned(),
                size: Some(size.trim().to_owned()),
                ..FsEntry::default()
            });
        }
        sized.push((
            bytes,
            index,
            SizedPath {
                size: size.trim().to_owned(),
                path: path.trim().to_owned(),
            },
        ));
        // Keep memory bounded on huge listings: only the biggest matter.
        if sized.len() > 4 * MAX_ITEMS {
            sized.sort_by(|a, b| b.0.total_cmp(&a.0));
            sized.truncate(MAX_ITEMS);
        }
    }
    // Largest first; on equal sizes the shorter path (the parent) wins.
    sized.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.2.path.len().cmp(&b.2.path.len()))
    });
    let mut ranked = sized.into_iter();
    if let Some((_, index, total)) = ranked.next() {
        keep.push((index, Priority::Must));
        report.total = Some(total);
    }
    for (rank, (_, index, entry)) in ranked.enumerate() {
        keep.push((
            index,
            if rank < LARGEST {
                Priority::Must
            } else if rank < 10 {
                Priority::High
            } else {
                Priority::Normal
            },
        ));
        if rank < LARGEST {
            report.largest.push(entry);
        }
    }
    (report, keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_long_entries() {
        let link = long_entry(
            "lrwxrwxrwx  1 root root   11 Nov 25 21:18 config.local.yaml -> config.yaml",
        )
        .expect("entry");
        assert_eq!(
            (link.name.as_str(), link.target.as_deref()),
            ("config.local.yaml", Some("config.yaml"))
        );
        let spaced = long_entry("-rw-r--r-- 1 a a 5 Jan  1  2025 my file.txt").expect("entry");
        assert_eq!(spaced.name, "my file.txt");
        assert!(long_entry("total 36").is_none());
    }

    #[test]
    fn du_sizes() {
        let cases = [
            ("4.1G", Some(4.1 * 1024f64.powi(3))),
            ("812M", Some(812.0 * 1024f64.powi(2))),
            ("4.0K", Some(4096.0)),
            ("12", Some(12.0 * 1024.0)),
            ("x", None),
        ];
        for (text, expected) in cases {
            assert_eq!(size_bytes(text), expected, "{text}");
        }
    }
}
