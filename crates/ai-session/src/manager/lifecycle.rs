//! Creating, restoring and killing sessions, and the integrations told about them.

use super::terminal::timeline_of;
use super::*;

impl SessionManager {
    /// Start every stored session again: a session whose shell the PTY keeper still holds goes
    /// on where it was; any other gets a fresh shell in its saved cwd and environment, with its
    /// old scrollback and history readable. Returns how many came back.
    pub async fn restore(&self) -> usize {
        let restored = match self.inner.persistence.clone() {
            Some(persistence) => {
                self.replay_decisions(&persistence).await;
                let limit = self.inner.config.scrollback_limit;
                tokio::task::spawn_blocking(move || persistence.restore_all(limit))
                    .await
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        // Sessions the PTY keeper still holds go on where they were; the others start fresh.
        let (mut count, restored) = self.adopt_kept(restored).await;
        for session in restored {
            let id = session.id.clone();
            match self.restore_session(session).await {
                Ok(()) => count += 1,
                Err(error) => {
                    tracing::error!(session = %id, %error, "could not restart stored session")
                }
            }
        }
        count
    }

    pub(super) async fn restore_session(&self, session: RestoredSession) -> Result<()> {
        let id = self.reserve_id(Some(&session.id))?;
        if let Some(n) = id.strip_prefix('s').and_then(|n| n.parse::<u64>().ok()) {
            self.inner.next_id.fetch_max(n + 1, Ordering::Relaxed);
        }
        let params = p::NewSessionParams {
            name: Some(id.clone()),
            cwd: session.cwd(),
            shell: Some(session.saved.shell.clone()),
            env: session.saved.env.clone(),
            cols: Some(session.saved.cols),
            rows: Some(session.saved.rows),
            launcher: session.saved.launcher.clone(),
            agent: session.saved.owner.clone(),
            ..Default::default()
        };
        let outcome = self
            .spawn_with(&id, params, session.past, Some(session.saved))
            .await;
        let mut reserved = lock(&self.inner.reserved);
        reserved.remove(&id);
        let entry = outcome?;
        if let Some(state) = session.context {
            *lock(&entry.context) = state;
        }
        self.started(&entry, true);
        write(&self.inner.sessions).insert(id.clone(), entry);
        drop(reserved);
        tracing::info!(session = %id, "stored session restarted");
        Ok(())
    }

    /// Creates a session and waits until its shell is ready for commands.
    pub async fn create(&self, params: p::NewSessionParams) -> Result<p::SessionInfo> {
        let info = self.create_with(params, Past::default()).await?;
        self.session_created(&info).await;
        Ok(info)
    }

    /// Creates a session whose scrollback starts with `scrollback_base64` (output adopted from
    /// another terminal, e.g. a tmux pane): `read` from 0 returns it before the shell's output.
    pub async fn import(&self, params: p::ImportSessionParams) -> Result<p::SessionInfo> {
        use base64::Engine as _;
        let mut scrollback = base64::engine::general_purpose::STANDARD
            .decode(params.scrollback_base64.as_bytes())
            .map_err(|error| Error::InvalidParam {
                field: "scrollback_base64",
                reason: format!("not valid base64 ({error}); encode the raw bytes"),
            })?;
        let keep = self.inner.config.scrollback_limit;
        let dropped = scrollback.len().saturating_sub(keep);
        scrollback.drain(..dropped);
        let past = Past {
            commands: Vec::new(),
            scrollback_start: dropped as u64,
            scrollback,
            ids_used: 0,
        };
        let info = self.create_with(params.session, past).await?;
        self.session_created(&info).await;
        Ok(info)
    }

    pub(super) async fn create_with(
        &self,
        params: p::NewSessionParams,
        past: Past,
    ) -> Result<p::SessionInfo> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        let id = self.reserve_id(params.name.as_deref())?;
        let outcome = self.spawn_with(&id, params, past, None).await;
        let mut reserved = lock(&self.inner.reserved);
        reserved.remove(&id);
        let entry = outcome?;
        let info = entry.info();
        self.started(&entry, false);
        write(&self.inner.sessions).insert(id, entry);
        drop(reserved);
        Ok(info)
    }

    /// A session is in service: its owner is known to the event log's filters, its watcher
    /// runs, and its creation is an event.
    pub(super) fn started(&self, entry: &Arc<Entry>, restored: bool) {
        lock(&self.inner.owners).insert(entry.id.clone(), entry.owner.clone());
        let _ = entry
            .watcher
            .set(super::watcher::start(entry, self.inner.events.clone()));
        self.inner.events.append(
            &entry.id,
            entry.past.end_offset(&entry.pty),
            crate::protocol::EventKind::SessionCreated {
                owner: entry.owner.clone(),
                policy: entry.policy.clone(),
                restored,
            },
        );
    }

    /// Runs the integrations' `on_session_created`, before `session.new` answers.
    pub(super) async fn session_created(&self, info: &p::SessionInfo) {
        if let Some(hooks) = self.inner.hooks.get().cloned() {
            let created = info.clone();
            let _ = tokio::task::spawn_blocking(move || hooks.created(&created)).await;
        }
    }

    /// Tells `hooks`' integrations about every session created and ended from now on; only
    /// the first call counts.
    pub fn set_hooks(&self, hooks: SessionHooks) {
        if self.inner.hooks.set(Arc::new(hooks)).is_err() {
            tracing::warn!("session hooks were already set; ignoring the new ones");
        }
    }

    /// Runs the integrations' `on_session_terminated` (and writes recordings) for an ended
    /// session, before the request that ended it is answered.
    pub(super) async fn session_ended(&self, entry: &Entry) {
        let Some(hooks) = self.inner.hooks.get().cloned() else {
            return;
        };
        let recording = hooks.records().then(|| recording_of(entry));
        let id = entry.id.clone();
        let _ =
            tokio::task::spawn_blocking(move || hooks.terminated(&id, recording.as_ref())).await;
    }

    pub(super) fn reserve_id(&self, name: Option<&str>) -> Result<String> {
        let mut reserved = lock(&self.inner.reserved);
        let sessions = read(&self.inner.sessions);
        if sessions.len() + reserved.len() >= self.inner.config.max_sessions {
            return Err(Error::ResourceExhausted {
                what: "sessions",
                limit: self.inner.config.max_sessions,
                hint: "kill some sessions, or start the daemon with a higher --max-sessions",
            });
        }
        let id = match name {
            Some(name) => {
                validate_session_name(name)?;
                if sessions.contains_key(name) || reserved.contains(name) {
                    return Err(Error::SessionExists(name.to_owned()));
                }
                name.to_owned()
            }
            None => loop {
                let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
                let candidate = format!("s{n}");
                if !sessions.contains_key(&candidate) && !reserved.contains(&candidate) {
                    break candidate;
                }
            },
        };
        reserved.insert(id.clone());
        Ok(id)
    }

    /// Lets the manager build restricted agents' sessions from their profiles (the daemon
    /// calls it once; a manager without profiles treats every owner as the operator).
    pub(crate) fn set_agent_profiles(&self, profiles: Arc<crate::access::Profiles>) {
        let _ = self.inner.agents.set(profiles);
    }

    fn launcher_exe(&self) -> Result<PathBuf> {
        match &self.inner.config.launcher_exe {
            Some(exe) => Ok(exe.clone()),
            None => std::env::current_exe().map_err(|e| {
                Error::io(
                    "find the ai-session executable",
                    std::path::Path::new("/proc/self/exe"),
                    e,
                )
            }),
        }
    }

    /// Decides what the session's shell starts through, and returns the policy name it runs
    /// under. A restricted agent's session (its owner has a profile) is always built from the
    /// profile by [`crate::restrict`], on every path that creates one (`session.new`,
    /// `session.import`, `exec` creating its session, a restore, which rebuilds the stored
    /// launcher from the current profile in the stored workspace). Otherwise `policy` becomes
    /// a launcher, and a raw `launcher` (the operator's) starts inside it, or alone without one.
    async fn sandboxing(
        &self,
        params: &mut p::NewSessionParams,
        restoring: bool,
    ) -> Result<Option<String>> {
        let restricted = match (self.inner.agents.get(), params.agent.as_deref()) {
            (Some(profiles), Some(owner)) => profiles
                .rules(owner)?
                .map(|(caps, policy)| (caps, policy, profiles.home().to_owned())),
            _ => None,
        };
        if let Some((caps, policy, home)) = restricted {
            if restoring {
                if let Some((_, workspace)) = crate::sandboxing::launcher_sandbox(&params.launcher)
                {
                    params.workspace = Some(workspace.display().to_string());
                }
                params.launcher.clear();
            }
            let asked = params.clone();
            let caps_for_decision = caps.clone();
            let decision = tokio::task::spawn_blocking(move || {
                crate::restrict::AgentRules {
                    caps: &caps_for_decision,
                    policy: &policy,
                    home: &home,
                }
                .decide(&asked, true)
            })
            .await
            .map_err(|e| Error::internal("decide the agent's session", e))??;
            let env_keys: Vec<String> = params.env.keys().cloned().collect();
            let sandboxing = crate::sandboxing::session_sandbox(
                &decision.policy,
                Some(&caps),
                &decision.workspace,
                &env_keys,
                &self.launcher_exe()?,
            )?;
            params.launcher = sandboxing.launcher;
            params.cwd = Some(decision.cwd.display().to_string());
            params.policy = None;
            return Ok(sandboxing.policy);
        }
        let Some(name) = params.policy.take() else {
            return Ok(ai_session_security::launcher_policy(&params.launcher).map(|(name, _)| name));
        };
        let policy = crate::sandboxing::load_policy(&name)?;
        let workspace = crate::sandboxing::resolve_workspace(
            params.workspace.as_deref(),
            params.cwd.as_deref(),
        )?;
        let env_keys: Vec<String> = params.env.keys().cloned().collect();
        let sandboxing = crate::sandboxing::session_sandbox(
            &policy,
            None,
            &workspace,
            &env_keys,
            &self.launcher_exe()?,
        )?;
        // The operator's own launcher, if any, starts inside the sandbox.
        let inner = std::mem::replace(&mut params.launcher, sandboxing.launcher);
        params.launcher.extend(inner);
        Ok(sandboxing.policy)
    }

    pub(super) async fn spawn_with(
        &self,
        id: &str,
        params: p::NewSessionParams,
        past: Past,
        saved: Option<SavedSession>,
    ) -> Result<Arc<Entry>> {
        let config = &self.inner.config;
        let saved_was_given = saved.is_some();
        let mut params = params;
        let policy = self.sandboxing(&mut params, saved_was_given).await?;
        let mut saved = saved.unwrap_or_else(|| SavedSession {
            cwd: params.cwd.clone(),
            env: params.env.clone(),
            launcher: params.launcher.clone(),
            owner: params.agent.clone(),
            policy: policy.clone(),
            labels: params.labels.clone(),
            created_at_ms: now_ms(),
            ..SavedSession::default()
        });
        if saved_was_given {
            // A restored restricted agent's launcher was rebuilt from its current profile.
            saved.launcher.clone_from(&params.launcher);
        }
        let policy = policy.or_else(|| saved.policy.clone());
        let shell = params.shell.unwrap_or_else(|| config.default_shell.clone());
        let size = Size {
            cols: params.cols.unwrap_or(config.default_size.cols),
            rows: params.rows.unwrap_or(config.default_size.rows),
        };
        check_size(size)?;
        saved.shell = shell.clone();
        (saved.cols, saved.rows) = (size.cols, size.rows);
        // A launcher (the sandbox) runs first and execs the shell, which stays last in the
        // argv so the PTY crate still recognises it and appends its integration arguments.
        let sandboxed = !params.launcher.is_empty();
        let mut program = params.launcher;
        program.push(shell.clone());
        let session_config = SessionConfig {
            program,
            cwd: params.cwd.map(PathBuf::from),
            env: params.env,
            size,
            scrollback_limit: config.scrollback_limit,
            first_command_id: past.next_command_id(),
            ..SessionConfig::default()
        };
        let shell_started_at_ms = now_ms();
        let pty = self
            .spawn_pty(id, session_config, past.base(), &saved)
            .await?;
        // "Created" means ready for commands: the first prompt has been seen.
        if pty.shell_kind().is_some()
            && let Err(e) = pty.wait_ready(READY_TIMEOUT).await
        {
            let said = pty.screen_tail(8).join("\n");
            pty.kill().await;
            if sandboxed && matches!(e, ai_session_pty::PtyError::Exited { .. }) {
                // The launcher aborts before the shell runs when a sandbox step fails: a
                // refusal to run unsandboxed, counted with the permission denials.
                let owner = saved.owner.as_deref();
                let metrics = &self.inner.observability.metrics;
                metrics.record_denial(Some(id), owner);
                return Err(Error::SandboxRefused {
                    session: id.to_owned(),
                    output: said,
                });
            }
            return Err(e.into());
        }
        tracing::info!(session = id, pid = pty.pid(), shell = %shell, "session created");
        let journal = self
            .inner
            .persistence
            .as_ref()
            .map(|p| p.journal(id, saved.clone()));
        if let Some(journal) = &journal
            && !saved_was_given
        {
            journal.seed(&past);
        }
        let entry = self.entry_for(id, pty, past, saved, policy, journal, shell_started_at_ms);
        if let Some(journal) = &entry.journal
            && let Err(error) = journal.settle_new(&entry.pty, &entry.past).await
        {
            tracing::error!(session = %entry.id, %error, "new session not persisted");
        }
        start_journal_pump(&entry);
        Ok(entry)
    }

    /// The manager's entry for a session whose shell runs in `pty`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn entry_for(
        &self,
        id: &str,
        pty: PtySession,
        past: Past,
        saved: SavedSession,
        policy: Option<String>,
        journal: Option<Journal>,
        shell_started_at_ms: u64,
    ) -> Arc<Entry> {
        let saved_watches = saved.watches.clone();
        if let Some(highest) = saved_watches
            .iter()
            .filter_map(|w| w.id.strip_prefix('w')?.parse::<u64>().ok())
            .max()
        {
            self.inner
                .next_watch
                .fetch_max(highest + 1, Ordering::Relaxed);
        }
        let lasting = saved_watches
            .into_iter()
            .filter(|w| w.spec.session == id)
            .collect();
        // What the shell was started through and with (the same for an adopted shell).
        let sandbox = super::sandbox::SandboxFacts::of(&saved.launcher);
        let redactor = Arc::new(
            ai_session_security::redact::Redactor::new()
                .with_env(std::env::vars().chain(saved.env.clone())),
        );
        Arc::new(Entry {
            id: id.to_owned(),
            shell: saved.shell,
            created_at_ms: saved.created_at_ms,
            shell_started_at_ms,
            pty,
            context: Default::default(),
            past,
            owner: saved.owner,
            policy,
            labels: Mutex::new(saved.labels),
            journal,
            watches: Arc::new(super::watches::Watches::with(lasting)),
            analyses: super::analysis::Analyses::new(redactor.clone()),
            watcher: std::sync::OnceLock::new(),
            sandbox,
            pidns: std::sync::OnceLock::new(),
            redactor,
            answered_unfinished: Mutex::new(HashMap::new()),
            observability: self.inner.observability.clone(),
        })
    }

