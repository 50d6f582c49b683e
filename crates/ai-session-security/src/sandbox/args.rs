//! The `__sandbox-exec` argument format, shared by [`super::sandbox_argv`] (which writes it)
//! and [`parse_sandbox_exec_args`] (which reads it).

use std::ffi::OsString;
use std::path::PathBuf;

use super::{SandboxError, SandboxRequest, Step};
use crate::policy::SecurityPolicy;

/// The hidden subcommand name the daemon re-executes the binary with.
pub const SANDBOX_EXEC_SUBCOMMAND: &str = "__sandbox-exec";

/// Parses the arguments that follow `__sandbox-exec`:
/// `[--policy NAME | --policy-file FILE | --policy-json JSON] [--workspace DIR] -- PROGRAM [ARGS...]`.
/// The policy defaults to `workspace`, the workspace to the current directory.
pub fn parse_sandbox_exec_args<I, S>(args: I) -> Result<SandboxRequest, SandboxError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let fail = |detail: String| SandboxError::new(Step::Arguments, detail);
    let mut args = args.into_iter().map(Into::into);
    let mut policy: Option<SecurityPolicy> = None;
    let mut workspace: Option<PathBuf> = None;
    let mut argv = Vec::new();
    while let Some(arg) = args.next() {
        let flag = arg.to_string_lossy().into_owned();
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| fail(format!("`{name}` needs a value")))
        };
        match flag.as_str() {
            "--" => {
                argv.extend(args.by_ref());
                break;
            }
            "--policy" => {
                let name = value("--policy")?;
                let parsed = SecurityPolicy::named(&name.to_string_lossy())
                    .map_err(|e| fail(e.to_string()))?;
                policy = Some(parsed);
            }
            "--policy-file" => {
                let path = PathBuf::from(value("--policy-file")?);
                let parsed =
                    SecurityPolicy::from_toml_file(&path).map_err(|e| fail(e.to_string()))?;
                policy = Some(parsed);
            }
            "--policy-json" => {
                let json = value("--policy-json")?;
                let parsed = serde_json::from_str(&json.to_string_lossy())
                    .map_err(|e| fail(format!("`--policy-json` is not a policy: {e}")))?;
                policy = Some(parsed);
            }
            "--workspace" => workspace = Some(PathBuf::from(value("--workspace")?)),
            other if other.starts_with('-') => {
                return Err(fail(format!(
                    "unknown option `{other}` (expected --policy, --policy-file, --policy-json, --workspace, --)"
                )));
            }
            _ => {
                argv.push(arg);
                argv.extend(args.by_ref());
                break;
            }
        }
    }
    let workspace = match workspace {
        Some(dir) => dir,
        None => std::env::current_dir().map_err(|e| fail(format!("no current directory: {e}")))?,
    };
    Ok(SandboxRequest {
        policy: policy.unwrap_or_else(|| SecurityPolicy::preset(crate::policy::Preset::Workspace)),
        workspace,
        argv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_policy_and_program() {
        let r =
            parse_sandbox_exec_args(["--policy", "strict", "--workspace", "/w", "--", "ls", "-l"])
                .unwrap();
        assert_eq!(r.policy.name, "strict");
        assert_eq!(r.workspace, PathBuf::from("/w"));
        assert_eq!(r.argv, ["ls", "-l"].map(OsString::from));
    }

    #[test]
    fn program_options_after_the_separator_are_not_ours() {
        let r = parse_sandbox_exec_args(["--", "--policy", "x"]).unwrap();
        assert_eq!(r.argv, ["--policy", "x"].map(OsString::from));
    }

    #[test]
    fn bad_arguments_name_the_problem() {
        for (args, needle) in [
            (vec!["--policy"], "needs a value"),
            (vec!["--policy", "lax"], "lax"),
            (vec!["--frobnicate"], "--frobnicate"),
            (vec!["--policy-json", "{"], "--policy-json"),
        ] {
            let error = parse_sandbox_exec_args(args).unwrap_err();
            assert_eq!(error.step, Step::Arguments);
            assert!(error.detail.contains(needle), "{error}");
        }
    }
}
