//! Behaviour of the store through its public API, on real files.

use std::path::{Path, PathBuf};

use ai_session_persist::{
    DataKey, DropReason, KdfParams, KeySource, Keyring, PersistError, RecordKind, Store,
    StoreOptions,
};

const FAST_KDF: KdfParams = KdfParams {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct State {
    cwd: String,
    env: Vec<(String, String)>,
    rows: u16,
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Fill a session with a state, history records (one frame each) and a context.
fn populate(store: &Store, id: &str, marker: &str) -> Vec<Vec<u8>> {
    let session = store.session(id).unwrap();
    session
        .save_state(&State {
            cwd: format!("/work/{marker}-dir"),
            env: vec![("TOKEN".into(), format!("{marker}-env"))],
            rows: 40,
        })
        .unwrap();
    let (mut log, recovery) = session.open_history().unwrap();
    assert!(recovery.is_clean());
    let mut written = Vec::new();
    for i in 0..6 {
        let command = format!("echo {marker}-cmd-{i}").into_bytes();
        let output = format!("{marker}-out-{i}\r\n").repeat(20).into_bytes();
        log.append(RecordKind::Command, &command).unwrap();
        log.append(RecordKind::Scrollback, &output).unwrap();
        log.sync().unwrap();
        written.push(command);
        written.push(output);
    }
    session
        .save_context(format!("context {marker}-ctx").as_bytes())
        .unwrap();
    written
}

#[test]
fn state_history_and_context_round_trip_encrypted_and_plain() {
    for key in [None, Some(DataKey::generate())] {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path(), key.clone()).unwrap();
        let written = populate(&store, "build", "M");
        drop(store);

        let store = Store::open(home.path(), key).unwrap();
        assert_eq!(store.list_sessions().unwrap(), vec!["build".to_string()]);
        assert_eq!(store.index().unwrap()[0].id, "build");
        let session = store.existing_session("build").unwrap();
        let state: State = session.load_state().unwrap().unwrap();
        assert_eq!(state.cwd, "/work/M-dir");
        let (records, recovery) = session.read_history().unwrap();
        assert!(recovery.is_clean(), "{recovery:?}");
        let data: Vec<_> = records.into_iter().map(|r| r.data).collect();
        assert_eq!(data, written);
        assert_eq!(session.load_context().unwrap().unwrap(), b"context M-ctx");
        assert_eq!(session.verify_history().unwrap(), 12);
    }
}

#[test]
fn encrypted_store_files_contain_no_plaintext_marker() {
    let marker = "ZQX-marker-7f3a";
    let home = tempfile::tempdir().unwrap();
    // No compression, so the plaintext would be there verbatim if sealing were skipped.
    let key = Keyring::new(home.path())
        .init(&KeySource::passphrase("pw"), FAST_KDF)
        .unwrap();
    let store =
        Store::open_with(home.path(), Some(key), StoreOptions::with_compression(None)).unwrap();
    populate(&store, "s1", marker);
    store.create_snapshot("s1", Some("before")).unwrap();
    store.restore_snapshot("before", Some("s1-copy")).unwrap();
    let (mut analytics, _) = store.analytics_log().unwrap();
    analytics
        .append_durable(RecordKind::Event, format!("{marker} tokens").as_bytes())
        .unwrap();
    drop(analytics);

    let files = files_under(home.path());
    assert!(files.len() >= 9, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !contains(&bytes, marker.as_bytes()),
            "plaintext marker in {}",
            file.display()
        );
    }

    // Control: the same data in a plaintext store does show the marker, so the check above can fail.
    let plain_home = tempfile::tempdir().unwrap();
    let plain = Store::open_with(
        plain_home.path(),
        None,
        StoreOptions::with_compression(None),
    )
    .unwrap();
    populate(&plain, "s1", marker);
    let log = std::fs::read(plain_home.path().join("sessions/s1/history.log")).unwrap();
    assert!(contains(&log, marker.as_bytes()));
}

#[test]
fn snapshots_round_trip_and_refuse_to_overwrite() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let written = populate(&store, "s1", "snap");
    let info = store.create_snapshot("s1", Some("first")).unwrap();
    assert_eq!(info.records, 12);
    assert!(info.scrollback_bytes > 0);
    assert_eq!(store.list_snapshots().unwrap(), vec![info.clone()]);

    let err = store.restore_snapshot(&info.id, None).unwrap_err();
    assert!(matches!(err, PersistError::AlreadyExists { .. }), "{err}");
    let restored = store.restore_snapshot(&info.id, Some("s2")).unwrap();
    let (records, _) = restored.read_history().unwrap();
    assert_eq!(
        records.into_iter().map(|r| r.data).collect::<Vec<_>>(),
        written
    );
    let state: State = restored.load_state().unwrap().unwrap();
    assert_eq!(state.env[0].1, "snap-env");
    assert_eq!(
        restored.load_context().unwrap().unwrap(),
        b"context snap-ctx"
    );
    // The restored log continues where the snapshot ended.
    let (mut log, recovery) = restored.open_history().unwrap();
    assert!(recovery.is_clean());
    assert_eq!(
        log.append_durable(RecordKind::Command, b"next").unwrap(),
        12
    );

    store.remove_session("s1").unwrap();
    let again = store.restore_snapshot("first", None).unwrap();
    assert_eq!(again.id(), "s1");
    assert_eq!(
        store.list_sessions().unwrap(),
        vec!["s1".to_string(), "s2".to_string()]
    );
}

