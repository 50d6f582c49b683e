//! One request: parsed into a typed [`Call`] first, then authorized for its agent, dispatched
//! to the manager, and audited. Nothing here reads raw params: every field a check needs is a
//! typed field of the call.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use ai_session_security::permissions::SessionScope;
use ai_session_security::{AgentCapabilities, PermissionDenied};
use futures::FutureExt as _;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument as _;

use super::Shared;
use super::connection::{Connection, lock, push_notification};
use crate::access::{self, Acting, Rights};
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
            let acting = parsed.as_ref().ok().map(|call| {
                let connection_agent = lock(&conn.agent).clone();
                let declared = access::declared_agent(connection_agent.as_deref(), call);
                access::acting(&conn.peer, declared, &shared.profiles)
            });
            let agent = match &acting {
                Some(Ok(acting)) => acting.name.clone(),
                Some(Err(denied)) => Some(denied.agent.clone()),
                None => None,
            };
            // Every log line of the request carries who asked about which session.
            let span = tracing::info_span!(
                "request",
                connection = conn.id,
                method = method.name(),
                session = parsed.as_ref().ok().and_then(Call::session),
                agent = agent.as_deref(),
            );
            AssertUnwindSafe(guarded(shared, conn, method, parsed, acting, agent))
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

/// Runs a parsed request as `acting`: checks its permissions, dispatches, and audits the
/// outcome.
async fn guarded(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    method: Method,
    parsed: std::result::Result<Call, RpcError>,
    acting: Option<std::result::Result<Acting, PermissionDenied>>,
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
    let facts = Facts::of(&call, &shared.manager.redactor_for(session.as_deref()));
    let checked = match acting {
        Some(Ok(acting)) => permitted(shared, acting, &call).await,
        Some(Err(denied)) => Err(Error::PermissionDenied(denied)),
        None => Err(Error::internal("identify the caller", "no call")),
    };
    let acting = match checked {
        Ok(acting) => acting,
        Err(Error::PermissionDenied(denied)) => {
            // The reason may quote the command: the log names only who and what.
            tracing::warn!(agent = %denied.agent, method = method.name(), session = session.as_deref(), permission = %denied.permission, "permission denied");
            shared
                .manager
                .record_denial(session.as_deref(), Some(&denied.agent));
            audit_request(
                shared,
                method,
                &facts,
                session.as_deref(),
                Some(&denied.agent),
                Verdict::Denied(&denied),
            );
            return Err(Error::PermissionDenied(denied).to_rpc());
        }
        Err(error) => {
            let error = error.to_rpc();
            audit_request(
                shared,
                method,
                &facts,
                session.as_deref(),
                agent.as_deref(),
                Verdict::Ran(&Err(error.clone())),
            );
            return Err(error);
        }
    };
    if let Some(name) = &acting.name {
        call.set_agent(name);
    }
    let outcome = dispatch(shared, conn, call, &acting).await;
    audit_request(
        shared,
        method,
        &facts,
        session.as_deref(),
        acting.name.as_deref(),
        Verdict::Ran(&outcome),
    );
    outcome
}

