//! The change set of a quota sandbox, through the real launcher: listed and applied while
//! the sandbox runs (as the daemon does for `ai-session changes` / `apply`), applied or
//! discarded at its end, and never a way to write outside the workspace.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ai_session_security::policy::WorkspaceChanges;
use ai_session_security::sandbox::changes::{ChangeKind, ChangeSet, EntryType};
use ai_session_security::sandbox::sandbox_argv_with_exe;
use ai_session_security::{Preset, SecurityPolicy};

const LAUNCHER: &str = env!("CARGO_BIN_EXE_ai-session-sandbox");

fn policy(quota_mb: u64, at_exit: WorkspaceChanges) -> SecurityPolicy {
    let mut policy = SecurityPolicy::preset(Preset::Strict);
    policy.resource_limits.disk_quota_mb = Some(quota_mb);
    policy.fs_permissions.workspace_changes = at_exit;
    policy
}

/// Starts `script` in the sandbox; it prints `ready` once its changes are made, then
/// waits for its stdin to close.
fn start(
    policy: &SecurityPolicy,
    workspace: &Path,
    script: &str,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let program = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        format!("{script}\necho ready\nread _ || true"),
    ];
    let argv = sandbox_argv_with_exe(LAUNCHER, policy, workspace, &program);
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(workspace)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line != "ready\n" {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the sandboxed script ended before it was ready"
        );
    }
    (child, stdout)
}

fn finish(mut child: Child) -> i32 {
    drop(child.stdin.take());
    child.wait().unwrap().code().unwrap_or(-1)
}

fn workspace() -> tempfile::TempDir {
    let ws = tempfile::Builder::new()
        .prefix("changes-ws-")
        .tempdir()
        .unwrap();
    std::fs::write(ws.path().join("kept"), "same\n").unwrap();
    std::fs::write(ws.path().join("edited"), "old\n").unwrap();
    std::fs::write(ws.path().join("deleted"), "bye\n").unwrap();
    std::fs::create_dir(ws.path().join("olddir")).unwrap();
    std::fs::write(ws.path().join("olddir/inner"), "x\n").unwrap();
    ws
}

#[test]
fn a_live_change_set_is_listed_and_applied_then_discarded_at_the_end() {
    let ws = workspace();
    let (child, _out) = start(
        &policy(64, WorkspaceChanges::Discard),
        ws.path(),
        "echo new > edited; echo hi > added; rm deleted; rm -r olddir; mkdir olddir; \
         echo fresh > olddir/other; mkdir -p sub/deep; echo d > sub/deep/f; ln -s added link",
    );
    let set = ChangeSet::of_launcher(child.id()).unwrap();
    // Nothing reached the workspace yet.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("edited")).unwrap(),
        "old\n"
    );
    let changes = set.list(ws.path()).unwrap();
    let summary: Vec<(String, ChangeKind, EntryType)> = changes
        .iter()
        .map(|c| (c.path.display().to_string(), c.kind, c.entry))
        .collect();
    use ChangeKind::*;
    use EntryType::*;
    assert_eq!(
        summary,
        [
            ("added".to_owned(), Added, File),
            ("deleted".to_owned(), Deleted, Whiteout),
            ("edited".to_owned(), Modified, File),
            ("link".to_owned(), Added, Symlink),
            ("olddir".to_owned(), Modified, Dir),
            ("olddir/inner".to_owned(), Deleted, Whiteout),
            ("olddir/other".to_owned(), Added, File),
            ("sub".to_owned(), Added, Dir),
            ("sub/deep".to_owned(), Added, Dir),
            ("sub/deep/f".to_owned(), Added, File),
        ]
    );
    let usage = set.usage().unwrap();
    assert_eq!(usage.quota_bytes, 64 << 20);
    assert!(usage.used_files > 0 && !usage.is_full(), "{usage:?}");

    let report = set.apply(ws.path()).unwrap();
    assert_eq!(report.written, 5, "{report:?}");
    let read = |p: &str| std::fs::read_to_string(ws.path().join(p)).unwrap();
    assert_eq!(read("edited"), "new\n");
    assert_eq!(read("added"), "hi\n");
    assert_eq!(read("olddir/other"), "fresh\n");
    assert_eq!(read("sub/deep/f"), "d\n");
    assert_eq!(read("kept"), "same\n");
    assert!(!ws.path().join("deleted").exists());
    assert!(!ws.path().join("olddir/inner").exists());
    assert_eq!(
        std::fs::read_link(ws.path().join("link")).unwrap(),
        PathBuf::from("added")
    );
    // Applied changes equal the workspace now, so they are no longer listed.
    assert_eq!(set.list(ws.path()).unwrap(), []);

    // Discard at the end: a change made after the apply does not reach the workspace.
    std::fs::write(ws.path().join("edited"), "operator\n").unwrap();
    assert_eq!(finish(child), 0);
    assert_eq!(read("edited"), "operator\n");
    assert!(ChangeSet::of_launcher(std::process::id()).is_err());
}

