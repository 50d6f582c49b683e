//! The Landlock execute allowlist (`exec.allow`): which files may be executed, and which
//! parts of the system view stay readable so the dynamic loader cannot run an ungranted
//! program either.
//!
//! What Landlock's execute right covers was measured on Linux 6.18, ABI 7 (the table in
//! `docs/security.md`, "What the execute right covers"): `execve` of the program, of a
//! script's `#!` interpreter and of an ELF's `PT_INTERP` loader all need it; libraries the
//! loader maps with `PROT_EXEC` (and `dlopen`) need only read access; the loader started
//! directly (`ld.so /usr/bin/cat`) runs any file it can *read*; and a `memfd` escapes
//! Landlock entirely. Hence the three extra fences: ungranted files in `bin` directories are
//! not readable, writable mounts are `noexec` (no `PROT_EXEC` mapping of anything written
//! inside), and seccomp makes every memfd `MFD_NOEXEC_SEAL`.

use std::ffi::OsStr;
use std::fs;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// Directory names whose files are programs: listed, but readable only where granted.
const PROGRAM_DIRS: &[&str] = &["bin", "sbin", "libexec", "games"];

/// How the system view is opened under an allowlist.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ExecRules {
    /// Files (or whole trees) that may be executed and read: granted programs, their
    /// interpreters, granted directories.
    pub executable: Vec<PathBuf>,
    /// Trees readable in full (libraries, data).
    pub readable: Vec<PathBuf>,
    /// Directories that may only be listed (program directories and their parents).
    pub listable: Vec<PathBuf>,
}

/// The executable files for `allow` (names looked up in `search_path`, absolute paths as
/// they are) plus `program` (what the sandbox launches), each with the interpreters it
/// needs, and the read rules for `system_dirs`.
pub(super) fn rules(
    allow: &[String],
    program: &Path,
    search_path: &str,
    system_dirs: &[PathBuf],
) -> ExecRules {
    let mut pending: Vec<PathBuf> = vec![program.to_owned()];
    for name in allow {
        if name.starts_with('/') {
            pending.push(PathBuf::from(name));
        } else {
            pending.extend(in_path(name, search_path));
        }
    }
    let mut executable: Vec<PathBuf> = Vec::new();
    // Interpreters of interpreters are followed a few levels (`#!/usr/bin/env python3`).
    let mut budget = 256;
    while let Some(path) = pending.pop() {
        if budget == 0 {
            break;
        }
        budget -= 1;
        let Ok(real) = fs::canonicalize(&path) else {
            continue;
        };
        if executable.contains(&real) {
            continue;
        }
        if real.is_dir() {
            // A granted directory (`file-execute:/opt/tool`): everything beneath it.
            executable.push(real);
            continue;
        }
        if !real.is_file() {
            continue;
        }
        pending.extend(interpreters(&real, search_path));
        executable.push(real);
    }
    let mut rules = ExecRules {
        executable,
        ..ExecRules::default()
    };
    for dir in system_dirs {
        classify(dir, 2, &mut rules);
    }
    rules
}

/// Every file named `name` in the directories of `search_path`.
fn in_path(name: &str, search_path: &str) -> Vec<PathBuf> {
    search_path
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| Path::new(dir).join(name))
        .filter(|candidate| candidate.is_file())
        .collect()
}

/// What executing `file` also executes: its ELF loader, or its `#!` interpreter (and for
/// `#!/usr/bin/env NAME`, the program `NAME` found in `search_path`).
fn interpreters(file: &Path, search_path: &str) -> Vec<PathBuf> {
    let mut head = [0u8; 4096];
    let Ok(mut handle) = fs::File::open(file) else {
        return Vec::new();
    };
    let Ok(len) = read_up_to(&mut handle, &mut head) else {
        return Vec::new();
    };
    let head = &head[..len];
    if let Some(line) = head.strip_prefix(b"#!") {
        return shebang(line, search_path);
    }
    elf_interpreter(&mut handle, head)
        .map(|interp| vec![interp])
        .unwrap_or_default()
}

fn read_up_to(file: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The interpreter of a `#!` line (the bytes after `#!`).
fn shebang(line: &[u8], search_path: &str) -> Vec<PathBuf> {
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let Some(interpreter) = words.next() else {
        return Vec::new();
    };
    let interpreter = PathBuf::from(OsStr::from_bytes(interpreter));
    let mut found = vec![interpreter.clone()];
    if interpreter.file_name() == Some(OsStr::new("env")) {
        // `env [-S] [NAME=VALUE...] PROGRAM`: the first word that is neither.
        if let Some(program) = words
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .find(|w| !w.starts_with('-') && !w.contains('='))
        {
            found.extend(in_path(&program, search_path));
        }
    }
    found
}

/// The `PT_INTERP` path of an ELF file whose first bytes are `head`.
fn elf_interpreter(file: &mut fs::File, head: &[u8]) -> Option<PathBuf> {
    use std::io::{Seek as _, SeekFrom};
    if head.len() < 64 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let wide = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = head[5] == 1;
    let u16_at = |b: &[u8], at: usize| -> Option<u64> {
        let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(u64::from(if little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }))
    };
    let u32_at = |b: &[u8], at: usize| -> Option<u64> {
        let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(if little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        }))
    };
    let u64_at = |b: &[u8], at: usize| -> Option<u64> {
        let bytes: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if little {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        })
    };
    let word = |b: &[u8], at: usize| if wide { u64_at(b, at) } else { u32_at(b, at) };
    let (phoff, phentsize, phnum) = if wide {
        (u64_at(head, 32)?, u16_at(head, 54)?, u16_at(head, 56)?)
    } else {
        (u32_at(head, 28)?, u16_at(head, 42)?, u16_at(head, 44)?)
    };
    if phnum > 256 || !(32..=64).contains(&phentsize) {
        return None;
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    file.seek(SeekFrom::Start(phoff)).ok()?;
    file.read_exact(&mut table).ok()?;
    const PT_INTERP: u64 = 3;
    for entry in table.chunks_exact(phentsize as usize) {
        if u32_at(entry, 0)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (word(entry, 8)?, word(entry, 32)?)
        } else {
            (word(entry, 4)?, word(entry, 16)?)
        };
        if size == 0 || size > 4096 {
            return None;
        }
        let mut path = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut path).ok()?;
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        path.truncate(end);
        return Some(PathBuf::from(OsStr::from_bytes(&path)));
    }
    None
}

