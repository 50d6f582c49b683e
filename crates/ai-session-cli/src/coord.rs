//! Multi-agent commands: `agent register|ls`, `worker`, `task submit|status|ls|wait`.
//! Rendering and wiring only; the queue, registry and worker loop are `ai-session-coord`, a
//! task's session is the daemon's (`ai_session::worker::DaemonTaskRunner`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ai_session::coord::nats::{NatsBus, NatsQueue, NatsRegistry};
use ai_session::coord::{
    AgentInfo, AgentRegistry, Priority, QueueConfig, RegistryConfig, TaskInfo, TaskQueue, TaskSpec,
    TaskState, WorkerOptions, WorkerSpec, run_worker,
};
use ai_session::worker::{DaemonTaskRunner, TaskSessions};
use anyhow::Context;

use crate::common::Global;
use serde_json::json;

/// Shown at the end of `agent`, `worker` and `task` help.
const COORD_AFTER_HELP: &str = "\
Coordination goes through a NATS server with JetStream (`nats-server -js`), so workers on
several machines share one queue: pass --bus nats://HOST:PORT or set AI_SESSION_BUS.
Queues and registries with the same --prefix are shared.

Examples:
  ai-session worker --capabilities rust,python --bus nats://127.0.0.1:4222
  ai-session task submit --requires rust --priority 2 -- cargo test
  ai-session task wait 018f3a...            the result, with the parsed output
  ai-session agent ls --format json";

/// Where the queue and registry live.
#[derive(Debug, Clone, clap::Args)]
pub struct BusArgs {
    /// NATS server URL (e.g. nats://127.0.0.1:4222).
    #[arg(long, env = "AI_SESSION_BUS", value_name = "URL")]
    pub bus: Option<String>,
    /// Name of the queue and registry on the server (handles with one prefix share them).
    #[arg(long, env = "AI_SESSION_COORD_PREFIX", default_value = ai_session::coord::nats::DEFAULT_PREFIX)]
    pub prefix: String,
}

impl BusArgs {
    fn url(&self) -> anyhow::Result<&str> {
        self.bus.as_deref().context(
            "no coordination server: pass --bus nats://HOST:PORT or set AI_SESSION_BUS \
             (a `nats-server -js`; tasks and agents are shared through it across processes)",
        )
    }

    async fn queue(&self, lease: Duration) -> anyhow::Result<NatsQueue> {
        let url = self.url()?;
        NatsQueue::connect(
            url,
            &self.prefix,
            QueueConfig {
                lease_duration: lease,
            },
        )
        .await
        .with_context(|| format!("opening task queue {:?} on {url}", self.prefix))
    }

    async fn registry(&self, ttl: Duration) -> anyhow::Result<NatsRegistry> {
        let url = self.url()?;
        NatsRegistry::connect(url, &self.prefix, RegistryConfig { ttl })
            .await
            .with_context(|| format!("opening agent registry {:?} on {url}", self.prefix))
    }
}

/// `ai-session agent ...`
#[derive(Debug, clap::Args)]
#[command(after_long_help = COORD_AFTER_HELP)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

/// Agent registry commands.
#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// Register an agent and its capabilities (it stays listed for --ttl seconds, or while
    /// --keep-alive runs).
    Register(AgentRegisterArgs),
    /// List live agents.
    Ls(AgentLsArgs),
    /// Restrict an agent to granted permissions (agents.toml; see --help).
    Grant(crate::agents::GrantArgs),
    /// Remove grants from an agent's permission profile.
    Revoke(crate::agents::RevokeArgs),
    /// Show agent permission profiles.
    Show(crate::agents::AgentNameArgs),
    /// Delete an agent's permission profile (it is unrestricted again).
    Forget(crate::agents::AgentNameArgs),
}

