//! A session's live terminal over a WebSocket: its own daemon connection attaches to the
//! session and relays the output bytes (binary frames) to xterm.js. The view is read-only
//! until the page asks to take over; then what the person types goes to the session through a
//! same connection as `send` `text`, so the audit log records it, as the operator's, with
//! the typed text. "Hand back" (or closing the page) ends it. One viewer at a time may type.
//!
//! Page to server (text frames, JSON): `{"type":"take_over"}`, `{"type":"hand_back"}`,
//! `{"type":"input","data":"..."}`. Server to page: `{"type":"screen",...}` (the screen to paint
//! first), binary output frames, `{"type":"control","mode":"viewing"|"controlling","reason"?}`,
//! `{"type":"closed","reason"}`, `{"type":"error","message"}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::App;
use crate::protocol::{AttachParams, SendParams};
use crate::{AttachEvent, Client};

/// Keystrokes queued for the session before the page is told to slow down.
const INPUT_QUEUE: usize = 256;
/// Most bytes of queued keystrokes joined into one `send`.
const MAX_SEND: usize = 16 << 10;

/// Who types into which session: at most one viewer per session.
#[derive(Default)]
pub(crate) struct Controls {
    holders: Mutex<HashMap<String, u64>>,
    next_viewer: AtomicU64,
}

impl Controls {
    fn viewer_id(&self) -> u64 {
        self.next_viewer.fetch_add(1, Ordering::Relaxed)
    }

    fn acquire(&self, session: &str, viewer: u64) -> bool {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        match holders.get(session) {
            Some(holder) => *holder == viewer,
            None => {
                holders.insert(session.to_owned(), viewer);
                true
            }
        }
    }

    fn release(&self, session: &str, viewer: u64) -> bool {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        if holders.get(session) == Some(&viewer) {
            holders.remove(session);
            return true;
        }
        false
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    TakeOver,
    HandBack,
    Input { data: String },
}

/// `GET /api/sessions/{id}/terminal`: the WebSocket.
pub(crate) async fn terminal_ws(
    State(app): State<Arc<App>>,
    Path(session): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !super::auth::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused\n").into_response();
    }
    ws.read_buffer_size(super::WS_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let viewer = app.controls.viewer_id();
            if let Err(error) = relay(&app, &session, viewer, socket).await {
                tracing::debug!(%session, %error, "terminal view ended");
            }
            if app.controls.release(&session, viewer) {
                app.board.set_controlled(&session, false);
            }
        })
}

/// The typing half while a viewer has control.
struct Control {
    keys: mpsc::Sender<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Control {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    app: &Arc<App>,
    session: &str,
    viewer: u64,
    mut socket: WebSocket,
) -> Result<(), RelayError> {
    let client = Client::connect(&app.socket).await?;
    let params = AttachParams {
        session: session.to_owned(),
        since: None,
    };
    let (start, mut output, _) = match client.attach(&params).await {
        Ok(attached) => attached,
        Err(error) => {
            let message = json!({"type": "closed", "reason": error.to_string()});
            socket
                .send(Message::Text(message.to_string().into()))
                .await?;
            return Ok(());
        }
    };
    let mut screen = serde_json::to_value(&start.screen)?;
    screen["type"] = json!("screen");
    socket
        .send(Message::Text(screen.to_string().into()))
        .await?;
    let mut control: Option<Control> = None;
    loop {
        tokio::select! {
            event = output.next_event() => match event? {
                AttachEvent::Output(bytes) => socket.send(Message::Binary(bytes.into())).await?,
                AttachEvent::Closed(reason) => {
                    let message = json!({"type": "closed", "reason": reason});
                    socket.send(Message::Text(message.to_string().into())).await?;
                    return Ok(());
                }
            },
            message = socket.recv() => {
                let Some(Ok(message)) = message else { return Ok(()) };
                let text = match message {
                    Message::Text(text) => text,
                    Message::Close(_) => return Ok(()),
                    _ => continue,
                };
                let reply = match serde_json::from_str::<FromPage>(&text) {
                    Ok(FromPage::TakeOver) => take_over(app, &client, session, viewer, &mut control),
                    Ok(FromPage::HandBack) => {
                        if control.take().is_some() && app.controls.release(session, viewer) {
                            app.board.set_controlled(session, false);
                        }
                        Some(json!({"type": "control", "mode": "viewing"}))
                    }
                    Ok(FromPage::Input { data }) => match &control {
                        Some(control) => match control.keys.try_send(data) {
                            Ok(()) => None,
                            Err(_) => Some(json!({"type": "error", "message": "typing faster than the session takes it; keystrokes dropped"})),
                        },
                        None => Some(json!({"type": "error", "message": "read-only: press Take over to type into the session"})),
                    },
                    Err(error) => Some(json!({"type": "error", "message": format!("bad message: {error}")})),
                };
                if let Some(reply) = reply {
                    socket.send(Message::Text(reply.to_string().into())).await?;
                }
            },
            () = app.stopped() => {
                let message = json!({"type": "closed", "reason": "the dashboard stopped"});
                let _ = socket.send(Message::Text(message.to_string().into())).await;
                return Ok(());
            }
        }
    }
}

fn take_over(
    app: &Arc<App>,
    client: &Client,
    session: &str,
    viewer: u64,
    control: &mut Option<Control>,
) -> Option<serde_json::Value> {
    if control.is_some() {
        return Some(json!({"type": "control", "mode": "controlling"}));
    }
    if !app.controls.acquire(session, viewer) {
        return Some(json!({"type": "control", "mode": "viewing",
            "reason": "another dashboard viewer is typing into this session"}));
    }
    let (keys, queued) = mpsc::channel(INPUT_QUEUE);
    let task = tokio::spawn(type_into(client.clone(), session.to_owned(), queued));
    *control = Some(Control { keys, task });
    app.board.set_controlled(session, true);
    Some(json!({"type": "control", "mode": "controlling"}))
}

/// Sends queued keystrokes, joining what queued up meanwhile into one `send`.
async fn type_into(client: Client, session: String, mut queued: mpsc::Receiver<String>) {
    while let Some(mut text) = queued.recv().await {
        while text.len() < MAX_SEND {
            match queued.try_recv() {
                Ok(more) => text.push_str(&more),
                Err(_) => break,
            }
        }
        let params = SendParams {
            session: session.clone(),
            text: Some(text),
            ..SendParams::default()
        };
        if let Err(error) = client.send(&params).await {
            tracing::warn!(%session, %error, "dashboard keystrokes not delivered");
            if matches!(error, crate::Error::Closed { .. }) {
                return;
            }
        }
    }
}

/// Why a terminal view ended early (logged; the page sees its socket close).
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("daemon: {0}")]
    Daemon(#[from] crate::Error),
    #[error("page: {0}")]
    Page(#[from] axum::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
}
