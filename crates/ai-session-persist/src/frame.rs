//! The on-disk frame: a batch of records, compressed, optionally sealed, checksummed.
//!
//! ```text
//! offset size  field
//!      0    4  magic "AIsF"
//!      4    1  format version (1)
//!      5    1  flags: bit 0 zstd, bit 1 sealed (XChaCha20-Poly1305); other bits must be 0
//!      6    2  reserved, must be 0
//!      8    8  sequence number of the first record in the frame (little endian, like all fields)
//!     16    4  number of records in the frame (1 ..= MAX_RECORDS_PER_FRAME)
//!     20    4  length of the batch before compression (<= MAX_RAW_LEN)
//!     24    4  body length (<= MAX_BODY_LEN)
//!     28    n  body: the batch, zstd-compressed if flagged; if sealed, nonce(24) || ciphertext || tag(16)
//!   28+n    4  CRC-32 of bytes 0 .. 28+n
//! ```
//!
//! The batch is `count` records, each `kind u8 | length u32 | data`. When sealed, the associated
//! data is a domain string, the stream (which file), the session id and the whole 28-byte header,
//! so a frame cannot be moved to another session or file, renumbered, or have its flags changed.
//! The sequence check in the reader then catches swapped, replayed and deleted frames.

use crate::crypto::{DataKey, NONCE_LEN, TAG_LEN};
use crate::error::DropReason;

/// Magic bytes at the start of every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"AIsF";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Size of the fixed frame header.
pub const FRAME_HEADER_LEN: usize = 28;
/// Size of the CRC trailer.
pub const FRAME_TRAILER_LEN: usize = 4;
/// Largest batch (before compression) one frame may carry; bounds every allocation a reader makes.
pub const MAX_RAW_LEN: usize = 16 << 20;
/// Largest body one frame may carry (worst-case zstd expansion plus nonce and tag).
pub const MAX_BODY_LEN: usize = MAX_RAW_LEN + (MAX_RAW_LEN >> 7) + 4096 + NONCE_LEN + TAG_LEN;
/// Largest number of records in one frame.
pub const MAX_RECORDS_PER_FRAME: u32 = 1 << 20;
/// Per-record overhead inside a batch (kind byte and length).
pub const RECORD_HEADER_LEN: usize = 5;

const FLAG_ZSTD: u8 = 1;
const FLAG_SEALED: u8 = 2;
const AAD_DOMAIN: &[u8] = b"ai-session-persist frame v1";

/// What a record holds. Stored as one byte; unknown values are rejected on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum RecordKind {
    /// A finished command (the caller's serialised command record).
    Command = 1,
    /// A chunk of terminal output.
    Scrollback = 2,
    /// Anything else worth keeping in order with the rest (resize, config change, analytics).
    Event = 3,
    /// An opaque blob (context, state) stored as a single record.
    Blob = 4,
}

impl RecordKind {
    fn from_byte(byte: u8) -> Option<RecordKind> {
        match byte {
            1 => Some(RecordKind::Command),
            2 => Some(RecordKind::Scrollback),
            3 => Some(RecordKind::Event),
            4 => Some(RecordKind::Blob),
            _ => None,
        }
    }
}

/// One typed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What the record holds.
    pub kind: RecordKind,
    /// The record's bytes, as the caller appended them.
    pub data: Vec<u8>,
}

/// Which file of a session a frame belongs to; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Stream {
    /// `sessions/{id}/history.log`.
    History = 1,
    /// `sessions/{id}/context.bin`.
    Context = 2,
    /// `metadata/analytics.db`.
    Analytics = 3,
    /// `sessions/{id}/state.json`.
    State = 4,
    /// `snapshots/{id}/{snapshot}.json`.
    Snapshot = 5,
    /// `metadata/events.log`.
    Events = 6,
}

