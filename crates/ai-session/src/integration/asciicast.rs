//! asciicast v2 (<https://docs.asciinema.org/manual/asciicast/v2/>): a JSON header line, then
//! one `[seconds, "o", "text"]` line per burst of output, times relative to the first output.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::{ExternalIntegration, IntegrationError, SessionRecording};

/// Writes a [`SessionRecording`] as an asciicast v2 file, keeping the recorded pacing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsciicastExporter;

/// An asciicast v2 file and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Asciicast {
    /// The file: the header line, then one line per output event.
    pub file: Vec<u8>,
    /// Output events (lines after the header).
    pub events: usize,
    /// Time of the last event, in seconds after the first.
    pub duration_s: f64,
}

impl ExternalIntegration for AsciicastExporter {
    fn name(&self) -> &'static str {
        "asciicast"
    }

    fn export_session_data(
        &self,
        recording: &SessionRecording,
    ) -> Result<Vec<u8>, IntegrationError> {
        Ok(self.render(recording)?.file)
    }
}

impl AsciicastExporter {
    /// `recording` as an asciicast v2 file, with its number of events and duration.
    pub fn render(&self, recording: &SessionRecording) -> Result<Asciicast, IntegrationError> {
        let events = events(recording)?;
        let first_ms = events.first().map_or(0, |e| e.0);
        let header = Header {
            version: 2,
            width: recording.cols,
            height: recording.rows,
            timestamp: (recording.started_at_ms + first_ms) / 1000,
            env: &recording.env,
        };
        let mut out = serde_json::to_vec(&header)
            .map_err(|e| IntegrationError::InvalidData(format!("header: {e}")))?;
        out.push(b'\n');
        let mut duration_s = 0.0;
        for (ms, text) in &events {
            duration_s = (ms - first_ms) as f64 / 1000.0;
            out.extend(json!([duration_s, "o", text]).to_string().as_bytes());
            out.push(b'\n');
        }
        Ok(Asciicast {
            file: out,
            events: events.len(),
            duration_s,
        })
    }
}

/// The first line, fields in the order the format's documentation shows them.
#[derive(Serialize)]
struct Header<'a> {
    version: u8,
    width: u16,
    height: u16,
    timestamp: u64,
    env: &'a BTreeMap<String, String>,
}

/// `(ms, text)` per burst, empty bursts skipped. UTF-8 sequences split between bursts move
/// whole into the later one; invalid bytes become U+FFFD.
fn events(recording: &SessionRecording) -> Result<Vec<(u64, String)>, IntegrationError> {
    let start = recording.output_start;
    let end = start + recording.output.len() as u64;
    let mut cuts: Vec<(u64, u64)> = vec![(start, 0)];
    for mark in &recording.timeline {
        let (last_offset, last_ms) = *cuts.last().unwrap_or(&(start, 0));
        if mark.offset < last_offset || (mark.ms < last_ms && mark.offset > start) {
            return Err(IntegrationError::InvalidData(format!(
                "timeline mark at offset {} ({} ms) goes back in time or offset",
                mark.offset, mark.ms
            )));
        }
        if mark.offset <= start {
            // Covers the start: the recording's first bytes arrived then.
            cuts[0].1 = mark.ms;
        } else if mark.offset < end {
            cuts.push((mark.offset, mark.ms));
        }
    }
    let mut events = Vec::new();
    let mut carry = Vec::new();
    for (i, &(offset, ms)) in cuts.iter().enumerate() {
        let next = cuts.get(i + 1).map_or(end, |c| c.0);
        let piece = &recording.output[(offset - start) as usize..(next - start) as usize];
        carry.extend_from_slice(piece);
        let last = i + 1 == cuts.len();
        let text = take_text(&mut carry, last);
        if !text.is_empty() {
            events.push((ms, text));
        }
    }
    Ok(events)
}

/// The longest decodable prefix of `bytes` as text, leaving an incomplete trailing sequence
/// in `bytes` unless `flush`.
fn take_text(bytes: &mut Vec<u8>, flush: bool) -> String {
    let keep_from = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(error) => {
            let tail = bytes.len() - error.valid_up_to();
            // A truncated sequence is at most 3 bytes; longer tails hold invalid bytes.
            if !flush && error.error_len().is_none() && tail < 4 {
                error.valid_up_to()
            } else {
                bytes.len()
            }
        }
    };
    let rest = bytes.split_off(keep_from);
    let text = String::from_utf8_lossy(bytes).into_owned();
    *bytes = rest;
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::TimelineMark;

    fn recording(output: &[u8], marks: &[(u64, u64)]) -> SessionRecording {
        SessionRecording {
            id: "t".into(),
            cols: 80,
            rows: 24,
            started_at_ms: 1_700_000_000_000,
            output_start: 0,
            output: output.to_vec(),
            timeline: marks
                .iter()
                .map(|&(offset, ms)| TimelineMark { offset, ms })
                .collect(),
            ..SessionRecording::default()
        }
    }

    #[test]
    fn header_and_relative_times() {
        let rec = recording(b"one\r\ntwo\r\n", &[(0, 200), (5, 700)]);
        let file = AsciicastExporter.export_session_data(&rec).unwrap();
        let text = String::from_utf8(file).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            text.starts_with(r#"{"version":2,"width":80,"height":24,"#),
            "{text}"
        );
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[0]["width"], 80);
        assert_eq!(lines[0]["timestamp"], 1_700_000_000);
        assert_eq!(lines[1], json!([0.0, "o", "one\r\n"]));
        assert_eq!(lines[2], json!([0.5, "o", "two\r\n"]));
        let cast = AsciicastExporter.render(&rec).unwrap();
        assert_eq!((cast.events, cast.duration_s), (2, 0.5));
        assert_eq!(cast.file, text.as_bytes());
    }

    #[test]
    fn split_utf8_moves_to_the_later_event() {
        let euro = "€".as_bytes(); // 3 bytes
        let mut output = b"a".to_vec();
        output.extend_from_slice(euro);
        let rec = recording(&output, &[(0, 0), (2, 100)]);
        let events = events(&rec).unwrap();
        assert_eq!(events, vec![(0, "a".to_owned()), (100, "€".to_owned())]);
    }

    #[test]
    fn marks_out_of_order_are_rejected() {
        let rec = recording(b"abcdef", &[(3, 10), (1, 20)]);
        assert!(matches!(
            events(&rec),
            Err(IntegrationError::InvalidData(_))
        ));
    }
}