    /// Kills a session: signals its process groups and reaps the shell.
    pub async fn kill(&self, session: &str) -> Result<p::KillResult> {
        let entry = write(&self.inner.sessions)
            .remove(session)
            .ok_or_else(|| Error::SessionNotFound(session.to_owned()))?;
        if let Some(watcher) = entry.watcher.get() {
            watcher.abort();
        }
        Self::settle_changes(&entry).await;
        entry.pty.kill().await;
        self.inner.events.append(
            &entry.id,
            entry.past.end_offset(&entry.pty),
            crate::protocol::EventKind::SessionKilled {},
        );
        if let Some(persistence) = &self.inner.persistence {
            persistence.forget(&entry.id).await;
        }
        self.session_ended(&entry).await;
        self.inner.observability.metrics.forget_session(session);
        tracing::info!(session, "session killed");
        Ok(p::KillResult {
            session: entry.id.clone(),
        })
    }

    pub(super) async fn get_or_create(&self, id: &str, owner: Option<&str>) -> Result<Arc<Entry>> {
        let params = p::NewSessionParams {
            name: Some(id.to_owned()),
            agent: owner.map(str::to_owned),
            ..Default::default()
        };
        match self.create(params).await {
            Ok(_) | Err(Error::SessionExists(_)) => {}
            Err(e) => return Err(e),
        }
        // A concurrent creator may still be spawning it: wait for it to appear.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.get(id) {
                Ok(entry) => return Ok(entry),
                Err(e)
                    if Instant::now() >= deadline || !lock(&self.inner.reserved).contains(id) =>
                {
                    return Err(e);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    }
}

/// Journal the session's output and commands as they arrive (coalesced to one capture per
/// 20 ms). Ends when the session's output ends or the session is dropped.
pub(super) fn start_journal_pump(entry: &Arc<Entry>) {
    let Some(journal) = entry.journal.clone() else {
        return;
    };
    let weak = Arc::downgrade(entry);
    let mut changes = entry.pty.subscribe();
    tokio::spawn(async move {
        loop {
            let closed = changes.changed().await.is_err();
            let Some(entry) = weak.upgrade() else { break };
            journal.capture(&entry.pty, &entry.past);
            drop(entry);
            if closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Everything a session printed (as far as the scrollback holds it) with its timing.
pub(super) fn recording_of(entry: &Entry) -> SessionRecording {
    let timeline = timeline_of(entry, 0);
    let mut output = Vec::new();
    let mut output_start = None;
    let mut since = 0;
    while since < timeline.end_offset {
        let chunk = entry.past.read(&entry.pty, since, MAX_READ_BYTES);
        if chunk.next_offset == chunk.start {
            break;
        }
        output_start.get_or_insert(chunk.start);
        output.extend_from_slice(&chunk.data);
        since = chunk.next_offset;
    }
    SessionRecording::from_timeline(
        entry.id.clone(),
        timeline,
        Some(entry.shell.clone()),
        output_start.unwrap_or(0),
        output,
    )
}

/// Session names share the rules of server names (safe, typable).
pub(super) fn validate_session_name(name: &str) -> Result<()> {
    crate::paths::validate_server_name(name).map_err(|_| Error::InvalidName {
        what: "session",
        name: name.to_owned(),
    })
}
