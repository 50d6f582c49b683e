//! One request: parsed into a typed [`Call`] first, then authorized for its agent, dispatched
//! to the manager, and audited. Nothing here reads raw params: every field a check needs is a
//! typed field of the call.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use ai_session_security::AgentCapabilities;
use ai_session_security::permissions::SessionScope;
use futures::FutureExt as _;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument as _;

use super::Shared;
use super::connection::{Connection, lock};
use crate::access;
use crate::audit::{Facts, Verdict};
use crate::error::{Error, Result};
use crate::manager::Viewer;
use crate::protocol::{self, Call, Message, Method, RpcError, codes};

type Outcome = std::result::Result<Value, RpcError>;

/// Runs one request and sends its answer (none for a notification).
pub(super) async fn handle_request(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    request: protocol::Request,
) {
    let protocol::Request {
        id, method, params, ..
    } = request;
    let outcome = match Method::from_name(&method) {
        None => Err(RpcError::new(
            codes::METHOD_NOT_FOUND,
            format!(
                "unknown method {method:?}; call `hello` for the protocol version and see docs/protocol.md"
            ),
        )),
        Some(method) => {
            let parsed = Call::parse(method, params);
            let agent = access::request_agent(lock(&conn.agent).as_deref(), parsed.as_ref().ok());
            // Every log line of the request carries who asked about which session.
            let span = tracing::info_span!(
                "request",
                connection = conn.id,
                method = method.name(),
                session = parsed.as_ref().ok().and_then(Call::session),
                agent = agent.as_deref(),
            );
            AssertUnwindSafe(guarded(shared, conn, method, parsed, agent))
                .catch_unwind()
                .instrument(span)
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(
                        connection = conn.id,
                        method = method.name(),
                        "request handler panicked"
                    );
                    Err(RpcError::new(
                        codes::INTERNAL_ERROR,
                        "internal error (the daemon logged it)",
                    ))
                })
        }
    };
    // Requests without an id are notifications: run, never answer.
    let Some(id) = id else { return };
    let message = match outcome {
        Ok(result) => Message::result(id, result),
        Err(error) => Message::error(id, error),
    };
    conn.send(&message).await;
}

/// Runs a parsed request as `agent`: checks its permissions, dispatches, and audits the outcome.
async fn guarded(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    method: Method,
    parsed: std::result::Result<Call, RpcError>,
    agent: Option<String>,
) -> Outcome {
    let mut call = match parsed {
        Ok(call) => call,
        Err(error) => {
            audit_request(
                shared,
                method,
                &Facts::default(),
                None,
                agent.as_deref(),
                Verdict::Ran(&Err(error.clone())),
            );
            return Err(error);
        }
    };
    let session = call.session().map(str::to_owned);
    let facts = Facts::of(&call);
    let mut capabilities = None;
    if let Some(agent) = &agent {
        let checked = shared.profiles.capabilities(agent).and_then(|caps| {
            if let Some(caps) = &caps {
                access::authorize(caps, &call, &shared.manager)?;
            }
            Ok(caps)
        });
        match checked {
            Ok(caps) => capabilities = caps,
            Err(denied) => {
                tracing::warn!(agent = %agent, method = method.name(), session = session.as_deref(), %denied, "permission denied");
                shared
                    .manager
                    .record_denial(session.as_deref(), Some(agent));
                audit_request(
                    shared,
                    method,
                    &facts,
                    session.as_deref(),
                    Some(agent),
                    Verdict::Denied(&denied),
                );
                return Err(Error::PermissionDenied(denied).to_rpc());
            }
        }
        call.set_agent(agent);
    }
    let outcome = dispatch(shared, conn, call, capabilities.as_ref()).await;
    audit_request(
        shared,
        method,
        &facts,
        session.as_deref(),
        agent.as_deref(),
        Verdict::Ran(&outcome),
    );
    outcome
}

