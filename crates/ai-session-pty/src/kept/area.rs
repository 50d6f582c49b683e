//! The shared area of a kept session: one memfd, held by the keeper and mapped by the daemon,
//! with everything the next daemon needs to continue the session exactly where this one
//! stopped, even after a `kill -9`.
//!
//! ```text
//! page 0        header (atomics: sizes, raw-input accounting, two commit slots)
//! TAG           the caller's tag (written once)
//! META          session config, nonce, tty (JSON, written once)
//! SNAP 0/1      two slots for the shell state (phase, running command, ids, cwd)
//! RECORDS       ring of finished command records, each `[len][json][len]`
//! RAW           ring of raw terminal bytes taken from the pipe, not yet turned into output
//! SCROLL        the scrollback ring: output offset `o` lives at `o % scroll_cap`
//! ```
//!
//! The memfd is sparse: an idle session touches a handful of pages. Commits are two-slot: the
//! writer fills the slot `commit_seq` does not point at, then stores `commit_seq + 1` with
//! release ordering, so a reader of a dead writer's area always finds a complete commit.
//!
//! Soundness: the mapping is only accessed through raw-pointer copies, `read(2)` into it and
//! atomics, never through Rust references to the shared bytes, so another process writing the
//! memfd (it never should: one daemon at a time) can garble data but cannot make this process
//! misbehave beyond that.

use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};

use crate::error::{PtyError, Result};

const MAGIC: u64 = u64::from_le_bytes(*b"AISKEPT1");
/// Layout version; an area of another version is not adopted.
pub(crate) const VERSION: u64 = 1;
const PAGE: usize = 4096;
const TAG_OFF: usize = PAGE;
/// Most bytes of caller tag.
pub(crate) const TAG_CAP: usize = 16 * 1024;
const META_OFF: usize = TAG_OFF + TAG_CAP;
const META_CAP: usize = 64 * 1024;
const SNAP_OFF: usize = META_OFF + META_CAP;
/// Bytes per state snapshot slot.
pub(crate) const SNAP_CAP: usize = 32 * 1024;
const RECORDS_OFF: usize = SNAP_OFF + 2 * SNAP_CAP;
const RECORDS_CAP: usize = 256 * 1024;
/// What a dead writer may have appended to a ring past its last commit (one chunk's worth),
/// overwriting the oldest bytes: those are not trusted on recovery.
pub(crate) const RING_SLACK: usize = 128 * 1024;
const RAW_OFF: usize = RECORDS_OFF + RECORDS_CAP;
/// Raw bytes between the last parse point and the newest read: a held-back mark (at most a
/// few KB) plus one read.
pub(crate) const RAW_CAP: usize = 128 * 1024;
const SCROLL_OFF: usize = RAW_OFF + RAW_CAP;

/// A consistent point: everything the next daemon trusts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Commit {
    /// Raw stream offset up to which bytes were turned into output and marks (the mark
    /// parser holds nothing at this point).
    pub parsed_to: u64,
    /// Output offset one past the newest scrollback byte.
    pub scroll_end: u64,
    /// Bytes ever appended to the record ring.
    pub records_end: u64,
    /// Records ever appended.
    pub records_count: u64,
    /// Which snapshot slot holds the state at this point, and its length.
    pub snap_slot: u64,
    pub snap_len: u64,
}

#[repr(C)]
struct CommitSlot {
    parsed_to: AtomicU64,
    scroll_end: AtomicU64,
    records_end: AtomicU64,
    records_count: AtomicU64,
    snap_slot: AtomicU64,
    snap_len: AtomicU64,
}

#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU64,
    total_len: AtomicU64,
    scroll_cap: AtomicU64,
    scroll_limit: AtomicU64,
    /// Output offset of the first byte this scrollback ever held.
    scroll_first: AtomicU64,
    meta_len: AtomicU64,
    tag_len: AtomicU64,
    /// Terminal size, `cols << 16 | rows` (kept current by resize).
    size: AtomicU64,
    /// Raw bytes ever moved from the pipe into the raw ring.
    raw_end: AtomicU64,
    /// `raw_end` when the newest pipe read began, and the bytes in the pipe then: if the
    /// writer died during that read, the pipe's byte count now says how much it took.
    read_at: AtomicU64,
    read_pipe: AtomicU64,
    commit_seq: AtomicU64,
    commits: [CommitSlot; 2],
}

const _: () = assert!(std::mem::size_of::<Header>() <= PAGE);
const TAG_LEN_OFFSET: usize = std::mem::offset_of!(Header, tag_len);

