//! `ai-session agent grant|revoke|show|forget`: agent permission profiles in
//! `$AI_SESSION_HOME/agents.toml` (the daemon re-reads the file when it changes).

use std::process::ExitCode;

use ai_session::Home;
use ai_session::security::permissions::SessionScope;
use ai_session::security::profiles::{AgentProfiles, agents_path};

use crate::common::print_json;

/// Shown at the end of `ai-session agent grant --help`.
const GRANT_AFTER_HELP: &str = "\
An agent with a profile may only do what it is granted; an agent without one, and a client
that names no agent, is unrestricted (the operator). A client names its agent with
`ai-session --agent NAME ...` or AI_SESSION_AGENT=NAME (declared, not authenticated: any
process of your uid can claim any name; the sandbox is what confines programs).

Grants:
  process-spawn:PROGRAM   run PROGRAM through exec/send (`*`: any program)
  file-read:/PATH  file-write:/PATH  file-execute:/PATH  network-connect:HOST[:PORT]  syscall:NAME

Examples:
  ai-session agent grant builder --allow process-spawn:git,process-spawn:ls
  ai-session agent grant supervisor --allow 'process-spawn:*' --sessions all
  ai-session --agent builder exec -- cargo build    refused: exit 5, permission denied";

/// `agent grant`
#[derive(Debug, clap::Args)]
#[command(after_long_help = GRANT_AFTER_HELP)]
pub struct GrantArgs {
    /// The agent (creates its profile: from now on it is restricted to its grants).
    pub agent: String,
    /// Comma-separated grants, e.g. process-spawn:git,file-read:/work.
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Whose sessions it may access: its own (default) or all.
    #[arg(long, value_enum)]
    pub sessions: Option<Scope>,
}

/// `agent revoke`
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The agent (it keeps its profile, so it stays restricted).
    pub agent: String,
    /// Comma-separated grants to remove.
    #[arg(long, value_delimiter = ',', required = true)]
    pub allow: Vec<String>,
}

/// `agent show` / `agent forget`
#[derive(Debug, clap::Args)]
pub struct AgentNameArgs {
    /// The agent; `show` without it lists every profile.
    pub agent: Option<String>,
}

/// `--sessions` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Scope {
    /// Only sessions the agent created.
    Own,
    /// Every session (a supervisor).
    All,
}

fn path() -> anyhow::Result<std::path::PathBuf> {
    Ok(agents_path(Home::from_env()?.root()))
}

fn print_profiles(profiles: &AgentProfiles, only: Option<&str>, json: bool) -> anyhow::Result<()> {
    let mut shown = profiles.clone();
    if let Some(agent) = only {
        shown.agents.retain(|name, _| name == agent);
    }
    if json {
        return print_json(&shown);
    }
    if shown.agents.is_empty() {
        println!("no agent profiles: every agent is unrestricted");
    }
    for (name, profile) in &shown.agents {
        let scope = match profile.sessions {
            SessionScope::Own => "own sessions",
            SessionScope::All => "all sessions",
        };
        let allow = if profile.allow.is_empty() {
            "nothing".to_owned()
        } else {
            profile.allow.join(", ")
        };
        println!("{name}: {scope}; allow {allow}");
    }
    Ok(())
}

/// Runs `agent grant`.
pub fn grant(args: GrantArgs, json: bool) -> anyhow::Result<ExitCode> {
    let path = path()?;
    let mut profiles = AgentProfiles::load(&path)?;
    let grants: Vec<&str> = args
        .allow
        .iter()
        .map(String::as_str)
        .filter(|g| !g.is_empty())
        .collect();
    let scope = args.sessions.map(|s| match s {
        Scope::Own => SessionScope::Own,
        Scope::All => SessionScope::All,
    });
    profiles.grant(&args.agent, &grants, scope)?;
    profiles.save(&path)?;
    print_profiles(&profiles, Some(&args.agent), json)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `agent revoke`.
pub fn revoke(args: RevokeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let path = path()?;
    let mut profiles = AgentProfiles::load(&path)?;
    let grants: Vec<&str> = args.allow.iter().map(String::as_str).collect();
    profiles.revoke(&args.agent, &grants)?;
    profiles.save(&path)?;
    print_profiles(&profiles, Some(&args.agent), json)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `agent show`.
pub fn show(args: AgentNameArgs, json: bool) -> anyhow::Result<ExitCode> {
    let profiles = AgentProfiles::load(&path()?)?;
    print_profiles(&profiles, args.agent.as_deref(), json)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `agent forget`.
pub fn forget(args: AgentNameArgs, json: bool) -> anyhow::Result<ExitCode> {
    let Some(agent) = args.agent else {
        anyhow::bail!("name the agent whose profile to delete: ai-session agent forget AGENT");
    };
    let path = path()?;
    let mut profiles = AgentProfiles::load(&path)?;
    let existed = profiles.remove(&agent);
    profiles.save(&path)?;
    if json {
        print_json(&serde_json::json!({ "agent": agent, "removed": existed }))?;
    } else if existed {
        println!("{agent}: profile deleted; the agent is unrestricted");
    } else {
        println!("{agent}: had no profile");
    }
    Ok(ExitCode::SUCCESS)
}