/// Appends the request's audit event (and, for a session it created, the policy it runs under).
fn audit_request(
    shared: &Shared,
    method: Method,
    facts: &Facts,
    session: Option<&str>,
    agent: Option<&str>,
    verdict: Verdict<'_>,
) {
    let Some(audit) = &shared.audit else { return };
    let created_ok = matches!(verdict, Verdict::Ran(Ok(_)));
    let event = crate::audit::request_event(method, facts, session, agent, verdict);
    let created = matches!(method, Method::SessionNew | Method::SessionImport)
        .then(|| event.session_id.clone())
        .flatten()
        .filter(|_| created_ok);
    audit.record(event);
    if let Some(created) = created {
        audit.record(crate::audit::policy_event(facts, &created, agent));
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    call: Call,
    capabilities: Option<&AgentCapabilities>,
) -> Outcome {
    let manager = &shared.manager;
    match call {
        Call::Hello(params) => {
            tracing::debug!(connection = conn.id, client = ?params.client, agent = ?params.agent, "hello");
            if let Some(agent) = params.agent {
                ai_session_security::profiles::validate_agent_name(&agent).map_err(|e| {
                    RpcError {
                        code: codes::INVALID_PARAMS,
                        message: format!("invalid params: field `agent`: {e}"),
                        data: Some(serde_json::json!({ "field": "agent" })),
                    }
                })?;
                *lock(&conn.agent) = Some(agent);
            }
            reply(Ok(hello(shared, lock(&conn.agent).clone())))
        }
        Call::SessionNew(p) => reply(manager.create(p).await),
        Call::SessionList(_) => {
            let mut list = manager.list();
            if let Some(caps) = capabilities {
                access::filter_list(caps, &mut list);
            }
            reply(Ok(list))
        }
        Call::SessionKill(p) => reply(manager.kill(&p.session).await),
        Call::Exec(p) => exec(shared, conn, p).await,
        Call::Send(p) => reply(manager.send(p).await),
        Call::Read(p) => reply(manager.read(p).await),
        Call::Screen(p) => reply(manager.screen(&p.session).await),
        Call::ScreenReset(p) => reply(manager.reset_screen(&p.session).await),
        Call::Wait(p) => reply(manager.wait(p, viewer(capabilities)).await),
        Call::Events(p) => events(shared, conn, p, capabilities).await,
        Call::EventsUnfollow(_) => {
            if let Some(follow) = lock(&conn.following).take() {
                follow.abort();
            }
            reply(Ok(protocol::Ack::OK))
        }
        Call::Watch(p) => reply(manager.watch(p).await),
        Call::WatchList(p) => {
            let mut list = manager.watch_list(&p);
            if let (Ok(list), Some(caps)) = (&mut list, capabilities) {
                list.watches
                    .retain(|w| manager.may_see(viewer(Some(caps)), &w.spec.session));
            }
            reply(list)
        }
        Call::WatchRemove(p) => reply(manager.watch_remove(&p).await),
        Call::SessionLabel(p) => reply(manager.label(p).await),
        Call::History(p) => reply(manager.history(p).await),
        Call::Context(p) => reply(manager.context(p).await),
        Call::ContextTask(p) => reply(manager.context_task(p).await),
        Call::DecisionRecord(p) => reply(manager.decision_record(p).await),
        Call::DecisionOutcome(p) => reply(manager.decision_outcome(p).await),
        Call::DecisionStats(p) => reply(Ok(manager.decision_stats(p))),
        Call::Snapshot(p) => reply(manager.snapshot(p).await),
        Call::Snapshots(_) => reply(manager.snapshots().await),
        Call::SnapshotRestore(p) => reply(manager.snapshot_restore(p).await),
        Call::Metrics(_) => reply(Ok(manager.metrics_text())),
        Call::Stats(_) => reply(Ok(manager.stats())),
        Call::Resize(p) => reply(manager.resize(p).await),
        Call::Timeline(p) => reply(manager.timeline(p).await),
        Call::SessionImport(p) => reply(manager.import(p).await),
        Call::Signal(p) => reply(manager.signal(p).await),
        Call::Attach(p) => attach(shared, conn, p).await,
        Call::Detach(p) => {
            if let Some(stream) = lock(&conn.attaches).remove(&p.session) {
                stream.abort();
            }
            reply(Ok(protocol::Ack::OK))
        }
        Call::ServerShutdown(_) => {
            tracing::info!(connection = conn.id, "shutdown requested by a client");
            // Queue the answer before the flag flips, so the client sees it.
            let shutdown = shared.shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                shutdown.send_replace(true);
            });
            reply(Ok(protocol::Ack::OK))
        }
    }
}

