//! [`SecurityPolicy`]: what a sandboxed session may see and do, with the named presets
//! `trusted`, `workspace` and `strict`, and loading from TOML.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a policy could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The preset name is not one of `trusted`, `workspace`, `strict`.
    #[error("unknown policy preset `{0}`: expected one of `trusted`, `workspace`, `strict`")]
    UnknownPreset(String),
    /// The policy file could not be read.
    #[error("could not read policy file {path}: {cause}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// The TOML text is malformed or names a key the policy does not have.
    #[error("invalid policy {origin}: {message}")]
    Toml {
        /// The file name, or `text` when parsed from a string.
        origin: String,
        /// The parser's message; it names the offending key and line.
        message: String,
    },
    /// The policy parsed but is not coherent.
    #[error("invalid policy {origin}: {message}")]
    Invalid {
        /// The file name, or `text` when parsed from a string.
        origin: String,
        /// Which rule is broken and how to fix it.
        message: String,
    },
}

/// The three built-in policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// No sandbox: the command runs with the caller's rights.
    Trusted,
    /// System read-only, workspace read-write, private loopback-only network.
    Workspace,
    /// A filtered system view, the workspace only, no network at all, tight limits.
    Strict,
}

impl Preset {
    /// All presets, in order of increasing restriction.
    pub const ALL: [Preset; 3] = [Preset::Trusted, Preset::Workspace, Preset::Strict];

    /// The preset's name as written in TOML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Trusted => "trusted",
            Preset::Workspace => "workspace",
            Preset::Strict => "strict",
        }
    }
}

impl FromStr for Preset {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| PolicyError::UnknownPreset(s.to_owned()))
    }
}

/// A complete description of a sandbox. Build one with [`SecurityPolicy::preset`] or
/// [`SecurityPolicy::from_toml_str`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityPolicy {
    /// Human name (the preset's, or the file's `name` key).
    pub name: String,
    /// When false the command runs unsandboxed (the `trusted` preset). Every other field
    /// is then ignored.
    pub sandbox: bool,
    /// What of the filesystem is visible and writable.
    pub fs_permissions: FsPermissions,
    /// Network namespace and TCP port rules.
    pub network_policy: NetworkPolicy,
    /// Seccomp filter settings.
    pub syscall_access: SyscallAccess,
    /// rlimits and cgroup limits.
    pub resource_limits: ResourceLimits,
    /// What the audit log records for sessions under this policy.
    pub audit_config: AuditConfig,
    /// Which environment variables reach the sandboxed program.
    pub environment: EnvironmentPolicy,
    /// Which programs may be executed (absent: any program the view holds).
    #[serde(default)]
    pub exec: ExecPolicy,
}

/// Which programs the sandboxed processes may `execve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecPolicy {
    /// When set, a Landlock execute allowlist: only the launched program, the programs
    /// named here (a name is looked up in the sandbox `PATH`; an absolute path is taken as
    /// is, a directory for every file beneath it) and the interpreters they need (ELF
    /// loader, `#!` line) can be executed; nothing written inside the sandbox is executable (writable mounts
    /// are `noexec`), ungranted programs in `bin` directories are not even readable, and a
    /// `memfd_create` must carry `MFD_NOEXEC_SEAL`. Absent: no execute restriction.
    pub allow: Option<Vec<String>>,
}

/// Landlock path rules that replace the blanket rules on the workspace and the
/// read-write extra paths (an agent's `file-read`/`file-write` grants).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsGrants {
    /// Readable trees (made visible read-only when outside the view).
    #[serde(default)]
    pub read: Vec<PathBuf>,
    /// Writable trees (made visible read-write when outside the view).
    #[serde(default)]
    pub write: Vec<PathBuf>,
}

/// How `/etc` appears inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EtcView {
    /// The host's `/etc`, read-only, with credential files (`shadow`, `gshadow`, sudoers,
    /// ssh host keys) masked by empty files.
    Masked,
    /// Only the files programs need to run (passwd, group, hosts, ld.so cache, ssl
    /// certificates, alternatives, ...), read-only.
    Filtered,
}