impl Stream {
    pub(crate) fn from_byte(byte: u8) -> Option<Stream> {
        match byte {
            1 => Some(Stream::History),
            2 => Some(Stream::Context),
            3 => Some(Stream::Analytics),
            4 => Some(Stream::State),
            5 => Some(Stream::Snapshot),
            6 => Some(Stream::Events),
            _ => None,
        }
    }
}

/// Where a frame lives: bound into the associated data of sealed frames.
#[derive(Debug, Clone, Copy)]
pub struct FrameContext<'a> {
    /// The owning session (or a fixed name for store-wide files).
    pub session_id: &'a str,
    /// The file within the session.
    pub stream: Stream,
}

/// How frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    /// zstd level, or `None` to store batches uncompressed.
    pub compression_level: Option<i32>,
}

impl Default for Codec {
    fn default() -> Self {
        Codec {
            compression_level: Some(3),
        }
    }
}

/// The parsed fixed header of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bit flags (zstd, sealed).
    pub flags: u8,
    /// Sequence number of the first record.
    pub first_seq: u64,
    /// Number of records.
    pub count: u32,
    /// Batch length before compression.
    pub raw_len: u32,
    /// Body length on disk.
    pub body_len: u32,
}

impl FrameHeader {
    /// Total bytes of the frame on disk.
    pub fn frame_len(&self) -> usize {
        FRAME_HEADER_LEN + self.body_len as usize + FRAME_TRAILER_LEN
    }

    /// Whether the body is sealed.
    pub fn is_sealed(&self) -> bool {
        self.flags & FLAG_SEALED != 0
    }

