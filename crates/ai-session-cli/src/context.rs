//! Agent-context commands: `context` (pack a session's history to a token budget) and
//! `ctx-task` (task contexts). The logic lives in `ai-session-context`; this only renders.

use std::process::ExitCode;

use ai_session::protocol::{
    ContextParams, ContextTaskAction, ContextTaskParams, DEFAULT_CONTEXT_BUDGET,
};

use crate::common::{self, Global, exit};

/// Print a session's context packed to a token budget, most relevant first.
///
/// The daemon turns the session's command records into an agent context (exact o200k token
/// counts; old outputs compressed to digests and one-line summaries, originals kept in the
/// scrollback) and packs the entries most relevant to --task (BM25 + recency + importance such as
/// errors and failing tests) into --budget tokens. The printed text never exceeds the budget.
/// Text mode prints the context on stdout and `tokens=N budget=B entries=E omitted=O` on stderr;
/// --format json prints the packed entries, their origins and the workspace state.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session context -s default --budget 2000 --task \"fix the failing test slugify_spaces\"
  ai-session context -s build --format json | jq .packed.text")]
pub struct ContextArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
    /// Most o200k tokens of the printed context.
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_CONTEXT_BUDGET)]
    pub budget: usize,
    /// What you are working on (default: the current task context's description).
    #[arg(long, value_name = "TEXT")]
    pub task: Option<String>,
}

/// Manage a session's task contexts (what belongs to one task; a task inherits its parent's
/// relevant entries).
///
/// Commands run after `ctx-task new` or `ctx-task switch` belong to that task; `context` then
/// packs the task's own entries plus its ancestors' relevant ones. (`task` is the coordination
/// queue's command group; this one is about context.)
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  ai-session ctx-task -s default new fix-slug --description \"fix slugify_spaces\"
  ai-session ctx-task -s default new fix-slug-tests --parent fix-slug --description \"add tests\"
  ai-session ctx-task -s default switch            back to the root
  ai-session ctx-task -s default show")]
pub struct CtxTaskArgs {
    /// Session id or name.
    #[arg(short, long)]
    pub session: String,
    #[command(subcommand)]
    pub action: CtxTaskAction,
}

/// What to do with task contexts.
#[derive(Debug, clap::Subcommand)]
pub enum CtxTaskAction {
    /// Create a task context and make it current.
    New {
        /// Task id.
        id: String,
        /// What the task is about (the default relevance query).
        #[arg(long, default_value = "")]
        description: String,
        /// Task whose relevant entries this one inherits.
        #[arg(long)]
        parent: Option<String>,
    },
    /// Make a task current (no id: back to the root).
    Switch {
        /// Task id.
        id: Option<String>,
    },
    /// Show the current task and all tasks.
    Show,
}

/// Runs `context`.
pub fn context(args: ContextArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let params = ContextParams {
        session: args.session,
        budget: Some(args.budget),
        task: args.task,
    };
    let result = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.context(&params).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
        return Ok(ExitCode::from(exit::OK));
    }
    let packed = &result.packed;
    println!("{}", packed["text"].as_str().unwrap_or_default());
    eprintln!(
        "tokens={} budget={} entries={} omitted={}",
        packed["tokens"],
        packed["budget"],
        packed["entries"].as_array().map_or(0, Vec::len),
        packed["omitted"]
    );
    Ok(ExitCode::from(exit::OK))
}

/// Runs `ctx-task`.
pub fn ctx_task(args: CtxTaskArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let (action, id, description, parent) = match args.action {
        CtxTaskAction::New {
            id,
            description,
            parent,
        } => (ContextTaskAction::New, Some(id), Some(description), parent),
        CtxTaskAction::Switch { id } => (ContextTaskAction::Switch, id, None, None),
        CtxTaskAction::Show => (ContextTaskAction::Show, None, None, None),
    };
    let params = ContextTaskParams {
        session: args.session,
        action,
        id,
        description,
        parent,
    };
    let result = common::client_runtime()?.block_on(async {
        let client = common::connect(global).await?;
        anyhow::Ok(client.context_task(&params).await?)
    })?;
    if global.json() {
        common::print_json(&result)?;
        return Ok(ExitCode::from(exit::OK));
    }
    println!("current: {}", result.current.as_deref().unwrap_or("(root)"));
    for task in &result.tasks {
        let id = task["id"].as_str().unwrap_or_default();
        let marker = if result.current.as_deref() == Some(id) {
            "*"
        } else {
            " "
        };
        let parent = task["parent"]
            .as_str()
            .map(|p| format!(" (parent {p})"))
            .unwrap_or_default();
        let description = task["description"].as_str().unwrap_or_default();
        println!("{marker} {id}{parent}: {description}");
    }
    Ok(ExitCode::from(exit::OK))
}