/// `agent register`
#[derive(Debug, clap::Args)]
pub struct AgentRegisterArgs {
    /// Unique agent name.
    #[arg(long)]
    pub name: String,
    /// Comma-separated capabilities, e.g. rust,python.
    #[arg(long, value_delimiter = ',', default_value = "")]
    pub capabilities: Vec<String>,
    /// Rank for the `priority` assignment strategy (higher is preferred).
    #[arg(long, default_value_t = 0)]
    pub rank: u8,
    /// Keep heartbeating until interrupted (Ctrl-C), then deregister.
    #[arg(long)]
    pub keep_alive: bool,
    /// Seconds an agent stays listed without a heartbeat (fixed when the registry is created).
    #[arg(long, default_value_t = 60)]
    pub ttl: u64,
    #[command(flatten)]
    pub bus: BusArgs,
}

/// `agent ls`
#[derive(Debug, clap::Args)]
pub struct AgentLsArgs {
    /// Seconds an agent stays listed without a heartbeat (used if the registry is created now).
    #[arg(long, default_value_t = 60)]
    pub ttl: u64,
    #[command(flatten)]
    pub bus: BusArgs,
}

/// `ai-session worker`
#[derive(Debug, clap::Args)]
#[command(after_long_help = COORD_AFTER_HELP)]
pub struct WorkerArgs {
    /// Comma-separated capabilities this worker offers; it takes only tasks whose requirements
    /// are all among them.
    #[arg(long, value_delimiter = ',', default_value = "")]
    pub capabilities: Vec<String>,
    /// Worker name (default: <hostname>-<pid>).
    #[arg(long)]
    pub name: Option<String>,
    /// Lease length in seconds; the worker renews it every third while a command runs, so a
    /// crashed worker's task goes to another worker after at most this long.
    #[arg(long, default_value_t = 30)]
    pub lease: u64,
    /// Interrupt a task's command after this many seconds (default: no limit).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Working directory for task commands (default: the current one).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Exit after this many tasks.
    #[arg(long)]
    pub max_tasks: Option<u64>,
    /// Security policy for task sessions: a preset (trusted, workspace, strict) or a TOML file.
    /// Each task runs in a session of the daemon (started if none runs), created exactly as
    /// `ai-session new --policy P --workspace DIR` creates one, with the --cwd (or current)
    /// directory as the workspace; with `--agent`, the agent's profile decides instead.
    #[arg(long, default_value = "trusted")]
    pub policy: String,
    #[command(flatten)]
    pub bus: BusArgs,
}

/// `ai-session task ...`
#[derive(Debug, clap::Args)]
#[command(after_long_help = COORD_AFTER_HELP)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub command: TaskCommand,
}

/// Task queue commands.
#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    /// Queue a command for a worker with the required capabilities; prints the task id.
    Submit(TaskSubmitArgs),
    /// Show one task's state (and result when done).
    Status(TaskIdArgs),
    /// List tasks, oldest first.
    Ls(TaskLsArgs),
    /// Wait until a task is completed or dead-lettered; exits 0 if its command succeeded.
    Wait(TaskWaitArgs),
    /// Create a task context in a session and make it current (same as `ctx-task -s S new`).
    New(TaskContextNewArgs),
    /// Make a session's task context current, or the root (same as `ctx-task -s S switch`).
    Switch(TaskContextSwitchArgs),
    /// Show a session's task contexts (same as `ctx-task -s S show`).
    Show(TaskContextShowArgs),
}

/// `task new`: a context task, not a queue task.
#[derive(Debug, clap::Args)]
pub struct TaskContextNewArgs {
    /// Session id or name.
    #[arg(short, long, default_value = "default")]
    pub session: String,
    /// Task id.
    pub id: String,
    /// What the task is about (the default relevance query).
    #[arg(long, default_value = "")]
    pub description: String,
    /// Task whose relevant entries this one inherits.
    #[arg(long)]
    pub parent: Option<String>,
}

/// `task switch`
#[derive(Debug, clap::Args)]
pub struct TaskContextSwitchArgs {
    /// Session id or name.
    #[arg(short, long, default_value = "default")]
    pub session: String,
    /// Task id (none: back to the root).
    pub id: Option<String>,
}