    fn to_bytes(self) -> [u8; FRAME_HEADER_LEN] {
        let mut out = [0u8; FRAME_HEADER_LEN];
        out[..4].copy_from_slice(&FRAME_MAGIC);
        out[4] = FORMAT_VERSION;
        out[5] = self.flags;
        out[8..16].copy_from_slice(&self.first_seq.to_le_bytes());
        out[16..20].copy_from_slice(&self.count.to_le_bytes());
        out[20..24].copy_from_slice(&self.raw_len.to_le_bytes());
        out[24..28].copy_from_slice(&self.body_len.to_le_bytes());
        out
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(buf)
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(buf)
}

fn bad_header(detail: impl Into<String>) -> DropReason {
    DropReason::BadHeader {
        detail: detail.into(),
    }
}

/// Parse and bound-check a frame header. `bytes` may be longer than the header.
pub fn parse_header(bytes: &[u8]) -> Result<FrameHeader, DropReason> {
    let Some(bytes) = bytes.get(..FRAME_HEADER_LEN) else {
        return Err(DropReason::Torn);
    };
    if bytes[..4] != FRAME_MAGIC {
        return Err(bad_header("no frame magic"));
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(bad_header(format!("unknown format version {}", bytes[4])));
    }
    let flags = bytes[5];
    if flags & !(FLAG_ZSTD | FLAG_SEALED) != 0 || bytes[6] != 0 || bytes[7] != 0 {
        return Err(bad_header(format!("unknown flags {flags:#04x}")));
    }
    let header = FrameHeader {
        flags,
        first_seq: le_u64(&bytes[8..]),
        count: le_u32(&bytes[16..]),
        raw_len: le_u32(&bytes[20..]),
        body_len: le_u32(&bytes[24..]),
    };
    if header.count == 0 || header.count > MAX_RECORDS_PER_FRAME {
        return Err(bad_header(format!(
            "record count {} out of range",
            header.count
        )));
    }
    if header.raw_len as usize > MAX_RAW_LEN {
        return Err(bad_header(format!(
            "batch length {} over the limit",
            header.raw_len
        )));
    }
    if header.body_len as usize > MAX_BODY_LEN {
        return Err(bad_header(format!(
            "body length {} over the limit",
            header.body_len
        )));
    }
    if (header.count as usize).saturating_mul(RECORD_HEADER_LEN) > header.raw_len as usize {
        return Err(bad_header("batch too short for its record count"));
    }
    Ok(header)
}

fn aad(ctx: FrameContext<'_>, header: &[u8]) -> Vec<u8> {
    let id = ctx.session_id.as_bytes();
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 3 + id.len() + header.len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.push(ctx.stream as u8);
    aad.extend_from_slice(&(id.len() as u16).to_le_bytes());
    aad.extend_from_slice(id);
    aad.extend_from_slice(header);
    aad
}

/// Append one record to a batch under construction.
pub fn push_record(batch: &mut Vec<u8>, kind: RecordKind, data: &[u8]) {
    batch.push(kind as u8);
    batch.extend_from_slice(&(data.len() as u32).to_le_bytes());
    batch.extend_from_slice(data);
}

/// Split a batch into exactly `count` records.
pub fn parse_batch(batch: &[u8], count: u32) -> Result<Vec<Record>, DropReason> {
    let malformed = |detail: &str| DropReason::Malformed {
        detail: detail.to_string(),
    };
    // Each record takes at least RECORD_HEADER_LEN bytes, so this bound never over-allocates.
    let mut records = Vec::with_capacity((count as usize).min(batch.len() / RECORD_HEADER_LEN));
    let mut rest = batch;
    for _ in 0..count {
        if rest.len() < RECORD_HEADER_LEN {
            return Err(malformed("batch ends inside a record header"));
        }
        let kind = RecordKind::from_byte(rest[0])
            .ok_or_else(|| malformed(&format!("unknown record kind {}", rest[0])))?;
        let len = le_u32(&rest[1..]) as usize;
        let data = rest
            .get(RECORD_HEADER_LEN..RECORD_HEADER_LEN.saturating_add(len))
            .ok_or_else(|| malformed("record longer than its batch"))?;
        records.push(Record {
            kind,
            data: data.to_vec(),
        });
        rest = &rest[RECORD_HEADER_LEN + len..];
    }
    if !rest.is_empty() {
        return Err(malformed("bytes left over after the last record"));
    }
    Ok(records)
}

/// zstd at `level`, with this thread's compression context: creating one per frame cost
/// more than compressing a small frame (the store writes one per answered command).
fn compress(batch: &[u8], level: i32) -> Vec<u8> {
    use std::cell::RefCell;
    thread_local! {
        static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
    }
    COMPRESSOR.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|(at, _)| *at != level) {
            let compressor = zstd::bulk::Compressor::new(level)
                .expect("a zstd context at a valid level can be made");
            *slot = Some((level, compressor));
        }
        let (_, compressor) = slot.as_mut().expect("set above");
        compressor
            .compress(batch)
            .expect("zstd compression of an in-memory buffer does not fail")
    })
}

/// Encode a batch of `count` records (built with [`push_record`]) into one frame.
pub fn encode_frame(
    ctx: FrameContext<'_>,
    key: Option<&DataKey>,
    codec: Codec,
    first_seq: u64,
    count: u32,
    batch: &[u8],
) -> Vec<u8> {
    debug_assert!(batch.len() <= MAX_RAW_LEN && count >= 1);
    let mut flags = 0;
    let compressed;
    let plain: &[u8] = match codec.compression_level {
        Some(level) => {
            flags |= FLAG_ZSTD;
            compressed = compress(batch, level);
            &compressed
        }
        None => batch,
    };
    let body_len = plain.len()
        + if key.is_some() {
            NONCE_LEN + TAG_LEN
        } else {
            0
        };
    if key.is_some() {
        flags |= FLAG_SEALED;
    }
    let header = FrameHeader {
        flags,
        first_seq,
        count,
        raw_len: batch.len() as u32,
        body_len: body_len as u32,
    }
    .to_bytes();
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + body_len + FRAME_TRAILER_LEN);
    frame.extend_from_slice(&header);
    match key {
        Some(key) => frame.extend_from_slice(&key.seal(&aad(ctx, &header), plain)),
        None => frame.extend_from_slice(plain),
    }
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// A frame decoded from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// Its header.
    pub header: FrameHeader,
    /// Its records, in order; record `i` has sequence number `header.first_seq + i`.
    pub records: Vec<Record>,
}