/// `acting` if it may make `call`: the permission checks, and for a restricted agent's new
/// session every field of it ([`crate::restrict`], which resolves paths: off the runtime).
async fn permitted(shared: &Arc<Shared>, acting: Acting, call: &Call) -> Result<Acting> {
    access::authorize(&acting, call, &shared.manager)?;
    if let (Rights::Agent { caps, policy }, Some(params)) = (&acting.rights, call.new_session()) {
        let (caps, policy, params) = (caps.clone(), policy.clone(), params.clone());
        let home = shared.profiles.home().to_owned();
        tokio::task::spawn_blocking(move || {
            crate::restrict::AgentRules {
                caps: &caps,
                policy: &policy,
                home: &home,
            }
            .decide(&params, false)
        })
        .await
        .map_err(|e| Error::internal("check the new session", e))??;
    }
    Ok(acting)
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
    let quota = match (method, &verdict) {
        (Method::Exec, Verdict::Ran(Ok(result))) => result.get("disk_quota").cloned(),
        _ => None,
    };
    let created_ok = matches!(verdict, Verdict::Ran(Ok(_)));
    let event = crate::audit::request_event(method, facts, session, agent, verdict);
    let created = matches!(
        method,
        Method::SessionNew | Method::SessionImport | Method::SnapshotRestore
    )
    .then(|| event.session_id.clone())
    .flatten()
    .filter(|_| created_ok);
    let command_session = event.session_id.clone();
    audit.record(event);
    if let Some(created) = created {
        let sandbox = shared.manager.sandbox_of(&created);
        audit.record(crate::audit::policy_event(facts, &created, agent, sandbox));
    }
    if let (Some(quota), Some(session)) = (quota, command_session) {
        audit.record(crate::audit::quota_event(&session, agent, &quota));
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    call: Call,
    acting: &Acting,
) -> Outcome {
    let manager = &shared.manager;
    let capabilities = acting.capabilities();
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
            reply(Ok(hello(shared, acting.name.clone())))
        }
        Call::SessionNew(p) => {
            let linked = p.end_with_connection;
            let created = manager.create(p).await;
            if let (true, Ok(info)) = (linked, &created) {
                lock(&conn.linked).push(info.id.clone());
            }
            reply(created)
        }
        Call::SessionList(_) => {
            let mut list = manager.list();
            access::filter_list(acting, &mut list);
            reply(Ok(list))
        }
        Call::Changes(p) => reply(manager.changes(&p.session).await),
        Call::ChangesApply(p) => reply(manager.changes_apply(&p.session).await),
        Call::SessionKill(p) => reply(manager.kill(&p.session).await),
        Call::Exec(p) => exec(shared, conn, p).await,
        Call::Send(p) => reply(manager.send(p).await),
        Call::Read(p) => read(shared, conn, p).await,
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

/// Least time between two writes of a followed event stream (see [`events`]).
const FOLLOW_GATHER: Duration = Duration::from_millis(10);

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
            let mut last_write: Option<tokio::time::Instant> = None;
            loop {
                // An event after a quiet spell goes out at once; a burst (an agent's exec
                // loop makes two events per command) goes out in one write per FOLLOW_GATHER
                // rather than one write, and one wake-up of the follower, per event.
                if let Some(at) = last_write
                    && at.elapsed() < FOLLOW_GATHER
                {
                    tokio::time::sleep_until(at + FOLLOW_GATHER).await;
                }
                let filter = task_manager.event_filter(&params.sessions, &params.kinds, viewer);
                let (found, looked_up_to, _) = log.after(cursor, 1000, filter);
                cursor = looked_up_to;
                if found.is_empty() {
                    if head.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                let mut lines = Vec::with_capacity(found.len() * 256);
                for event in &found {
                    push_notification(&mut lines, protocol::NOTIFY_EVENT, &**event);
                }
                if !task_conn.send_lines(lines).await {
                    return;
                }
                last_write = Some(tokio::time::Instant::now());
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

/// `read`; with `hold`, the connection's hold on the session's output moves to what it has
/// now read (taken on its first such read).
async fn read(
    shared: &Arc<Shared>,
    conn: &Arc<Connection>,
    params: protocol::ReadParams,
) -> Outcome {
    let (hold, session) = (params.hold, params.session.clone());
    let result = shared.manager.read(params).await;
    if hold && let Ok(read) = &result {
        let mut holds = lock(&conn.holds);
        match holds.get(&session) {
            Some(held) => held.advance(read.next_offset),
            None => {
                if let Ok(held) = shared.manager.hold_output(&session, read.next_offset) {
                    holds.insert(session, held);
                }
            }
        }
    }
    reply(result)
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