/// The mapped area.
pub(crate) struct Area {
    base: NonNull<u8>,
    len: usize,
    scroll_cap: usize,
}

// SAFETY: the mapping is owned by `Area` and accessed only through atomics and raw copies;
// which region each thread writes is coordinated by the session (see the module docs).
unsafe impl Send for Area {}
// SAFETY: as above.
unsafe impl Sync for Area {}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned; nothing uses them after this.
        unsafe {
            let _ = munmap(self.base.cast(), self.len);
        }
    }
}

fn state_err(reason: impl Into<String>) -> PtyError {
    PtyError::KeptState {
        reason: reason.into(),
    }
}

fn round_up(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

impl Area {
    /// A new area for a session whose scrollback keeps `limit` bytes and starts at output
    /// offset `first`.
    pub fn create(limit: usize, first: u64, meta: &[u8], tag: &[u8]) -> Result<(Area, OwnedFd)> {
        if meta.len() > META_CAP {
            return Err(state_err(format!(
                "session config is {} bytes, more than the {META_CAP} a kept session stores",
                meta.len()
            )));
        }
        if tag.len() > TAG_CAP {
            return Err(state_err(format!(
                "tag is {} bytes, more than {TAG_CAP}",
                tag.len()
            )));
        }
        let scroll_cap = round_up(limit.max(1) + RING_SLACK);
        let len = SCROLL_OFF + scroll_cap;
        let fd =
            memfd_create(c"ai-session-kept", MFdFlags::MFD_CLOEXEC).map_err(|e| PtyError::Io {
                action: "creating the kept session's memfd",
                source: e.into(),
            })?;
        nix::unistd::ftruncate(&fd, len as i64).map_err(|e| PtyError::Io {
            action: "sizing the kept session's memfd",
            source: e.into(),
        })?;
        let area = Area::map(fd.as_fd(), len, scroll_cap)?;
        let h = area.header();
        h.version.store(VERSION, Ordering::Relaxed);
        h.total_len.store(len as u64, Ordering::Relaxed);
        h.scroll_cap.store(scroll_cap as u64, Ordering::Relaxed);
        h.scroll_limit.store(limit as u64, Ordering::Relaxed);
        h.scroll_first.store(first, Ordering::Relaxed);
        for slot in &h.commits {
            slot.scroll_end.store(first, Ordering::Relaxed);
        }
        area.write_bytes(META_OFF, meta);
        h.meta_len.store(meta.len() as u64, Ordering::Relaxed);
        area.write_bytes(TAG_OFF, tag);
        h.tag_len.store(tag.len() as u64, Ordering::Relaxed);
        h.magic.store(MAGIC, Ordering::Release);
        Ok((area, fd))
    }

    /// Map an existing area (from the keeper) and check its header.
    pub fn open(fd: BorrowedFd<'_>) -> Result<Area> {
        let st = nix::sys::stat::fstat(fd).map_err(|e| PtyError::Io {
            action: "reading the kept session's memfd size",
            source: e.into(),
        })?;
        let len = usize::try_from(st.st_size).unwrap_or(0);
        if len < SCROLL_OFF + PAGE {
            return Err(state_err(format!("memfd is only {len} bytes")));
        }
        let mut area = Area::map(fd, len, 0)?;
        let h = area.header();
        if h.magic.load(Ordering::Acquire) != MAGIC {
            return Err(state_err("no kept-session header in the memfd"));
        }
        let version = h.version.load(Ordering::Relaxed);
        if version != VERSION {
            return Err(state_err(format!(
                "layout version {version}, this build reads {VERSION}"
            )));
        }
        let scroll_cap = h.scroll_cap.load(Ordering::Relaxed) as usize;
        if h.total_len.load(Ordering::Relaxed) as usize != len
            || SCROLL_OFF.checked_add(scroll_cap) != Some(len)
            || scroll_cap <= RING_SLACK
        {
            return Err(state_err("memfd size does not match its header"));
        }
        area.scroll_cap = scroll_cap;
        Ok(area)
    }

    fn map(fd: BorrowedFd<'_>, len: usize, scroll_cap: usize) -> Result<Area> {
        let length = NonZeroUsize::new(len).ok_or_else(|| state_err("empty memfd"))?;
        // SAFETY: a fresh shared mapping of a memfd we hold; no existing memory is affected.
        let base = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| PtyError::Io {
            action: "mapping the kept session's memfd",
            source: e.into(),
        })?;
        Ok(Area {
            base: base.cast(),
            len,
            scroll_cap,
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: page 0 of a live mapping holds the header; every field is an atomic, valid
        // for any bit pattern, and the base is page-aligned.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    fn write_bytes(&self, offset: usize, data: &[u8]) {
        assert!(
            offset
                .checked_add(data.len())
                .is_some_and(|end| end <= self.len)
        );
        // SAFETY: in bounds (checked above); a raw copy into the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(offset), data.len())
        };
    }

    fn read_bytes(&self, offset: usize, len: usize) -> Vec<u8> {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len));
        let mut out = vec![0u8; len];
        // SAFETY: in bounds (checked above); a raw copy out of the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(offset), out.as_mut_ptr(), len)
        };
        out
    }

    /// Copy `data` into the ring `[ring_off, ring_off + cap)` at stream position `pos`.
    fn ring_write(&self, ring_off: usize, cap: usize, pos: u64, data: &[u8]) {
        let mut written = 0;
        while written < data.len() {
            let at = ((pos + written as u64) % cap as u64) as usize;
            let n = (cap - at).min(data.len() - written);
            self.write_bytes(ring_off + at, &data[written..written + n]);
            written += n;
        }
    }

    fn ring_read(&self, ring_off: usize, cap: usize, from: u64, to: u64) -> Vec<u8> {
        let mut out = Vec::new();
        self.ring_read_into(ring_off, cap, from, to, &mut out);
        out
    }

    fn ring_read_into(&self, ring_off: usize, cap: usize, from: u64, to: u64, out: &mut Vec<u8>) {
        let len = to.saturating_sub(from) as usize;
        out.reserve(len);
        let mut done = 0;
        while done < len {
            let at = ((from + done as u64) % cap as u64) as usize;
            let n = (cap - at).min(len - done);
            let offset = ring_off + at;
            assert!(offset + n <= self.len);
            let old_len = out.len();
            // SAFETY: in bounds (checked above); a raw copy out of the mapping into spare
            // capacity reserved above, which becomes initialised by it.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.base.as_ptr().add(offset),
                    out.as_mut_ptr().add(old_len),
                    n,
                );
                out.set_len(old_len + n);
            }
            done += n;
        }
    }

    // --- meta and tag -------------------------------------------------------------------

    pub fn meta(&self) -> Result<Vec<u8>> {
        let len = self.header().meta_len.load(Ordering::Relaxed) as usize;
        if len > META_CAP {
            return Err(state_err("config length out of range"));
        }
        Ok(self.read_bytes(META_OFF, len))
    }

    pub fn scroll_limit(&self) -> usize {
        (self.header().scroll_limit.load(Ordering::Relaxed) as usize)
            .min(self.scroll_cap - RING_SLACK)
    }

    pub fn scroll_first(&self) -> u64 {
        self.header().scroll_first.load(Ordering::Relaxed)
    }

    pub fn set_size(&self, cols: u16, rows: u16) {
        self.header()
            .size
            .store((u64::from(cols) << 16) | u64::from(rows), Ordering::Relaxed);
    }

    /// `(cols, rows)` as last set, if ever.
    pub fn size(&self) -> Option<(u16, u16)> {
        let v = self.header().size.load(Ordering::Relaxed);
        (v != 0).then_some(((v >> 16) as u16, v as u16))
    }

    // --- raw input ----------------------------------------------------------------------

    #[cfg(test)]
    pub fn raw_end(&self) -> u64 {
        self.header().raw_end.load(Ordering::Acquire)
    }

    /// Before a read from the pipe: where it lands and how many bytes the pipe holds.
    pub fn note_read(&self, at: u64, pipe_len: usize) {
        let h = self.header();
        h.read_at.store(at, Ordering::Relaxed);
        h.read_pipe.store(pipe_len as u64, Ordering::Release);
    }

    /// After a read: the raw ring now holds bytes up to `end`.
    pub fn set_raw_end(&self, end: u64) {
        self.header().raw_end.store(end, Ordering::Release);
    }

    /// The raw end a dead writer really reached: if it died inside a pipe read (`read_at` is
    /// still the recorded end), the pipe has shrunk by exactly what the read took.
    pub fn recovered_raw_end(&self, pipe_len_now: usize) -> u64 {
        let h = self.header();
        let end = h.raw_end.load(Ordering::Acquire);
        let at = h.read_at.load(Ordering::Acquire);
        let before = h.read_pipe.load(Ordering::Acquire);
        if at == end {
            end + before
                .saturating_sub(pipe_len_now as u64)
                .min(RAW_CAP as u64)
        } else {
            end
        }
    }

    /// Read from `pipe` (at most `want` bytes) straight into the raw ring at stream position
    /// `end`, never overwriting anything from `keep_from` on: a read that dies half-way leaves
    /// its bytes where the next daemon looks for them (see [`Area::recovered_raw_end`]).
    pub fn read_pipe(
        &self,
        pipe: BorrowedFd<'_>,
        keep_from: u64,
        end: u64,
        want: usize,
    ) -> nix::Result<usize> {
        let used = end.saturating_sub(keep_from) as usize;
        let free = RAW_CAP.saturating_sub(used);
        let at = (end % RAW_CAP as u64) as usize;
        let n = free.min(RAW_CAP - at).min(want);
        // SAFETY: `at + n <= RAW_CAP`, so the kernel writes only inside the raw ring of the
        // live mapping, which no Rust reference points into (module docs).
        let got = unsafe {
            libc::read(
                pipe.as_raw_fd(),
                self.base.as_ptr().add(RAW_OFF + at).cast(),
                n,
            )
        };
        nix::Error::result(got).map(|n| n as usize)
    }

    /// Raw bytes `[from, to)` (at most `RAW_CAP` back from `to`), appended to `out`.
    pub fn raw_read_into(&self, from: u64, to: u64, out: &mut Vec<u8>) {
        let from = from.max(to.saturating_sub(RAW_CAP as u64));
        self.ring_read_into(RAW_OFF, RAW_CAP, from, to, out);
    }

    /// Raw bytes `[from, to)` (at most `RAW_CAP` back from `to`).
    pub fn raw_read(&self, from: u64, to: u64) -> Vec<u8> {
        let mut out = Vec::new();
        self.raw_read_into(from, to, &mut out);
        out
    }

    // --- scrollback ---------------------------------------------------------------------

    pub fn scroll_write(&self, offset: u64, data: &[u8]) {
        if data.len() > self.scroll_cap {
            let skip = data.len() - self.scroll_cap;
            self.ring_write(
                SCROLL_OFF,
                self.scroll_cap,
                offset + skip as u64,
                &data[skip..],
            );
        } else {
            self.ring_write(SCROLL_OFF, self.scroll_cap, offset, data);
        }
    }

    pub fn scroll_read(&self, from: u64, to: u64) -> Vec<u8> {
        self.ring_read(SCROLL_OFF, self.scroll_cap, from, to)
    }

    // --- records ------------------------------------------------------------------------

    /// Append one record at ring position `end`; returns the new end.
    pub fn record_append(&self, end: u64, record: &[u8]) -> u64 {
        let len = (record.len() as u32).to_le_bytes();
        let mut framed = Vec::with_capacity(record.len() + 8);
        framed.extend_from_slice(&len);
        framed.extend_from_slice(record);
        framed.extend_from_slice(&len);
        self.ring_write(RECORDS_OFF, RECORDS_CAP, end, &framed);
        end + framed.len() as u64
    }

    /// The newest records that end at `end` and still lie wholly in the trusted part of the
    /// ring, oldest first (at most `count`).
    pub fn records(&self, end: u64, count: u64) -> Vec<Vec<u8>> {
        let window_start = end.saturating_sub((RECORDS_CAP - RING_SLACK) as u64);
        let mut found = Vec::new();
        let mut pos = end;
        while (found.len() as u64) < count && pos >= window_start + 8 {
            let tail = self.ring_read(RECORDS_OFF, RECORDS_CAP, pos - 4, pos);
            let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
            let Some(start) = pos.checked_sub(len + 8).filter(|s| *s >= window_start) else {
                break;
            };
            let head = self.ring_read(RECORDS_OFF, RECORDS_CAP, start, start + 4);
            if u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as u64 != len {
                break;
            }
            found.push(self.ring_read(RECORDS_OFF, RECORDS_CAP, start + 4, pos - 4));
            pos = start;
        }
        found.reverse();
        found
    }

    // --- snapshots and commits ----------------------------------------------------------

    /// Write a snapshot into the slot the current commit does not use; returns `(slot, len)`
    /// for the next commit, or `None` if it does not fit.
    pub fn write_snapshot(&self, current: &Commit, bytes: &[u8]) -> Option<(u64, u64)> {
        if bytes.len() > SNAP_CAP {
            return None;
        }
        let slot = (current.snap_slot + 1) % 2;
        self.write_bytes(SNAP_OFF + slot as usize * SNAP_CAP, bytes);
        Some((slot, bytes.len() as u64))
    }

    pub fn snapshot(&self, commit: &Commit) -> Vec<u8> {
        let slot = (commit.snap_slot % 2) as usize;
        let len = (commit.snap_len as usize).min(SNAP_CAP);
        self.read_bytes(SNAP_OFF + slot * SNAP_CAP, len)
    }

    pub fn commit(&self, commit: &Commit) {
        let h = self.header();
        let seq = h.commit_seq.load(Ordering::Relaxed) + 1;
        let slot = &h.commits[(seq % 2) as usize];
        slot.parsed_to.store(commit.parsed_to, Ordering::Relaxed);
        slot.scroll_end.store(commit.scroll_end, Ordering::Relaxed);
        slot.records_end
            .store(commit.records_end, Ordering::Relaxed);
        slot.records_count
            .store(commit.records_count, Ordering::Relaxed);
        slot.snap_slot.store(commit.snap_slot, Ordering::Relaxed);
        slot.snap_len.store(commit.snap_len, Ordering::Relaxed);
        h.commit_seq.store(seq, Ordering::Release);
    }

    pub fn active_commit(&self) -> Commit {
        let h = self.header();
        let seq = h.commit_seq.load(Ordering::Acquire);
        let slot = &h.commits[(seq % 2) as usize];
        Commit {
            parsed_to: slot.parsed_to.load(Ordering::Relaxed),
            scroll_end: slot.scroll_end.load(Ordering::Relaxed),
            records_end: slot.records_end.load(Ordering::Relaxed),
            records_count: slot.records_count.load(Ordering::Relaxed),
            snap_slot: slot.snap_slot.load(Ordering::Relaxed),
            snap_len: slot.snap_len.load(Ordering::Relaxed),
        }
    }
}