#[test]
fn the_quota_is_visible_to_the_daemon_when_hit() {
    let ws = tempfile::tempdir().unwrap();
    let (child, _out) = start(
        &policy(4, WorkspaceChanges::Discard),
        ws.path(),
        "dd if=/dev/zero of=big bs=1M count=8 2>/dev/null; echo dd=$?",
    );
    let set = ChangeSet::of_launcher(child.id()).unwrap();
    let usage = set.usage().unwrap();
    assert!(usage.is_full(), "{usage:?}");
    assert_eq!(finish(child), 0);
    assert!(!ws.path().join("big").exists(), "discarded");
}

#[test]
fn applying_never_writes_through_a_symlink_nor_keeps_setuid() {
    let ws = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path().join("link")).unwrap();
    std::fs::write(ws.path().join("tool"), "#!/bin/sh\n").unwrap();
    // The sandbox replaces the symlink with a directory holding a file, and makes a
    // setuid program.
    let (child, _out) = start(
        &policy(16, WorkspaceChanges::Apply),
        ws.path(),
        "rm link; mkdir link; echo planted > link/planted; chmod 4755 tool",
    );
    assert_eq!(finish(child), 0);
    assert!(
        !outside.path().join("planted").exists(),
        "wrote through the symlink"
    );
    assert!(ws.path().join("link").is_dir());
    assert_eq!(
        std::fs::read_to_string(ws.path().join("link/planted")).unwrap(),
        "planted\n"
    );
    let mode = std::fs::metadata(ws.path().join("tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755, "setuid survived: {mode:o}");
}

#[test]
fn kept_changes_are_reviewed_and_applied_after_the_sandbox_is_gone() {
    let ws = workspace();
    let kept = tempfile::tempdir().unwrap();
    let dir = kept.path().join("session-s1");
    let mut keep = policy(16, WorkspaceChanges::Keep);
    keep.fs_permissions.changes_dir = Some(dir.clone());
    let (child, _out) = start(
        &keep,
        ws.path(),
        "echo new > edited; rm deleted; rm -r olddir; mkdir olddir; echo fresh > olddir/other",
    );
    assert_eq!(finish(child), 0);
    // The workspace is untouched; the change set waits in `dir`.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("edited")).unwrap(),
        "old\n"
    );
    assert!(ws.path().join("deleted").exists());
    let set = ChangeSet::open(&dir).unwrap();
    let listed: Vec<(String, ChangeKind)> = set
        .list(ws.path())
        .unwrap()
        .into_iter()
        .map(|c| (c.path.display().to_string(), c.kind))
        .collect();
    assert_eq!(
        listed,
        [
            ("deleted".to_owned(), ChangeKind::Deleted),
            ("edited".to_owned(), ChangeKind::Modified),
            ("olddir".to_owned(), ChangeKind::Modified),
            ("olddir/inner".to_owned(), ChangeKind::Deleted),
            ("olddir/other".to_owned(), ChangeKind::Added),
        ]
    );
    set.apply(ws.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(ws.path().join("edited")).unwrap(),
        "new\n"
    );
    assert!(!ws.path().join("deleted").exists());
    assert!(!ws.path().join("olddir/inner").exists());
    assert!(ws.path().join("olddir/other").exists());
}

#[test]
fn without_a_quota_there_is_no_change_set() {
    let ws = tempfile::tempdir().unwrap();
    let mut plain = SecurityPolicy::preset(Preset::Strict);
    plain.resource_limits.disk_quota_mb = Some(0); // `0`: off
    let (child, _out) = start(&plain, ws.path(), "echo direct > f");
    assert!(ChangeSet::of_launcher(child.id()).is_err());
    // A plain bind: the write is on the host at once.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("f")).unwrap(),
        "direct\n"
    );
    assert_eq!(finish(child), 0);
}
