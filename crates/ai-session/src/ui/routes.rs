//! The HTTP surface: one router, every route behind the token check.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::broadcast::error::RecvError;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use super::{App, assets, audit_api, auth, terminal};

/// The page loads only its own files and talks only to its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Builds the router for `app`.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/api/board", get(board))
        .route("/api/board/ws", get(board_ws))
        .route("/api/sessions/{id}/terminal", get(terminal::terminal_ws))
        .route("/api/audit", get(audit_api::records))
        .route("/api/audit/verify", get(audit_api::verify))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::require_token,
        ))
        // Nothing here takes a request body.
        .layer(RequestBodyLimitLayer::new(16 << 10))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(app)
}

async fn index() -> Response {
    serve(&assets::INDEX)
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::find(&name) {
        Some(asset) => serve(asset),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

fn serve(asset: &'static assets::Asset) -> Response {
    ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
}

async fn board(State(app): State<Arc<App>>) -> Response {
    Json(app.board.snapshot()).into_response()
}

/// `GET /api/board/ws`: the board, then every change as it happens.
async fn board_ws(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !auth::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused\n").into_response();
    }
    ws.read_buffer_size(super::WS_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            if let Err(error) = stream_board(&app, socket).await {
                tracing::debug!(%error, "board view ended");
            }
        })
}

async fn stream_board(app: &Arc<App>, mut socket: WebSocket) -> Result<(), axum::Error> {
    let (snapshot, mut updates) = app.board.subscribe();
    socket.send(Message::Text(snapshot.into())).await?;
    loop {
        tokio::select! {
            update = updates.recv() => {
                let message = match update {
                    Ok(message) => String::from(&*message),
                    Err(RecvError::Lagged(_)) => {
                        // Fell behind: a fresh snapshot replaces what was missed.
                        let (snapshot, fresh) = app.board.subscribe();
                        updates = fresh;
                        snapshot
                    }
                    Err(RecvError::Closed) => return Ok(()),
                };
                socket.send(Message::Text(message.into())).await?;
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                Some(Ok(_)) => {}
            },
            () = app.stopped() => return Ok(()),
        }
    }
}