/// Filesystem view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsPermissions {
    /// System directories bound read-only (those missing on the host are skipped; a
    /// symlink such as `/bin -> usr/bin` is recreated as a symlink).
    pub system_read_only: Vec<PathBuf>,
    /// How `/etc` is presented.
    pub etc: EtcView,
    /// Whether the workspace is writable (it is always visible, at its host path).
    pub workspace_writable: bool,
    /// Extra host paths bound read-only (must exist; `~/` is the caller's home).
    pub read_only: Vec<PathBuf>,
    /// Extra host paths bound read-write (must exist; `~/` is the caller's home).
    pub read_write: Vec<PathBuf>,
    /// Size of the private `/tmp` tmpfs in MiB.
    pub tmp_size_mib: u64,
    /// When set, Landlock grants on the workspace and the read-write extra paths are only
    /// these (see [`FsGrants`]); the read-only system view stays as it is.
    #[serde(default)]
    pub grants: Option<FsGrants>,
    /// What becomes of the workspace changes of a sandbox with a disk quota when it ends.
    #[serde(default)]
    pub workspace_changes: WorkspaceChanges,
    /// Where `workspace_changes = "keep"` saves them (replaced when it exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_dir: Option<PathBuf>,
}

/// The fate of a quota sandbox's change set (its overlay's upper layer) at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkspaceChanges {
    /// Written into the real workspace when the program exits (what a plain bind would
    /// have left there; the default).
    #[default]
    Apply,
    /// Thrown away: the workspace is as before, whatever the program did.
    Discard,
    /// Saved to `fs_permissions.changes_dir` (an overlay upper layer, readable with
    /// `ChangeSet::open`) for review, the workspace untouched.
    Keep,
}

/// Network mode of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A private network namespace with its own loopback interface up; nothing outside
    /// it (not even the host's 127.0.0.1) is reachable.
    Loopback,
    /// A private network namespace with no interface up.
    None,
}

/// Network rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicy {
    /// The namespace setup.
    pub mode: NetworkMode,
    /// When set, Landlock restricts `bind(2)` on TCP to these ports (empty = no TCP bind).
    /// When absent, TCP bind is not restricted by Landlock.
    pub tcp_bind_ports: Option<Vec<u16>>,
    /// When set, Landlock restricts TCP `connect(2)` to these ports (empty = none).
    pub tcp_connect_ports: Option<Vec<u16>>,
}

/// Seccomp settings. The default deny list (see `docs/security.md`) is always applied
/// to sandboxed programs; these add to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyscallAccess {
    /// Extra syscall names to deny with `EPERM` (e.g. `"personality"`).
    pub extra_denied: Vec<String>,
}

/// Where cgroup limits are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CgroupMode {
    /// Use a cgroup when the hierarchy is writable; otherwise rely on rlimits alone.
    IfAvailable,
    /// Abort the launch when no writable cgroup hierarchy exists.
    Required,
    /// Never create a cgroup.
    Off,
}

/// Resource limits. `None` leaves a limit as inherited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceLimits {
    /// `RLIMIT_AS` in MiB.
    pub address_space_mib: Option<u64>,
    /// `RLIMIT_NPROC` (not enforced by the kernel for uid 0; the cgroup pids limit is).
    pub max_processes: Option<u64>,
    /// `RLIMIT_NOFILE`.
    pub open_files: Option<u64>,
    /// `RLIMIT_FSIZE` in MiB.
    pub file_size_mib: Option<u64>,
    /// `RLIMIT_CPU` in seconds of CPU time per process.
    pub cpu_seconds: Option<u64>,
    /// cgroup policy.
    pub cgroup: CgroupMode,
    /// cgroup memory limit in MiB.
    pub memory_mib: Option<u64>,
    /// cgroup pids limit (bounds fork bombs for every uid, root included).
    pub pids: Option<u64>,
    /// cgroup CPU quota in percent of one core.
    pub cpu_percent: Option<u32>,
    /// What the sandbox may add to the workspace, in MiB, in one file or many. When set,
    /// the workspace is an overlay whose upper layer is a tmpfs of this size: a write past
    /// it fails with `ENOSPC`, and the changes are a reviewable set
    /// ([`crate::sandbox::changes`]) applied to the real workspace when the sandbox ends
    /// (or discarded, see `fs_permissions.workspace_changes`). `0` turns it off (TOML has
    /// no null to unset a preset's value with).
    #[serde(default)]
    pub disk_quota_mb: Option<u64>,
    /// How many files and directories the sandbox may add to the workspace (the quota
    /// tmpfs's inode count); default: 64 per MiB of `disk_quota_mb`.
    #[serde(default)]
    pub disk_quota_files: Option<u64>,
}