fn is_program_dir(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| PROGRAM_DIRS.contains(&name))
}

/// Sorts `dir` into the rules: a program directory is only listable; a directory with a
/// program directory within `lookahead` levels is listable and its entries are sorted in
/// turn; anything else is readable as a whole.
fn classify(dir: &Path, lookahead: usize, rules: &mut ExecRules) {
    if is_program_dir(dir) {
        rules.listable.push(dir.to_owned());
        return;
    }
    if !dir.is_dir() {
        if dir.exists() {
            rules.readable.push(dir.to_owned());
        }
        return;
    }
    if !holds_program_dir(dir, lookahead) {
        rules.readable.push(dir.to_owned());
        return;
    }
    rules.listable.push(dir.to_owned());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => classify(&path, lookahead.saturating_sub(1), rules),
            Ok(kind) if kind.is_symlink() && path.is_dir() => {
                classify(&path, lookahead.saturating_sub(1), rules)
            }
            Ok(_) => rules.readable.push(path),
            Err(_) => {}
        }
    }
}

/// Whether a program directory lies within `levels` levels below `dir`. Library trees
/// (`lib*`) are not searched: they are large, and their helpers are the residual the
/// docs name.
fn holds_program_dir(dir: &Path, levels: usize) -> bool {
    if levels == 0 {
        return false;
    }
    let is_library = dir
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| name.starts_with("lib") && name != "libexec");
    if is_library {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    // The entry types come with the listing (no stat per entry): this runs on every
    // launch under an allowlist. Symlinked directories are not followed here.
    entries.flatten().any(|entry| {
        entry.file_type().is_ok_and(|kind| kind.is_dir()) && {
            let path = entry.path();
            is_program_dir(&path) || holds_program_dir(&path, levels - 1)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

    #[test]
    fn a_dynamic_program_brings_its_loader() {
        let rules = rules(&[], Path::new("/usr/bin/bash"), PATH, &[]);
        let bash = fs::canonicalize("/usr/bin/bash").unwrap();
        assert!(rules.executable.contains(&bash), "{rules:?}");
        let loader = rules
            .executable
            .iter()
            .find(|p| p.to_string_lossy().contains("ld-linux"));
        assert!(loader.is_some(), "no ELF loader in {rules:?}");
    }

    #[test]
    fn names_are_resolved_and_scripts_bring_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("tool");
        fs::write(&script, "#!/usr/bin/env python3\nprint(1)\n").unwrap();
        let search = format!("{}:{PATH}", dir.path().display());
        let rules = rules(
            &["tool".into(), "ls".into()],
            Path::new("/bin/sh"),
            &search,
            &[],
        );
        let has = |p: &str| {
            let real = fs::canonicalize(p).unwrap();
            rules.executable.contains(&real)
        };
        assert!(has(script.to_str().unwrap()), "{rules:?}");
        assert!(has("/usr/bin/env") && has("/usr/bin/python3") && has("/usr/bin/ls"));
        assert!(has("/bin/sh"));
        assert!(!has("/usr/bin/cat"));
    }

    #[test]
    fn program_directories_are_only_listable() {
        let rules = rules(&[], Path::new("/bin/sh"), PATH, &[PathBuf::from("/usr")]);
        assert!(rules.listable.contains(&PathBuf::from("/usr")));
        assert!(rules.listable.contains(&PathBuf::from("/usr/bin")));
        assert!(rules.readable.contains(&PathBuf::from("/usr/lib")));
        assert!(rules.readable.contains(&PathBuf::from("/usr/share")));
        assert!(!rules.readable.iter().any(|p| p.starts_with("/usr/bin")));
    }

    #[test]
    fn the_elf_reader_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake");
        let mut bytes = b"\x7fELF\x02\x01".to_vec();
        bytes.resize(64, 0xff);
        fs::write(&fake, &bytes).unwrap();
        assert_eq!(interpreters(&fake, PATH), Vec::<PathBuf>::new());
        let static_like = dir.path().join("empty");
        fs::write(&static_like, b"").unwrap();
        assert_eq!(interpreters(&static_like, PATH), Vec::<PathBuf>::new());
    }
}
