//! A live session's recording, fetched from the daemon: its timeline and every byte of
//! output its scrollback still holds.

use base64::Engine as _;

use super::SessionRecording;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::protocol::{ReadParams, TimelineParams};

impl SessionRecording {
    /// The recording of `session`: its timeline, then its raw output up to the timeline's
    /// end, read page by page (output the ring has dropped is missing from the front).
    pub async fn fetch(client: &Client, session: &str) -> Result<SessionRecording> {
        let timeline = client
            .timeline(&TimelineParams {
                session: session.to_owned(),
                since: 0,
            })
            .await?;
        let shell = client
            .list_sessions()
            .await?
            .sessions
            .into_iter()
            .find(|s| s.id == session)
            .map(|s| s.shell);
        let mut output = Vec::new();
        let mut output_start = None;
        let mut since = 0;
        while since < timeline.end_offset {
            let chunk = client
                .read(&ReadParams {
                    session: session.to_owned(),
                    since,
                    max_bytes: None,
                    raw: true,
                    hold: false,
                })
                .await?;
            if chunk.next_offset == chunk.start {
                break;
            }
            output_start.get_or_insert(chunk.start);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(chunk.data_base64.unwrap_or_default())
                .map_err(|e| Error::BadMessage {
                    what: format!("invalid base64 in a raw read ({e})"),
                })?;
            let wanted = timeline.end_offset.saturating_sub(chunk.start) as usize;
            output.extend_from_slice(&bytes[..bytes.len().min(wanted)]);
            since = chunk.next_offset;
        }
        Ok(SessionRecording::from_timeline(
            session.to_owned(),
            timeline,
            shell,
            output_start.unwrap_or(0),
            output,
        ))
    }
}
