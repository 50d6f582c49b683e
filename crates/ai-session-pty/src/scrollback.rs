//! A byte ring addressed by absolute offsets: offset 0 is the first byte the program ever wrote,
//! and old bytes drop off the front when the ring is full.

use std::collections::VecDeque;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Bytes read from the scrollback, with where they sit in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadChunk {
    /// The bytes `[start, next_offset)`.
    pub data: Vec<u8>,
    /// Absolute offset of `data[0]`. Greater than the requested `since` when those bytes have
    /// already dropped off the ring.
    pub start: u64,
    /// Pass this as `since` next time to continue exactly where this read ended.
    pub next_offset: u64,
    /// Bytes between the requested `since` and `start` that are lost (evicted).
    pub missed: u64,
}

/// The ring itself.
#[derive(Debug)]
pub struct Scrollback {
    bytes: VecDeque<u8>,
    /// Absolute offset of `bytes[0]`.
    start: u64,
    limit: usize,
}

impl Scrollback {
    /// An empty ring keeping at most `limit` bytes (at least 1).
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: VecDeque::new(),
            start: 0,
            limit: limit.max(1),
        }
    }

    /// Offset of the oldest byte still held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Offset one past the newest byte (total bytes ever appended).
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Append bytes, evicting the oldest ones beyond the limit.
    pub fn append(&mut self, data: &[u8]) {
        if data.len() >= self.limit {
            let dropped = self.bytes.len() + data.len() - self.limit;
            self.bytes.clear();
            self.bytes.extend(&data[data.len() - self.limit..]);
            self.start += dropped as u64;
            return;
        }
        self.bytes.extend(data);
        let excess = self.bytes.len().saturating_sub(self.limit);
        if excess > 0 {
            self.bytes.drain(..excess);
            self.start += excess as u64;
        }
    }

    /// Up to `max` bytes from `since` (clamped to what is held).
    pub fn read(&self, since: u64, max: usize) -> ReadChunk {
        let end = self.end();
        let from = since.clamp(self.start, end);
        let to = end.min(from.saturating_add(max as u64));
        ReadChunk {
            data: self.copy(from..to),
            start: from,
            next_offset: to,
            missed: from.saturating_sub(since),
        }
    }

    /// The held part of an absolute range (the part that was evicted is skipped).
    pub fn slice(&self, range: Range<u64>) -> Vec<u8> {
        let from = range.start.clamp(self.start, self.end());
        let to = range.end.clamp(from, self.end());
        self.copy(from..to)
    }

    fn copy(&self, range: Range<u64>) -> Vec<u8> {
        let a = (range.start - self.start) as usize;
        let b = (range.end - self.start) as usize;
        let (front, back) = self.bytes.as_slices();
        let mut out = Vec::with_capacity(b - a);
        if a < front.len() {
            out.extend_from_slice(&front[a..b.min(front.len())]);
        }
        if b > front.len() {
            out.extend_from_slice(&back[a.saturating_sub(front.len())..b - front.len()]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_eviction() {
        let mut ring = Scrollback::new(8);
        ring.append(b"0123456");
        ring.append(b"789ab");
        assert_eq!((ring.start(), ring.end()), (4, 12));
        let chunk = ring.read(0, 100);
        assert_eq!(chunk.data, b"456789ab");
        assert_eq!((chunk.start, chunk.next_offset, chunk.missed), (4, 12, 4));
        let chunk = ring.read(10, 1);
        assert_eq!((chunk.data.as_slice(), chunk.next_offset), (&b"a"[..], 11));
        assert_eq!(ring.slice(2..6), b"45");
        assert!(ring.read(99, 10).data.is_empty());
    }

    #[test]
    fn chunk_larger_than_limit() {
        let mut ring = Scrollback::new(4);
        ring.append(b"ab");
        ring.append(b"cdefgh");
        assert_eq!((ring.start(), ring.end()), (4, 8));
        assert_eq!(ring.read(0, 10).data, b"efgh");
    }

    #[test]
    fn incremental_reads_never_repeat() {
        let mut ring = Scrollback::new(1 << 20);
        let mut seen = Vec::new();
        let mut since = 0;
        for i in 0..100u32 {
            ring.append(format!("line {i}\n").as_bytes());
            let chunk = ring.read(since, 7);
            seen.extend(chunk.data);
            since = chunk.next_offset;
        }
        let rest = ring.read(since, usize::MAX);
        seen.extend(rest.data);
        assert_eq!(seen, ring.read(0, usize::MAX).data);
    }
}
