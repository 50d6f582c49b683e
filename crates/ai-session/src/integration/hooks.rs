//! [`SessionHooks`]: the integrations a [`crate::SessionManager`] tells about its sessions, and
//! the opt-in recording of every session that ends (`ai-session server --record-dir DIR`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{AsciicastExporter, ExternalIntegration, IntegrationError, SessionRecording};
use crate::protocol::SessionInfo;

/// Integrations called when sessions are created and end. Their calls may block, so the
/// manager makes them on a blocking thread, after the request that caused them was answered.
#[derive(Default)]
pub struct SessionHooks {
    integrations: Mutex<Vec<Box<dyn ExternalIntegration>>>,
    record_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SessionHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = lock(&self.integrations).iter().map(|i| i.name()).collect();
        f.debug_struct("SessionHooks")
            .field("integrations", &names)
            .field("record_dir", &self.record_dir)
            .finish()
    }
}

impl SessionHooks {
    /// No integrations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Initializes `integration` and adds it.
    pub fn register(
        self,
        mut integration: Box<dyn ExternalIntegration>,
    ) -> Result<Self, IntegrationError> {
        integration.initialize()?;
        lock(&self.integrations).push(integration);
        Ok(self)
    }

    /// When a session ends (killed, or its exited shell replaced), every integration that
    /// exports writes the session to `dir/<session>.<ext>` (the asciicast exporter, added if
    /// missing, writes `<session>.cast`). The directory is created now.
    pub fn record_to(mut self, dir: impl Into<PathBuf>) -> Result<Self, IntegrationError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| IntegrationError::External {
            program: "record",
            args: dir.display().to_string(),
            reason: format!("cannot create the recording directory: {e}"),
        })?;
        self.record_dir = Some(dir);
        let has_exporter = lock(&self.integrations)
            .iter()
            .any(|i| i.name() == AsciicastExporter.name());
        if has_exporter {
            Ok(self)
        } else {
            self.register(Box::new(AsciicastExporter))
        }
    }

    /// True when ended sessions are recorded (the manager then gathers their output).
    pub fn records(&self) -> bool {
        self.record_dir.is_some()
    }

    /// Calls every integration's `on_session_created` (blocking).
    pub fn created(&self, session: &SessionInfo) {
        for integration in lock(&self.integrations).iter_mut() {
            if let Err(error) = integration.on_session_created(session) {
                tracing::warn!(integration = integration.name(), session = %session.id, %error, "on_session_created failed");
            }
        }
    }

    /// Calls every integration's `on_session_terminated`, then writes the recordings
    /// (blocking). Returns the files written.
    pub fn terminated(&self, session: &str, recording: Option<&SessionRecording>) -> Vec<PathBuf> {
        let mut written = Vec::new();
        for integration in lock(&self.integrations).iter_mut() {
            if let Err(error) = integration.on_session_terminated(session) {
                tracing::warn!(integration = integration.name(), session, %error, "on_session_terminated failed");
            }
            if let (Some(dir), Some(recording)) = (&self.record_dir, recording) {
                match export(integration.as_ref(), dir, recording) {
                    Ok(Some(path)) => written.push(path),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(integration = integration.name(), session, %error, "recording not written")
                    }
                }
            }
        }
        written
    }
}

fn export(
    integration: &dyn ExternalIntegration,
    dir: &Path,
    recording: &SessionRecording,
) -> Result<Option<PathBuf>, IntegrationError> {
    let data = match integration.export_session_data(recording) {
        Ok(data) => data,
        Err(IntegrationError::Unsupported { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let extension = match integration.name() {
        "asciicast" => "cast",
        other => other,
    };
    let path = dir.join(format!("{}.{extension}", recording.id));
    std::fs::write(&path, data).map_err(|e| IntegrationError::External {
        program: "record",
        args: path.display().to_string(),
        reason: e.to_string(),
    })?;
    tracing::info!(session = %recording.id, path = %path.display(), "session recording written");
    Ok(Some(path))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Counts the hook calls it gets (the hooks' own contract, not a stand-in for a tool).
    struct Counting(Arc<Mutex<Vec<String>>>);

    impl ExternalIntegration for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn on_session_created(&mut self, session: &SessionInfo) -> Result<(), IntegrationError> {
            lock(&self.0).push(format!("created {}", session.id));
            Ok(())
        }
        fn on_session_terminated(&mut self, session: &str) -> Result<(), IntegrationError> {
            lock(&self.0).push(format!("terminated {session}"));
            Ok(())
        }
    }

    #[test]
    fn hooks_reach_every_integration_and_recordings_are_written() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let dir = tempfile::tempdir().unwrap();
        let hooks = SessionHooks::new()
            .register(Box::new(Counting(calls.clone())))
            .unwrap()
            .record_to(dir.path().join("casts"))
            .unwrap();
        assert!(hooks.records());
        let info: SessionInfo = serde_json::from_value(serde_json::json!({
            "id": "s1", "pid": 1, "shell": "bash", "cwd": null, "cols": 80, "rows": 24,
            "created_at_ms": 0, "alive": true, "commands": 0, "output_offset": 0
        }))
        .unwrap();
        hooks.created(&info);
        let recording = SessionRecording {
            id: "s1".into(),
            cols: 80,
            rows: 24,
            output: b"hello\r\n".to_vec(),
            ..SessionRecording::default()
        };
        let written = hooks.terminated("s1", Some(&recording));
        assert_eq!(*lock(&calls), ["created s1", "terminated s1"]);
        assert_eq!(written, [dir.path().join("casts/s1.cast")]);
        let cast = std::fs::read_to_string(&written[0]).unwrap();
        assert!(cast.contains("hello"), "{cast}");
    }
}
