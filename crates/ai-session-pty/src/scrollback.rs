//! A byte ring addressed by absolute offsets: offset 0 is the first byte the program ever wrote,
//! and old bytes drop off the front when the ring is full.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::kept::area::Area;

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
    storage: Storage,
    /// Absolute offset of the oldest byte held.
    start: u64,
    /// Absolute offset one past the newest byte.
    end: u64,
    limit: usize,
}

enum Storage {
    /// In this process's memory (`bytes[0]` is at `start`).
    Heap(VecDeque<u8>),
    /// In a kept session's shared area, which outlives the process (offset `o` lives at
    /// `o % capacity`; the area keeps more than `limit`, see `kept::area::RING_SLACK`).
    Shared(Arc<Area>),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Heap(bytes) => write!(f, "Heap({} bytes)", bytes.len()),
            Storage::Shared(_) => f.write_str("Shared"),
        }
    }
}

impl Scrollback {
    /// An empty ring keeping at most `limit` bytes (at least 1).
    pub fn new(limit: usize) -> Self {
        Self {
            storage: Storage::Heap(VecDeque::new()),
            start: 0,
            end: 0,
            limit: limit.max(1),
        }
    }

    /// A ring in a kept session's shared area that holds output up to `end`, from `first`
    /// on (the area's own limit applies).
    pub(crate) fn shared(area: Arc<Area>, first: u64, end: u64) -> Self {
        let limit = area.scroll_limit().max(1);
        Self {
            storage: Storage::Shared(area),
            start: first.max(end.saturating_sub(limit as u64)).min(end),
            end,
            limit,
        }
    }

    /// How many bytes the ring keeps.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Offset of the oldest byte still held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Offset one past the newest byte (total bytes ever appended).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Append bytes, evicting the oldest ones beyond the limit.
    pub fn append(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match &mut self.storage {
            Storage::Heap(bytes) => {
                if data.len() >= self.limit {
                    bytes.clear();
                    bytes.extend(&data[data.len() - self.limit..]);
                } else {
                    bytes.extend(data);
                    let excess = bytes.len().saturating_sub(self.limit);
                    if excess > 0 {
                        bytes.drain(..excess);
                    }
                }
            }
            Storage::Shared(area) => area.scroll_write(self.end, data),
        }
        self.end += data.len() as u64;
        self.start = self.start.max(self.end.saturating_sub(self.limit as u64));
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
        match &self.storage {
            Storage::Heap(bytes) => {
                let a = (range.start - self.start) as usize;
                let b = (range.end - self.start) as usize;
                let (front, back) = bytes.as_slices();
                let mut out = Vec::with_capacity(b - a);
                if a < front.len() {
                    out.extend_from_slice(&front[a..b.min(front.len())]);
                }
                if b > front.len() {
                    out.extend_from_slice(&back[a.saturating_sub(front.len())..b - front.len()]);
                }
                out
            }
            Storage::Shared(area) => area.scroll_read(range.start, range.end),
        }
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

    #[test]
    fn shared_ring_matches_the_heap_ring() {
        let (area, _fd) = crate::kept::area::Area::create(100, 0, b"", b"").unwrap();
        let mut shared = Scrollback::shared(Arc::new(area), 0, 0);
        let mut heap = Scrollback::new(100);
        for i in 0..300u32 {
            let piece = format!("{i},").repeat((i % 7) as usize);
            shared.append(piece.as_bytes());
            heap.append(piece.as_bytes());
            assert_eq!((shared.start(), shared.end()), (heap.start(), heap.end()));
            assert_eq!(shared.read(0, 1000), heap.read(0, 1000));
        }
        assert_eq!(
            shared.slice(heap.end() - 50..heap.end()),
            heap.slice(heap.end() - 50..heap.end())
        );
    }
}