/// Decode the frame at the start of `buf` (which may hold more after it).
///
/// `key` must be `Some` exactly when the file is sealed. Never panics; allocations are bounded
/// by [`MAX_RAW_LEN`] and by the length of `buf`.
pub fn decode_frame(
    ctx: FrameContext<'_>,
    key: Option<&DataKey>,
    buf: &[u8],
) -> Result<DecodedFrame, DropReason> {
    let (header, plain) = open_frame(ctx, key, buf)?;
    let records = decode_payload(header, &plain)?;
    Ok(DecodedFrame { header, records })
}

/// Check the frame at the start of `buf` (checksum and, when sealed, authenticity) without
/// decompressing it: what recovery needs to find where intact data ends, at a fraction of the
/// cost of [`decode_frame`]. A frame that passes was written whole by a holder of the key.
pub fn verify_frame(
    ctx: FrameContext<'_>,
    key: Option<&DataKey>,
    buf: &[u8],
) -> Result<FrameHeader, DropReason> {
    open_frame(ctx, key, buf).map(|(header, _)| header)
}

fn open_frame<'b>(
    ctx: FrameContext<'_>,
    key: Option<&DataKey>,
    buf: &'b [u8],
) -> Result<(FrameHeader, std::borrow::Cow<'b, [u8]>), DropReason> {
    let header = parse_header(buf)?;
    let Some(frame) = buf.get(..header.frame_len()) else {
        return Err(DropReason::Torn);
    };
    let (covered, trailer) = frame.split_at(frame.len() - FRAME_TRAILER_LEN);
    if crc32fast::hash(covered) != le_u32(trailer) {
        return Err(DropReason::Checksum);
    }
    let body = &covered[FRAME_HEADER_LEN..];
    match (header.is_sealed(), key) {
        (true, Some(key)) => key
            .open(&aad(ctx, &covered[..FRAME_HEADER_LEN]), body)
            .map(|plain| (header, std::borrow::Cow::Owned(plain)))
            .ok_or(DropReason::Unauthentic),
        (false, None) => Ok((header, std::borrow::Cow::Borrowed(body))),
        (true, None) => Err(bad_header("frame is sealed but no key was given")),
        (false, Some(_)) => Err(bad_header("frame is not sealed in an encrypted file")),
    }
}