#[test]
fn edited_snapshot_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    populate(&store, "s1", "x");
    let info = store.create_snapshot("s1", Some("orig")).unwrap();
    let path = home.path().join(format!("snapshots/s1/{}.json", info.id));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"orig\"", "\"evil\"")).unwrap();
    let err = store.restore_snapshot(&info.id, Some("s9")).unwrap_err();
    assert!(err.to_string().contains("edited"), "{err}");

    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let frame = value["frame"].as_str().unwrap().to_string();
    let mut chars: Vec<char> = frame.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    value["frame"] = chars.into_iter().collect::<String>().into();
    std::fs::write(&path, value.to_string()).unwrap();
    let err = store.restore_snapshot(&info.id, Some("s9")).unwrap_err();
    assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
    assert!(!home.path().join("sessions/s9").exists());
}

/// A log with one record per frame, and the byte ranges of its frames.
fn one_record_frames(store: &Store, id: &str, n: usize) -> (PathBuf, Vec<std::ops::Range<usize>>) {
    let session = store.session(id).unwrap();
    let (mut log, _) = session.open_history().unwrap();
    let path = session.history_path();
    let mut ends = vec![std::fs::metadata(&path).unwrap().len() as usize];
    for i in 0..n {
        log.append_durable(
            RecordKind::Command,
            format!("command number {i}").as_bytes(),
        )
        .unwrap();
        ends.push(std::fs::metadata(&path).unwrap().len() as usize);
    }
    (path, ends.windows(2).map(|w| w[0]..w[1]).collect())
}

fn recovered(store: &Store, id: &str) -> ai_session_persist::Recovery {
    store
        .existing_session(id)
        .unwrap()
        .open_history()
        .unwrap()
        .1
}

/// Verifying `id`'s history fails with `reason`; returns the error's message.
fn history_refused(store: &Store, id: &str, reason: DropReason) -> String {
    let err = store
        .existing_session(id)
        .unwrap()
        .verify_history()
        .unwrap_err();
    let text = err.to_string();
    match err {
        PersistError::Corrupt { reason: found, .. } => assert_eq!(found, reason, "{text}"),
        other => panic!("expected a corrupt history ({reason:?}), got: {other}"),
    }
    text
}

#[test]
fn flipped_byte_is_detected_and_cut_with_a_quarantined_copy() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let (path, frames) = one_record_frames(&store, "s", 5);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[frames[2].start + 40] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let text = history_refused(&store, "s", DropReason::Checksum);
    assert!(
        text.contains(&format!("byte {}", frames[2].start)),
        "{text}"
    );

    let recovery = recovered(&store, "s");
    assert_eq!(recovery.records_kept, 2);
    assert_eq!(
        recovery.bytes_dropped as usize,
        bytes.len() - frames[2].start
    );
    let quarantined = std::fs::read(recovery.quarantined.unwrap()).unwrap();
    assert_eq!(quarantined, bytes[frames[2].start..]);
    assert_eq!(
        store
            .existing_session("s")
            .unwrap()
            .verify_history()
            .unwrap(),
        2
    );
}

#[test]
fn flipped_byte_with_recomputed_checksum_fails_authentication() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let (path, frames) = one_record_frames(&store, "s", 3);
    let mut bytes = std::fs::read(&path).unwrap();
    let frame = frames[1].clone();
    bytes[frame.start + 40] ^= 0x80;
    let crc = crc32(&bytes[frame.start..frame.end - 4]);
    bytes[frame.end - 4..frame.end].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    history_refused(&store, "s", DropReason::Unauthentic);
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE), independent of the crate's implementation.
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn cut_file_is_torn_and_recovers_to_the_last_whole_frame() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let (path, frames) = one_record_frames(&store, "s", 4);
    let full = std::fs::read(&path).unwrap();
    let last = frames[3].clone();
    for cut in (last.start + 1)..last.end {
        std::fs::write(&path, &full[..cut]).unwrap();
        let session = store.existing_session("s").unwrap();
        let (records, recovery) = session.read_history().unwrap();
        assert_eq!(records.len(), 3, "cut at {cut}");
        assert_eq!(recovery.reason, Some(DropReason::Torn), "cut at {cut}");
        assert_eq!(recovery.bytes_dropped as usize, cut - last.start);
    }
    let recovery = recovered(&store, "s");
    assert_eq!(
        (recovery.records_kept, recovery.reason),
        (3, Some(DropReason::Torn))
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, last.start);
}

