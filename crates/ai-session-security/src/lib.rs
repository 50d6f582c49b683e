#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// Only the sandbox's syscall modules may use `unsafe` (each allows it where it is declared,
// and every block says why it is sound).
#![deny(unsafe_code)]

pub mod audit;
pub mod command_line;
pub mod environment;
pub mod grants;
pub mod permissions;
pub mod policy;
pub mod profiles;
pub mod redact;
pub mod sandbox;

pub use audit::{AuditEvent, AuditLog, AuditRecord, AuditResult};
pub use permissions::{AgentCapabilities, Permission, PermissionDenied};
pub use policy::{PolicyError, Preset, SecurityPolicy};
pub use profiles::{AgentProfiles, ProfileError};
pub use sandbox::{
    SANDBOX_EXEC_SUBCOMMAND, SandboxError, SandboxRequest, SessionNeeds, Step, launcher_policy,
    run_sandboxed, sandbox_argv, sandbox_exec_main, session_launcher,
};