/// Audit settings for sessions under this policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Record events at all.
    pub enabled: bool,
    /// Record every command line typed into the session (not only API calls).
    pub log_commands: bool,
    /// Events at or above this risk score (0-100) are flagged as high risk.
    pub high_risk_threshold: u8,
}

/// Environment passed to the sandboxed program: the host environment is dropped except
/// for the names listed in `pass`, then `set` is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentPolicy {
    /// Variable names copied from the caller's environment when present.
    pub pass: Vec<String>,
    /// Variables set explicitly (`NAME = "value"`).
    pub set: std::collections::BTreeMap<String, String>,
}

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

/// What a `strict` sandbox may add to its workspace, in MiB (as much as its `/tmp` holds).
pub const STRICT_DISK_QUOTA_MB: u64 = 256;

const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

impl SecurityPolicy {
    /// The named preset.
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Trusted => Self::trusted(),
            Preset::Workspace => Self::workspace(),
            Preset::Strict => Self::strict(),
        }
    }

    /// A preset by name (`trusted`, `workspace`, `strict`).
    pub fn named(name: &str) -> Result<Self, PolicyError> {
        Ok(Self::preset(name.parse()?))
    }

    /// A preset name, or else the path of a TOML policy file (what `--policy`, an agent
    /// profile's `policy` key and `ai-session worker --policy` accept).
    pub fn resolve(name_or_file: &str) -> Result<Self, PolicyError> {
        match name_or_file.parse::<Preset>() {
            Ok(preset) => Ok(Self::preset(preset)),
            Err(_) if name_or_file.contains('/') || name_or_file.ends_with(".toml") => {
                Self::from_toml_file(Path::new(name_or_file))
            }
            Err(unknown) => Err(unknown),
        }
    }

    fn trusted() -> Self {
        let mut policy = Self::workspace();
        policy.name = "trusted".to_owned();
        policy.sandbox = false;
        policy
    }

    fn workspace() -> Self {
        SecurityPolicy {
            name: "workspace".to_owned(),
            sandbox: true,
            fs_permissions: FsPermissions {
                system_read_only: paths(&[SYSTEM_DIRS, &["/opt"]].concat()),
                etc: EtcView::Masked,
                workspace_writable: true,
                read_only: Vec::new(),
                read_write: Vec::new(),
                tmp_size_mib: 1024,
                grants: None,
                workspace_changes: WorkspaceChanges::Apply,
                changes_dir: None,
            },
            network_policy: NetworkPolicy {
                mode: NetworkMode::Loopback,
                tcp_bind_ports: None,
                tcp_connect_ports: None,
            },
            syscall_access: SyscallAccess {
                extra_denied: Vec::new(),
            },
            resource_limits: ResourceLimits {
                address_space_mib: None,
                max_processes: Some(4096),
                open_files: Some(65536),
                file_size_mib: Some(16 * 1024),
                cpu_seconds: None,
                cgroup: CgroupMode::IfAvailable,
                memory_mib: Some(8 * 1024),
                pids: Some(4096),
                cpu_percent: None,
                disk_quota_mb: None,
                disk_quota_files: None,
            },
            audit_config: AuditConfig {
                enabled: true,
                log_commands: true,
                high_risk_threshold: 70,
            },
            environment: EnvironmentPolicy {
                pass: [
                    "PATH",
                    "HOME",
                    "USER",
                    "LOGNAME",
                    "SHELL",
                    "TERM",
                    "COLORTERM",
                    "LANG",
                    "LC_ALL",
                    "LC_CTYPE",
                    "TZ",
                    "CARGO_HOME",
                    "RUSTUP_HOME",
                ]
                .map(str::to_owned)
                .to_vec(),
                set: Default::default(),
            },
            exec: ExecPolicy::default(),
        }
    }

    fn strict() -> Self {
        let mut policy = Self::workspace();
        policy.name = "strict".to_owned();
        policy.fs_permissions.system_read_only = paths(SYSTEM_DIRS);
        policy.fs_permissions.etc = EtcView::Filtered;
        policy.fs_permissions.tmp_size_mib = 256;
        policy.network_policy = NetworkPolicy {
            mode: NetworkMode::None,
            tcp_bind_ports: Some(Vec::new()),
            tcp_connect_ports: Some(Vec::new()),
        };
        policy.resource_limits = ResourceLimits {
            address_space_mib: Some(2048),
            max_processes: Some(256),
            open_files: Some(1024),
            file_size_mib: Some(1024),
            cpu_seconds: Some(3600),
            cgroup: CgroupMode::IfAvailable,
            memory_mib: Some(1024),
            pids: Some(256),
            cpu_percent: Some(100),
            disk_quota_mb: Some(STRICT_DISK_QUOTA_MB),
            disk_quota_files: None,
        };
        policy.audit_config.high_risk_threshold = 50;
        policy.environment.pass = ["PATH", "TERM", "COLORTERM", "LANG", "LC_ALL", "TZ"]
            .map(str::to_owned)
            .to_vec();
        policy
    }

    /// Parses a policy from TOML. The document may start from a preset with
    /// `extends = "strict"` (default `workspace`) and override any key; unknown keys are
    /// errors that name the key.
    ///
    /// ```
    /// use ai_session_security::SecurityPolicy;
    /// let policy = SecurityPolicy::from_toml_str(r#"
    ///     extends = "strict"
    ///     name = "ci"
    ///     [resource_limits]
    ///     pids = 64
    /// "#).unwrap();
    /// assert_eq!(policy.resource_limits.pids, Some(64));
    /// assert!(SecurityPolicy::from_toml_str("[network_policy]\nmod = 'none'").is_err());
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        Self::from_toml_with_origin(text, "text")
    }

    /// Reads and parses a policy file (see [`SecurityPolicy::from_toml_str`]).
    pub fn from_toml_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|cause| PolicyError::Read {
            path: path.to_owned(),
            cause,
        })?;
        Self::from_toml_with_origin(&text, &path.display().to_string())
    }

    fn from_toml_with_origin(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let toml_error = |message: String| PolicyError::Toml {
            origin: origin.to_owned(),
            message,
        };
        let mut overrides: toml::Table =
            toml::from_str(text).map_err(|e| toml_error(e.to_string()))?;
        let base = match overrides.remove("extends") {
            None => Preset::Workspace,
            Some(toml::Value::String(name)) => name.parse()?,
            Some(other) => {
                return Err(toml_error(format!(
                    "key `extends` must be a preset name string, found {}",
                    other.type_str()
                )));
            }
        };
        let base_table = toml::Table::try_from(Self::preset(base))
            .map_err(|e| toml_error(format!("internal: preset does not serialise: {e}")))?;
        let merged = merge_tables(base_table, overrides, "", &toml_error)?;
        // Deserialise from text so a type error carries a span we can turn into a key.
        let doc = toml::to_string(&merged)
            .map_err(|e| toml_error(format!("internal: merged policy does not serialise: {e}")))?;
        let policy: SecurityPolicy = toml::from_str(&doc).map_err(|e| {
            let key = e.span().and_then(|span| key_at(&doc, span.start));
            let message = e.message().trim();
            toml_error(match key {
                Some(key) => format!("key `{key}`: {message}"),
                None => message.to_owned(),
            })
        })?;
        policy.validate().map_err(|message| PolicyError::Invalid {
            origin: origin.to_owned(),
            message,
        })?;
        Ok(policy)
    }

    /// Serialises the policy to TOML (with every key, so it documents itself).
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), String> {
        let relative = |p: &PathBuf| !p.is_absolute() && !p.starts_with("~");
        for (key, list) in [
            (
                "fs_permissions.system_read_only",
                &self.fs_permissions.system_read_only,
            ),
            ("fs_permissions.read_only", &self.fs_permissions.read_only),
            ("fs_permissions.read_write", &self.fs_permissions.read_write),
        ] {
            if let Some(bad) = list.iter().find(|p| relative(p)) {
                return Err(format!(
                    "`{key}` entry {} must be an absolute path or start with `~/`",
                    bad.display()
                ));
            }
        }
        if let Some(bad) = self
            .syscall_access
            .extra_denied
            .iter()
            .find(|name| crate::sandbox::syscall_number(name).is_none())
        {
            return Err(format!(
                "`syscall_access.extra_denied` names unknown syscall `{bad}` for this architecture"
            ));
        }
        if let Some(grants) = &self.fs_permissions.grants {
            for (key, list) in [
                ("fs_permissions.grants.read", &grants.read),
                ("fs_permissions.grants.write", &grants.write),
            ] {
                if let Some(bad) = list.iter().find(|p| !p.is_absolute()) {
                    return Err(format!(
                        "`{key}` entry {} must be an absolute path",
                        bad.display()
                    ));
                }
            }
        }
        if let Some(bad) = self
            .exec
            .allow
            .iter()
            .flatten()
            .find(|name| name.is_empty() || (name.contains('/') && !name.starts_with('/')))
        {
            return Err(format!(
                "`exec.allow` entry {bad:?} must be a program name or an absolute path"
            ));
        }
        match (
            &self.fs_permissions.workspace_changes,
            &self.fs_permissions.changes_dir,
        ) {
            (WorkspaceChanges::Keep, None) => {
                return Err(
                    "`fs_permissions.workspace_changes = \"keep\"` needs `fs_permissions.changes_dir`"
                        .to_owned(),
                );
            }
            (_, Some(dir)) if !dir.is_absolute() => {
                return Err(format!(
                    "`fs_permissions.changes_dir` {} must be an absolute path",
                    dir.display()
                ));
            }
            _ => {}
        }
        if self.resource_limits.disk_quota_files == Some(0) {
            return Err("`resource_limits.disk_quota_files` must be at least 1".to_owned());
        }
        if self.resource_limits.cpu_percent == Some(0) {
            return Err("`resource_limits.cpu_percent` must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Overlays `overrides` on `base` key by key, refusing keys `base` does not have so a typo
/// is an error naming the full key path instead of a silently ignored setting.
fn merge_tables(
    mut base: toml::Table,
    overrides: toml::Table,
    prefix: &str,
    toml_error: &dyn Fn(String) -> PolicyError,
) -> Result<toml::Table, PolicyError> {
    for (key, value) in overrides {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.remove(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => {
                let merged = merge_tables(inner, over, &path, toml_error)?;
                base.insert(key, toml::Value::Table(merged));
            }
            (Some(_), value) => {
                base.insert(key, value);
            }
            // Optional limits are absent from the serialised preset when `None`.
            (None, value) if is_optional_key(&path) => {
                base.insert(key, value);
            }
            (None, _) => {
                return Err(toml_error(format!(
                    "unknown key `{path}` (see docs/security.md for the policy keys)"
                )));
            }
        }
    }
    Ok(base)
}

/// The dotted key whose line contains byte `offset` of a TOML document.
fn key_at(doc: &str, offset: usize) -> Option<String> {
    let mut section = String::new();
    let mut start = 0;
    for line in doc.lines() {
        let end = start + line.len();
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.trim_matches(|c| c == '[' || c == ']').to_owned();
        }
        if (start..=end).contains(&offset) {
            let key = trimmed.split('=').next()?.trim();
            return Some(if section.is_empty() || trimmed.starts_with('[') {
                key.to_owned()
            } else {
                format!("{section}.{key}")
            });
        }
        start = end + 1;
    }
    None
}

fn is_optional_key(path: &str) -> bool {
    matches!(
        path,
        "network_policy.tcp_bind_ports"
            | "network_policy.tcp_connect_ports"
            | "resource_limits.address_space_mib"
            | "resource_limits.max_processes"
            | "resource_limits.open_files"
            | "resource_limits.file_size_mib"
            | "resource_limits.cpu_seconds"
            | "resource_limits.memory_mib"
            | "resource_limits.pids"
            | "resource_limits.cpu_percent"
            | "resource_limits.disk_quota_mb"
            | "resource_limits.disk_quota_files"
            | "exec.allow"
            | "fs_permissions.grants"
            | "fs_permissions.changes_dir"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_round_trip_through_toml() {
        for preset in Preset::ALL {
            let policy = SecurityPolicy::preset(preset);
            let text = format!(
                "extends = \"{}\"\n{}",
                preset.name(),
                policy.to_toml_string()
            );
            assert_eq!(
                SecurityPolicy::from_toml_str(&text).unwrap(),
                policy,
                "{preset:?}"
            );
        }
    }

    #[test]
    fn presets_differ_where_documented() {
        let trusted = SecurityPolicy::preset(Preset::Trusted);
        let workspace = SecurityPolicy::preset(Preset::Workspace);
        let strict = SecurityPolicy::preset(Preset::Strict);
        assert!(!trusted.sandbox && workspace.sandbox && strict.sandbox);
        assert_eq!(workspace.network_policy.mode, NetworkMode::Loopback);
        assert_eq!(strict.network_policy.mode, NetworkMode::None);
        assert_eq!(strict.network_policy.tcp_connect_ports, Some(vec![]));
        assert_eq!(strict.fs_permissions.etc, EtcView::Filtered);
        assert!(
            strict
                .resource_limits
                .disk_quota_mb
                .is_some_and(|mb| mb < 1024)
        );
        assert_eq!(workspace.resource_limits.disk_quota_mb, None);
    }

    #[test]
    fn exec_and_grant_keys_parse_and_are_checked() {
        let policy = SecurityPolicy::from_toml_str(
            "extends = 'strict'\n[exec]\nallow = ['git', '/opt/tool/bin']\n\
             [fs_permissions.grants]\nread = ['/data']\nwrite = ['/work/out']\n",
        )
        .unwrap();
        assert_eq!(
            policy.exec.allow,
            Some(vec!["git".to_owned(), "/opt/tool/bin".to_owned()])
        );
        assert_eq!(
            policy.fs_permissions.grants.unwrap().write,
            vec![PathBuf::from("/work/out")]
        );
        for (text, needle) in [
            ("[exec]\nallow = ['bin/git']", "exec.allow"),
            ("[exec]\nalow = []", "alow"),
            (
                "[fs_permissions.grants]\nread = ['data']",
                "fs_permissions.grants.read",
            ),
        ] {
            let message = error_of(text);
            assert!(message.contains(needle), "{text:?} gave {message:?}");
        }
    }

    #[test]
    fn launchers_stored_before_the_new_keys_still_parse() {
        // A session restored after an upgrade carries the policy JSON of the old launcher.
        let mut old = serde_json::to_value(SecurityPolicy::preset(Preset::Strict)).unwrap();
        old.as_object_mut().unwrap().remove("exec");
        for (section, key) in [
            ("fs_permissions", "grants"),
            ("fs_permissions", "workspace_changes"),
            ("resource_limits", "disk_quota_mb"),
            ("resource_limits", "disk_quota_files"),
        ] {
            old[section].as_object_mut().unwrap().remove(key);
        }
        let policy: SecurityPolicy = serde_json::from_value(old).unwrap();
        assert_eq!(policy.exec.allow, None);
        assert_eq!(policy.resource_limits.disk_quota_mb, None);
    }

    fn error_of(text: &str) -> String {
        SecurityPolicy::from_toml_str(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_bad_key() {
        for (text, needle) in [
            ("[network_policy]\nmod = 'none'", "network_policy.mod"),
            ("colour = 1", "`colour`"),
            ("[resource_limits]\npids = 'many'", "resource_limits.pids"),
            ("[network_policy]\nmode = 'internet'", "network_policy.mode"),
            ("extends = 'paranoid'", "paranoid"),
            ("extends = 3", "extends"),
            (
                "[fs_permissions]\nread_only = ['relative/dir']",
                "fs_permissions.read_only",
            ),
            (
                "[syscall_access]\nextra_denied = ['no_such_call']",
                "no_such_call",
            ),
            ("[resource_limits\n", "line 1"),
        ] {
            let message = error_of(text);
            assert!(
                message.contains(needle),
                "{text:?} gave {message:?}, wanted {needle:?}"
            );
        }
    }

    #[test]
    fn overrides_apply_on_top_of_the_preset() {
        let policy = SecurityPolicy::from_toml_str(
            "extends = 'strict'\n[network_policy]\ntcp_connect_ports = [443]\n[resource_limits]\naddress_space_mib = 512",
        )
        .unwrap();
        assert_eq!(policy.network_policy.tcp_connect_ports, Some(vec![443]));
        assert_eq!(policy.resource_limits.address_space_mib, Some(512));
        assert_eq!(policy.resource_limits.pids, Some(256));
        assert_eq!(policy.name, "strict");
        // TOML cannot unset a preset's value; `0` is how strict's disk quota is turned off.
        let off = SecurityPolicy::from_toml_str(
            "extends = 'strict'\n[resource_limits]\ndisk_quota_mb = 0",
        )
        .unwrap();
        assert_eq!(off.resource_limits.disk_quota_mb, Some(0));
    }
}
