//! The shell state a kept session commits to its shared area, and how it is read back: the
//! phase, the running command, the next command id, the cwd. Small and binary, because it is
//! written on every mark (a few times per command).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::keeper::wire::{Decoder, Encoder, Malformed};
use crate::state::{Pending, ShellPhase, State};

/// Longest command text kept in a snapshot; a longer running command is cut here (its record,
/// written when it finishes, has all of it).
const MAX_COMMAND: usize = 24 * 1024;

/// The committed part of [`State`] (besides scrollback and records, which have their rings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub phase: ShellPhase,
    pub pending: Option<PendingSnapshot>,
    pub next_id: u64,
    pub commands_finished: u64,
    pub cwd: Option<PathBuf>,
    /// The shell has not shown its first prompt yet (its rc file still exists).
    pub rc_pending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingSnapshot {
    pub id: u64,
    pub command: String,
    pub started_at: u64,
    pub write_offset: u64,
    pub output_start: Option<u64>,
}

impl Snapshot {
    pub fn of(state: &State) -> Snapshot {
        Snapshot {
            phase: state.phase,
            pending: state.pending.as_ref().map(|p| PendingSnapshot {
                id: p.id,
                command: cut(&p.command),
                started_at: p.started_at,
                write_offset: p.write_offset,
                output_start: p.output_start,
            }),
            next_id: state.next_id,
            commands_finished: state.commands_finished,
            cwd: state.cwd.clone(),
            rc_pending: state.rc_files.is_some(),
        }
    }

    /// Put this state into `state` (whose scrollback and history are already restored).
    pub fn apply_to(&self, state: &mut State) {
        state.phase = self.phase;
        state.pending = self.pending.as_ref().map(|p| Pending {
            id: p.id,
            command: p.command.clone(),
            started_at: p.started_at,
            write_offset: p.write_offset,
            output_start: p.output_start,
        });
        state.next_id = self.next_id;
        state.commands_finished = self.commands_finished;
        state.cwd = self.cwd.clone();
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::default();
        e.u8(match self.phase {
            ShellPhase::Starting => 0,
            ShellPhase::Prompt => 1,
            ShellPhase::Running => 2,
        });
        match &self.pending {
            Some(p) => {
                e.u8(1)
                    .u64(p.id)
                    .bytes(p.command.as_bytes())
                    .u64(p.started_at)
                    .u64(p.write_offset)
                    .opt_u64(p.output_start);
            }
            None => {
                e.u8(0);
            }
        }
        e.u64(self.next_id)
            .u64(self.commands_finished)
            .opt_bytes(self.cwd.as_ref().map(|c| c.as_os_str().as_bytes()))
            .u8(u8::from(self.rc_pending));
        e.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Snapshot, Malformed> {
        let mut d = Decoder::new(bytes);
        let phase = match d.u8()? {
            0 => ShellPhase::Starting,
            1 => ShellPhase::Prompt,
            2 => ShellPhase::Running,
            _ => return Err(Malformed("bad shell phase")),
        };
        let pending = match d.u8()? {
            0 => None,
            1 => Some(PendingSnapshot {
                id: d.u64()?,
                command: String::from_utf8_lossy(d.bytes()?).into_owned(),
                started_at: d.u64()?,
                write_offset: d.u64()?,
                output_start: d.opt_u64()?,
            }),
            _ => return Err(Malformed("bad pending flag")),
        };
        let snapshot = Snapshot {
            phase,
            pending,
            next_id: d.u64()?,
            commands_finished: d.u64()?,
            cwd: d
                .opt_bytes()?
                .map(|b| PathBuf::from(std::ffi::OsStr::from_bytes(b))),
            rc_pending: d.u8()? != 0,
        };
        d.finish()?;
        Ok(snapshot)
    }
}

fn cut(command: &str) -> String {
    if command.len() <= MAX_COMMAND {
        return command.to_owned();
    }
    let mut end = MAX_COMMAND;
    while !command.is_char_boundary(end) {
        end -= 1;
    }
    command[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let snapshot = Snapshot {
            phase: ShellPhase::Running,
            pending: Some(PendingSnapshot {
                id: 4,
                command: "sleep 3; echo é".into(),
                started_at: 1_700_000_000_000,
                write_offset: 120,
                output_start: Some(150),
            }),
            next_id: 5,
            commands_finished: 3,
            cwd: Some(PathBuf::from("/tmp/x y")),
            rc_pending: false,
        };
        let bytes = snapshot.encode();
        assert_eq!(Snapshot::decode(&bytes).unwrap(), snapshot);
        for cut in 0..bytes.len() {
            assert!(Snapshot::decode(&bytes[..cut]).is_err());
        }
        assert_eq!(cut(&"é".repeat(MAX_COMMAND)).len(), MAX_COMMAND);
    }
}