/// Whose sessions a caller with `capabilities` may see.
fn viewer(capabilities: Option<&AgentCapabilities>) -> Viewer<'_> {
    match capabilities {
        Some(caps) if caps.sessions != SessionScope::All => Viewer::Owner(&caps.agent_id),
        _ => Viewer::All,
    }
}

/// `exec`, forwarding its progress as `exec.progress` notifications when asked.
async fn exec(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    params: protocol::ExecParams,
) -> Outcome {
    if params.progress_token.is_none() {
        return reply(shared.manager.exec(params).await);
    }
    let (sink, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let forward_conn = conn.clone();
    let forwarder = tokio::spawn(async move {
        while let Some(step) = progress.recv().await {
            forward_conn
                .notify(protocol::NOTIFY_EXEC_PROGRESS, &step)
                .await;
        }
    });
    let outcome = shared.manager.exec_reporting(params, Some(sink)).await;
    // The sender went with the exec: the forwarder sends what is queued and ends.
    let _ = forwarder.await;
    reply(outcome)
}

/// `events`; with `follow`, every later matching event is sent as a notification by a task
/// of the connection (one per connection: a new follow replaces the old).
async fn events(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    params: protocol::EventsParams,
    capabilities: Option<&AgentCapabilities>,
) -> Outcome {
    let manager = &shared.manager;
    let result = manager.events(&params, viewer(capabilities));
    if params.follow {
        let agent = capabilities
            .filter(|c| c.sessions != SessionScope::All)
            .map(|c| c.agent_id.clone());
        let task_conn = conn.clone();
        let task_manager = manager.clone();
        let mut cursor = result.next_event;
        let follow = lock(&conn.streams).spawn(async move {
            let viewer = match &agent {
                Some(agent) => Viewer::Owner(agent),
                None => Viewer::All,
            };
            let log = task_manager.event_log().clone();
            let mut head = log.subscribe();
            loop {
                let filter = task_manager.event_filter(&params.sessions, &params.kinds, viewer);
                let (found, looked_up_to, _) = log.after(cursor, 1000, filter);
                for event in &found {
                    if !task_conn.notify(protocol::NOTIFY_EVENT, &**event).await {
                        return;
                    }
                }
                cursor = looked_up_to;
                if found.is_empty() && head.changed().await.is_err() {
                    return;
                }
            }
        });
        if let Some(previous) = lock(&conn.following).replace(follow) {
            previous.abort();
        }
    }
    reply(Ok(result))
}

fn hello(shared: &Shared, agent: Option<String>) -> protocol::HelloResult {
    protocol::HelloResult {
        protocol_version: protocol::PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        server_name: shared.name.clone(),
        pid: std::process::id(),
        capabilities: protocol::CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        max_request_bytes: shared.max_request_bytes,
        agent,
    }
}

async fn attach(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    params: protocol::AttachParams,
) -> Outcome {
    let stream = shared
        .manager
        .attach(&params.session, params.since)
        .await
        .map_err(|e| e.to_rpc())?;
    let result = stream.start.clone();
    let session = params.session.clone();
    let task_conn = conn.clone();
    let abort = lock(&conn.streams).spawn(async move {
        let reason = stream
            .forward(|output| {
                let conn = task_conn.clone();
                async move { conn.notify(protocol::NOTIFY_ATTACH_OUTPUT, &output).await }
            })
            .await;
        lock(&task_conn.attaches).remove(&session);
        let closed = protocol::AttachClosed {
            session,
            reason: reason.to_owned(),
        };
        task_conn
            .notify(protocol::NOTIFY_ATTACH_CLOSED, &closed)
            .await;
    });
    if let Some(previous) = lock(&conn.attaches).insert(params.session, abort) {
        previous.abort();
    }
    reply(Ok(result))
}

fn reply<T: Serialize>(result: Result<T>) -> Outcome {
    let value = result.map_err(|e| e.to_rpc())?;
    serde_json::to_value(value).map_err(|error| {
        RpcError::new(
            codes::INTERNAL_ERROR,
            format!("could not serialise result: {error}"),
        )
    })
}