/// The caller's tag of the area in `memfd`, read without mapping it.
pub(crate) fn read_tag(memfd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    let mut len = [0u8; 8];
    nix::sys::uio::pread(memfd, &mut len, TAG_LEN_OFFSET as i64).ok()?;
    let len = (u64::from_le_bytes(len) as usize).min(TAG_CAP);
    let mut tag = vec![0u8; len];
    let n = nix::sys::uio::pread(memfd, &mut tag, TAG_OFF as i64).ok()?;
    tag.truncate(n);
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_rings_and_recovery_arithmetic() {
        let (area, fd) = Area::create(1000, 0, b"{}", b"tag-1").unwrap();
        assert_eq!(read_tag(fd.as_fd()).unwrap(), b"tag-1");
        let reopened = Area::open(fd.as_fd()).unwrap();
        assert_eq!(reopened.meta().unwrap(), b"{}");
        assert_eq!(reopened.active_commit(), Commit::default());

        // Scrollback ring wraps at its capacity and reads back by absolute offset.
        let cap = area.scroll_cap as u64;
        let text: Vec<u8> = (0..cap + 500).map(|i| (i % 251) as u8).collect();
        area.scroll_write(0, &text);
        assert_eq!(
            reopened.scroll_read(cap, cap + 500),
            text[cap as usize..].to_vec()
        );

        // Records: appended, read back newest-first-limited, oldest first.
        let mut end = 0;
        for i in 0..5u8 {
            end = area.record_append(end, &vec![i; 10 + i as usize]);
        }
        let got = reopened.records(end, 3);
        assert_eq!(got, vec![vec![2u8; 12], vec![3u8; 13], vec![4u8; 14]]);

        // Two-slot commit; the snapshot goes to the other slot.
        let mut commit = area.active_commit();
        let (slot, len) = area.write_snapshot(&commit, b"state").unwrap();
        commit = Commit {
            parsed_to: 7,
            scroll_end: 9,
            records_end: end,
            records_count: 5,
            snap_slot: slot,
            snap_len: len,
        };
        area.commit(&commit);
        assert_eq!(reopened.active_commit(), commit);
        assert_eq!(reopened.snapshot(&commit), b"state");

        // A writer that died inside a pipe read: the pipe shrank by what the read took.
        area.set_raw_end(100);
        area.note_read(100, 40);
        assert_eq!(reopened.recovered_raw_end(15), 125);
        // ... and one that finished the read (raw_end moved on): nothing to add.
        area.set_raw_end(125);
        assert_eq!(reopened.raw_end(), 125);
        assert_eq!(reopened.recovered_raw_end(0), 125);
    }
}