/// `task show`
#[derive(Debug, clap::Args)]
pub struct TaskContextShowArgs {
    /// Session id or name.
    #[arg(short, long, default_value = "default")]
    pub session: String,
}

impl TaskCommand {
    /// The task-context commands (`new`, `switch`, `show`) as `ctx-task` arguments; the queue
    /// commands come back unchanged.
    pub fn into_context(self) -> Result<crate::context::CtxTaskArgs, TaskCommand> {
        use crate::context::{CtxTaskAction, CtxTaskArgs};
        let (session, action) = match self {
            TaskCommand::New(a) => (
                a.session,
                CtxTaskAction::New {
                    id: a.id,
                    description: a.description,
                    parent: a.parent,
                },
            ),
            TaskCommand::Switch(a) => (a.session, CtxTaskAction::Switch { id: a.id }),
            TaskCommand::Show(a) => (a.session, CtxTaskAction::Show),
            queue => return Err(queue),
        };
        Ok(CtxTaskArgs { session, action })
    }
}

/// `task submit`
#[derive(Debug, clap::Args)]
pub struct TaskSubmitArgs {
    /// Comma-separated capabilities a worker must have.
    #[arg(long, value_delimiter = ',', default_value = "")]
    pub requires: Vec<String>,
    /// 0 (low) to 3 (urgent); higher runs first.
    #[arg(long, default_value_t = 1)]
    pub priority: u8,
    /// Deliveries before the task is dead-lettered.
    #[arg(long, default_value_t = TaskSpec::DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,
    /// Wait for the result (like `task wait`).
    #[arg(long)]
    pub wait: bool,
    /// The shell command to run.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub bus: BusArgs,
}

/// `task status`
#[derive(Debug, clap::Args)]
pub struct TaskIdArgs {
    /// The id `task submit` printed.
    pub id: String,
    #[command(flatten)]
    pub bus: BusArgs,
}

/// `task ls`
#[derive(Debug, clap::Args)]
pub struct TaskLsArgs {
    #[command(flatten)]
    pub bus: BusArgs,
}

/// `task wait`
#[derive(Debug, clap::Args)]
pub struct TaskWaitArgs {
    /// The id `task submit` printed.
    pub id: String,
    /// Give up after this many seconds (exit code 4).
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    #[command(flatten)]
    pub bus: BusArgs,
}

/// Exit code of `task wait` when it gives up.
const EXIT_WAIT_TIMEOUT: u8 = 4;
/// Lease length used by commands that only read or submit.
const CLIENT_LEASE: Duration = Duration::from_secs(30);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs `ai-session agent ...`.
pub fn agent(args: AgentArgs, json: bool) -> anyhow::Result<ExitCode> {
    match args.command {
        AgentCommand::Register(args) => runtime()?.block_on(agent_register(args, json)),
        AgentCommand::Ls(args) => runtime()?.block_on(agent_ls(args, json)),
        AgentCommand::Grant(args) => crate::agents::grant(args, json),
        AgentCommand::Revoke(args) => crate::agents::revoke(args, json),
        AgentCommand::Show(args) => crate::agents::show(args, json),
        AgentCommand::Forget(args) => crate::agents::forget(args, json),
    }
}