#[test]
fn swapped_and_replayed_frames_are_out_of_sequence() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let (path, frames) = one_record_frames(&store, "s", 4);
    let original = std::fs::read(&path).unwrap();

    let mut swapped = original[..frames[1].start].to_vec();
    swapped.extend_from_slice(&original[frames[2].clone()]);
    swapped.extend_from_slice(&original[frames[1].clone()]);
    swapped.extend_from_slice(&original[frames[3].clone()]);
    std::fs::write(&path, &swapped).unwrap();
    history_refused(
        &store,
        "s",
        DropReason::Sequence {
            expected: 1,
            found: 2,
        },
    );

    let mut replayed = original.clone();
    replayed.extend_from_slice(&original[frames[0].clone()]);
    std::fs::write(&path, &replayed).unwrap();
    history_refused(
        &store,
        "s",
        DropReason::Sequence {
            expected: 4,
            found: 0,
        },
    );
    let recovery = recovered(&store, "s");
    assert_eq!(recovery.records_kept, 4);
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

#[test]
fn frame_moved_from_another_session_fails_authentication() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let (path_a, frames_a) = one_record_frames(&store, "a", 2);
    let (path_b, _) = one_record_frames(&store, "b", 1);
    let a = std::fs::read(&path_a).unwrap();
    let mut b = std::fs::read(&path_b).unwrap();
    b.extend_from_slice(&a[frames_a[1].clone()]);
    std::fs::write(&path_b, &b).unwrap();
    history_refused(&store, "b", DropReason::Unauthentic);
    // A whole log moved into another session's directory is refused by its header.
    std::fs::copy(&path_a, &path_b).unwrap();
    let err = store
        .existing_session("b")
        .unwrap()
        .read_history()
        .unwrap_err();
    assert!(
        err.to_string().contains("belongs to session \"a\""),
        "{err}"
    );
}

#[test]
fn wrong_key_or_passphrase_is_a_clear_error_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let ring = Keyring::new(home.path());
    let key = ring
        .init(&KeySource::passphrase("right"), FAST_KDF)
        .unwrap();
    let store = Store::open(home.path(), Some(key.clone())).unwrap();
    populate(&store, "s", "k");
    let log = store.existing_session("s").unwrap().history_path();
    let before = std::fs::read(&log).unwrap();

    let err = ring.unlock(&KeySource::passphrase("wrong")).unwrap_err();
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    let err = Store::open(home.path(), Some(DataKey::generate())).unwrap_err();
    assert!(matches!(err, PersistError::WrongKey { .. }), "{err}");
    let err = Store::open(home.path(), None).unwrap_err();
    assert!(err.to_string().contains("no key was given"), "{err}");

    // Even bypassing the keyring check, a log refuses another key by its header, untouched.
    std::fs::remove_dir_all(home.path().join("keys")).unwrap();
    let other = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let session = other.existing_session("s").unwrap();
    let err = session.open_history().unwrap_err();
    assert!(matches!(err, PersistError::WrongKey { .. }), "{err}");
    let err = session.load_state_json().unwrap_err();
    assert!(matches!(err, PersistError::WrongKey { .. }), "{err}");
    assert_eq!(std::fs::read(&log).unwrap(), before);

    let plain = Store::open(home.path(), None).unwrap();
    let err = plain
        .existing_session("s")
        .unwrap()
        .read_history()
        .unwrap_err();
    assert!(matches!(err, PersistError::KeyRequired { .. }), "{err}");
}

#[test]
fn invalid_ids_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), None).unwrap();
    for id in ["", "..", "../x", "a/b", ".hidden", &"x".repeat(65)] {
        assert!(
            matches!(store.session(id), Err(PersistError::InvalidId { .. })),
            "{id:?}"
        );
    }
}

#[test]
fn batching_packs_small_records_into_few_frames() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path(), Some(DataKey::generate())).unwrap();
    let session = store.session("s").unwrap();
    let (mut log, _) = session.open_history().unwrap();
    for i in 0..1000 {
        log.append(
            RecordKind::Scrollback,
            format!("line {i} of some build output\n").as_bytes(),
        )
        .unwrap();
    }
    assert_eq!(log.sync().unwrap(), 1000);
    let size = std::fs::metadata(session.history_path()).unwrap().len();
    // 1000 records of ~30 bytes compress together far below their raw size.
    assert!(size < 10_000, "log is {size} bytes");
    assert_eq!(session.read_history().unwrap().0.len(), 1000);
}