/// Decompress (if flagged) and split a frame's opened body. Public for the fuzz target, which
/// cannot get past the CRC and AEAD by chance.
#[doc(hidden)]
pub fn decode_payload(header: FrameHeader, plain: &[u8]) -> Result<Vec<Record>, DropReason> {
    let decompressed;
    let batch = if header.flags & FLAG_ZSTD != 0 {
        decompressed = zstd::bulk::decompress(plain, header.raw_len as usize).map_err(|err| {
            DropReason::Malformed {
                detail: format!("zstd: {err}"),
            }
        })?;
        &decompressed[..]
    } else {
        plain
    };
    if batch.len() != header.raw_len as usize {
        return Err(DropReason::Malformed {
            detail: format!(
                "batch is {} bytes, header says {}",
                batch.len(),
                header.raw_len
            ),
        });
    }
    parse_batch(batch, header.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: FrameContext<'static> = FrameContext {
        session_id: "s1",
        stream: Stream::History,
    };

    fn batch_of(records: &[(RecordKind, &[u8])]) -> Vec<u8> {
        let mut batch = Vec::new();
        for (kind, data) in records {
            push_record(&mut batch, *kind, data);
        }
        batch
    }

    fn check_round_trip(key: Option<&DataKey>, codec: Codec) {
        let batch = batch_of(&[
            (RecordKind::Command, b"echo hi"),
            (RecordKind::Scrollback, b""),
            (RecordKind::Event, &[0u8; 1000]),
        ]);
        let frame = encode_frame(CTX, key, codec, 41, 3, &batch);
        let mut buf = frame.clone();
        buf.extend_from_slice(b"trailing bytes of the next frame");
        let decoded = decode_frame(CTX, key, &buf).unwrap();
        assert_eq!(decoded.header.first_seq, 41);
        assert_eq!(decoded.header.frame_len(), frame.len());
        assert_eq!(decoded.records.len(), 3);
        assert_eq!(decoded.records[0].data, b"echo hi");
        assert_eq!(decoded.records[2].data, vec![0u8; 1000]);
        for cut in 0..frame.len() {
            assert!(
                decode_frame(CTX, key, &frame[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn frames_round_trip_in_every_mode() {
        let key = DataKey::generate();
        for codec in [
            Codec::default(),
            Codec {
                compression_level: None,
            },
        ] {
            check_round_trip(None, codec);
            check_round_trip(Some(&key), codec);
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let key = DataKey::generate();
        let batch = batch_of(&[(RecordKind::Command, b"make test")]);
        let frame = encode_frame(CTX, Some(&key), Codec::default(), 0, 1, &batch);
        for byte in 0..frame.len() {
            for bit in 0..8 {
                let mut bad = frame.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    decode_frame(CTX, Some(&key), &bad).is_err(),
                    "byte {byte} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn sealed_frame_is_bound_to_session_and_stream() {
        let key = DataKey::generate();
        let batch = batch_of(&[(RecordKind::Command, b"ls")]);
        let frame = encode_frame(CTX, Some(&key), Codec::default(), 0, 1, &batch);
        let other_session = FrameContext {
            session_id: "s2",
            ..CTX
        };
        let other_stream = FrameContext {
            stream: Stream::Context,
            ..CTX
        };
        assert_eq!(
            decode_frame(other_session, Some(&key), &frame),
            Err(DropReason::Unauthentic)
        );
        assert_eq!(
            decode_frame(other_stream, Some(&key), &frame),
            Err(DropReason::Unauthentic)
        );
    }

    #[test]
    fn renumbered_frame_with_fixed_crc_fails_authentication() {
        let key = DataKey::generate();
        let batch = batch_of(&[(RecordKind::Command, b"ls")]);
        let mut frame = encode_frame(CTX, Some(&key), Codec::default(), 5, 1, &batch);
        frame[8] = 6;
        let end = frame.len() - FRAME_TRAILER_LEN;
        let crc = crc32fast::hash(&frame[..end]);
        frame[end..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_frame(CTX, Some(&key), &frame),
            Err(DropReason::Unauthentic)
        );
    }

    #[test]
    fn huge_declared_lengths_are_rejected_before_allocating() {
        let mut header = FrameHeader {
            flags: FLAG_ZSTD,
            first_seq: 0,
            count: 1,
            raw_len: u32::MAX,
            body_len: 10,
        }
        .to_bytes()
        .to_vec();
        assert!(matches!(
            parse_header(&header),
            Err(DropReason::BadHeader { .. })
        ));
        header[20..24].copy_from_slice(&10u32.to_le_bytes());
        header[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_header(&header),
            Err(DropReason::BadHeader { .. })
        ));
    }

    #[test]
    fn batch_parser_rejects_bad_lengths() {
        let batch = batch_of(&[(RecordKind::Command, b"abc")]);
        assert!(parse_batch(&batch, 1).is_ok());
        assert!(parse_batch(&batch, 2).is_err());
        assert!(parse_batch(&batch[..batch.len() - 1], 1).is_err());
        let mut long = batch.clone();
        long.push(0);
        assert!(parse_batch(&long, 1).is_err());
        let mut unknown = batch;
        unknown[0] = 99;
        assert!(parse_batch(&unknown, 1).is_err());
    }
}
