//! Fuzz the persist record decoder: whole frames (plain and sealed), the batch parser and the
//! decompression path behind the checksum, which random input would otherwise never reach.
#![no_main]

use ai_session_persist::DataKey;
use ai_session_persist::frame::{FrameContext, Stream, decode_frame, decode_payload, parse_batch, parse_header};
use libfuzzer_sys::fuzz_target;

const CTX: FrameContext<'static> = FrameContext {
    session_id: "fuzz",
    stream: Stream::History,
};

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_bytes([7; 32]);
    let _ = decode_frame(CTX, None, data);
    let _ = decode_frame(CTX, Some(&key), data);
    if let Ok(header) = parse_header(data) {
        let body = &data[data.len().min(28)..];
        let _ = decode_payload(header, body);
    }
    if let Some((&count, rest)) = data.split_first() {
        let _ = parse_batch(rest, u32::from(count));
    }
});