async fn agent_register(args: AgentRegisterArgs, json: bool) -> anyhow::Result<ExitCode> {
    let registry = args.bus.registry(Duration::from_secs(args.ttl)).await?;
    let mut agent = AgentInfo::new(
        &args.name,
        args.capabilities.iter().filter(|c| !c.is_empty()),
    )?;
    agent.rank = args.rank;
    registry.register(agent.clone()).await?;
    if json {
        print_json(&agent)?;
    } else {
        println!("registered {} ({})", agent.id, join(&agent.capabilities));
    }
    if args.keep_alive {
        let every = Duration::from_secs(args.ttl.max(3) / 3);
        let mut ticks = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = ticks.tick() => registry.heartbeat(&agent.id, 0).await?,
            }
        }
        registry.deregister(&agent.id).await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn agent_ls(args: AgentLsArgs, json: bool) -> anyhow::Result<ExitCode> {
    let registry = args.bus.registry(Duration::from_secs(args.ttl)).await?;
    let agents = registry.list().await?;
    if json {
        print_json(&agents)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<30} {:>4} {:>4}",
        "AGENT", "CAPABILITIES", "LOAD", "RANK"
    );
    for agent in agents {
        println!(
            "{:<24} {:<30} {:>4} {:>4}",
            agent.id,
            join(&agent.capabilities),
            agent.load,
            agent.rank
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn join(capabilities: &std::collections::BTreeSet<String>) -> String {
    if capabilities.is_empty() {
        return "-".to_owned();
    }
    capabilities.iter().cloned().collect::<Vec<_>>().join(",")
}

fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The task sessions of `ai-session worker`: in the daemon (started when none runs), under
/// `--policy` exactly as `ai-session new --policy` asks for it.
fn task_sessions(args: &WorkerArgs, global: &Global) -> anyhow::Result<TaskSessions> {
    let absolute = |path: &std::path::Path| -> anyhow::Result<String> {
        let path = std::path::absolute(path)?;
        path.to_str()
            .map(str::to_owned)
            .with_context(|| format!("{} is not valid UTF-8", path.display()))
    };
    let cwd = match &args.cwd {
        Some(dir) => absolute(dir)?,
        None => absolute(&std::env::current_dir().context("reading the current directory")?)?,
    };
    let policy = match args.policy.as_str() {
        "trusted" => None,
        preset @ ("workspace" | "strict") => Some(preset.to_owned()),
        file => Some(absolute(std::path::Path::new(file))?),
    };
    Ok(TaskSessions {
        home: ai_session::Home::from_env()?,
        server: global.server.clone(),
        auto_start: Some(ai_session::AutoStart {
            exe: std::env::current_exe()?,
        }),
        agent: global.agent.clone().filter(|a| !a.is_empty()),
        workspace: policy.as_ref().map(|_| cwd.clone()),
        policy,
        cwd: Some(cwd),
        timeout: args.timeout.map(Duration::from_secs),
        budget: ai_session::DIGEST_BUDGET,
    })
}

/// Runs `ai-session worker`.
pub fn worker(args: WorkerArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let json = global.json();
    runtime()?.block_on(async {
        let runner = DaemonTaskRunner::new(task_sessions(&args, global)?);
        // Fail before taking tasks when the daemon cannot be reached.
        runner.connect().await.context("connecting to the daemon that runs the tasks")?;
        let lease = Duration::from_secs(args.lease.max(1));
        let queue = args.bus.queue(lease).await?;
        let bus = NatsBus::connect(args.bus.url()?).await?;
        let registry = args.bus.registry(Duration::from_secs(60)).await?;
        let name = args.name.clone().unwrap_or_else(default_worker_name);
        let spec = WorkerSpec::new(name, args.capabilities.iter().filter(|c| !c.is_empty()))?;
        let mut options = WorkerOptions::new(spec);
        options.max_tasks = args.max_tasks;
        options.registry = RegistryConfig {
            ttl: Duration::from_secs(60),
        };
        if !json {
            eprintln!(
                "worker {} taking tasks needing at most [{}] from {}",
                options.spec.id,
                join(&options.spec.capabilities),
                args.bus.url()?
            );
        }
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        let stats = run_worker(&queue, &bus, &registry, &runner, &options, shutdown).await?;
        if json {
            print_json(&stats)?;
        } else {
            eprintln!(
                "worker {} done: {} completed, {} retried, {} lost",
                options.spec.id, stats.completed, stats.retried, stats.lost
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `ai-session task ...`.
pub fn task(args: TaskArgs, json: bool) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match args.command {
            TaskCommand::Submit(args) => task_submit(args, json).await,
            TaskCommand::Status(args) => {
                let queue = args.bus.queue(CLIENT_LEASE).await?;
                let info = queue.status(&args.id.as_str().into()).await?;
                render_task(&info, json)?;
                Ok(ExitCode::SUCCESS)
            }
            TaskCommand::Ls(args) => {
                let queue = args.bus.queue(CLIENT_LEASE).await?;
                let tasks = queue.list().await?;
                if json {
                    print_json(&tasks)?;
                } else {
                    println!(
                        "{:<22} {:<14} {:>3} {:>3} {:<16} COMMAND",
                        "ID", "STATE", "PRI", "TRY", "REQUIRES"
                    );
                    for task in &tasks {
                        println!(
                            "{:<22} {:<14} {:>3} {:>3} {:<16} {}",
                            task.id,
                            task.state.name(),
                            task.spec.priority.level(),
                            task.attempts,
                            join(&task.spec.requires),
                            task.spec.payload["command"].as_str().unwrap_or("")
                        );
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            TaskCommand::New(_) | TaskCommand::Switch(_) | TaskCommand::Show(_) => {
                anyhow::bail!(
                    "task new|switch|show are context commands: run them via `ai-session task`"
                )
            }
            TaskCommand::Wait(args) => {
                let queue = args.bus.queue(CLIENT_LEASE).await?;
                wait_and_render(&queue, &args.id, Duration::from_secs(args.timeout), json).await
            }
        }
    })
}

async fn task_submit(args: TaskSubmitArgs, json: bool) -> anyhow::Result<ExitCode> {
    let command = args.command.join(" ");
    let spec = TaskSpec::new(json!({ "command": command }))
        .requiring(args.requires.iter().filter(|c| !c.is_empty()))?
        .with_priority(Priority::new(args.priority)?)
        .with_max_attempts(args.max_attempts);
    let queue = args.bus.queue(CLIENT_LEASE).await?;
    let id = queue.submit(spec).await?;
    if args.wait {
        if !json {
            eprintln!("submitted {id}");
        }
        return wait_and_render(&queue, &id.0, Duration::from_secs(3600), json).await;
    }
    if json {
        print_json(&json!({ "id": id }))?;
    } else {
        println!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_and_render(
    queue: &NatsQueue,
    id: &str,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let info = match queue.wait(&id.into(), timeout).await {
        Ok(info) => info,
        Err(ai_session::coord::CoordError::WaitTimeout { .. }) => {
            let info = queue.status(&id.into()).await?;
            render_task(&info, json)?;
            if !json {
                eprintln!("task {id} did not finish within {}s", timeout.as_secs());
            }
            return Ok(ExitCode::from(EXIT_WAIT_TIMEOUT));
        }
        Err(e) => return Err(e.into()),
    };
    render_task(&info, json)?;
    Ok(match &info.state {
        TaskState::Completed { result, .. } if result["exit_code"] == json!(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

fn render_task(info: &TaskInfo, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(info);
    }
    let command = info.spec.payload["command"].as_str().unwrap_or("");
    println!("task     {}", info.id);
    println!("command  {command}");
    println!(
        "requires {}  priority {}  attempts {}/{}",
        join(&info.spec.requires),
        info.spec.priority.level(),
        info.attempts,
        info.spec.max_attempts
    );
    match &info.state {
        TaskState::Pending => println!("state    pending"),
        TaskState::Leased { worker, attempt } => {
            println!("state    running on {worker} (attempt {attempt})");
        }
        TaskState::Completed {
            worker,
            attempt,
            result,
        } => {
            println!(
                "state    completed by {worker} (attempt {attempt}), exit {}",
                result["exit_code"]
            );
            if let Some(digest) = result["digest"].as_str() {
                println!("{digest}");
            }
        }
        TaskState::DeadLettered { reason } => println!("state    dead-lettered: {reason}"),
    }
    Ok(())
}
