//! When output arrived: a bounded ring of `(stream offset, ms since session start)` marks, one
//! per burst of output, so a recording can be replayed with its original pacing.

use std::collections::VecDeque;
use std::time::Instant;

/// Chunks arriving within this many ms of the previous mark share it (keeps memory small).
const COALESCE_MS: u64 = 5;
/// At most this many marks are kept (16 bytes each: 16 KiB worst case, a few KB typically).
const MAX_MARKS: usize = 1024;

/// Arrival times of output, oldest first.
#[derive(Debug)]
pub(crate) struct Timeline {
    origin: Instant,
    marks: VecDeque<(u64, u64)>,
}

impl Timeline {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            marks: VecDeque::new(),
        }
    }

    /// Note that output starting at stream `offset` arrived now; `oldest_held` is the
    /// scrollback's start (marks only covering evicted bytes are dropped).
    pub fn record(&mut self, offset: u64, oldest_held: u64) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.record_at(offset, ms, oldest_held);
    }

    fn record_at(&mut self, offset: u64, ms: u64, oldest_held: u64) {
        if let Some(&(_, last_ms)) = self.marks.back()
            && ms.saturating_sub(last_ms) < COALESCE_MS
        {
            return;
        }
        while self
            .marks
            .get(1)
            .is_some_and(|&(next, _)| next <= oldest_held)
        {
            self.marks.pop_front();
        }
        if self.marks.len() == MAX_MARKS {
            // Thin the older half (each dropped mark's bytes join the one before) rather than
            // forget the start: old output keeps coarse timing, recent output exact timing.
            let mut index = 0;
            self.marks.retain(|_| {
                let keep = index >= MAX_MARKS / 2 || index % 2 == 0;
                index += 1;
                keep
            });
        }
        self.marks.push_back((offset, ms));
    }

    /// Marks whose output starts at or after `since`, plus the one covering `since`.
    pub fn since(&self, since: u64) -> Vec<(u64, u64)> {
        let first = self.marks.partition_point(|&(offset, _)| offset <= since);
        self.marks
            .iter()
            .skip(first.saturating_sub(1))
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_bursts_and_stays_bounded() {
        let mut timeline = Timeline::new();
        timeline.record_at(0, 0, 0);
        timeline.record_at(10, 2, 0);
        timeline.record_at(20, 600, 0);
        assert_eq!(timeline.since(0), vec![(0, 0), (20, 600)]);
        assert_eq!(timeline.since(25), vec![(20, 600)]);
        assert_eq!(timeline.since(15), vec![(0, 0), (20, 600)]);
        for i in 0..(MAX_MARKS as u64 * 2) {
            timeline.record_at(100 + i, 1_000 + i * 10, 0);
        }
        assert!(timeline.marks.len() <= MAX_MARKS);
        assert_eq!(timeline.marks[0], (0, 0), "the start keeps its time");
        let newest = MAX_MARKS as u64 * 2 - 1;
        assert_eq!(
            timeline.marks.back(),
            Some(&(100 + newest, 1_000 + newest * 10))
        );
        assert!(
            timeline
                .marks
                .iter()
                .zip(timeline.marks.iter().skip(1))
                .all(|(a, b)| a < b)
        );
    }

    #[test]
    fn marks_of_evicted_bytes_go() {
        let mut timeline = Timeline::new();
        for i in 0..10 {
            timeline.record_at(i * 100, i * 10, 0);
        }
        timeline.record_at(1_000, 200, 450);
        assert_eq!(
            timeline.since(0)[0],
            (400, 40),
            "the mark covering byte 450 stays"
        );
    }
}
