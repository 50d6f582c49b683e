//! What the agent's workspace looks like, derived from command records alone.

use serde::{Deserialize, Serialize};

use crate::entry::EntryId;

const RECENT_FILES: usize = 20;

/// The last command that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingCommand {
    /// Command line.
    pub command: String,
    /// Its exit status.
    pub exit_code: i32,
    /// The context entry holding it.
    pub entry: EntryId,
}

/// Working directory, git state, touched files and the last failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceState {
    /// Working directory of the latest command.
    pub cwd: Option<String>,
    /// Current git branch, from `git status`, `git branch`, `git checkout -b`, `git switch`.
    pub git_branch: Option<String>,
    /// Modified, staged, deleted and untracked files from the latest `git status`.
    pub dirty_files: Vec<String>,
    /// Files named by recent commands and error locations, most recent first.
    pub recent_files: Vec<String>,
    /// The latest command with a non-zero exit status, cleared when the same command succeeds.
    pub last_failing_command: Option<FailingCommand>,
}

impl WorkspaceState {
    /// Updates the state with one finished command (`output` is normalised text).
    pub fn observe(
        &mut self,
        entry: EntryId,
        command: &str,
        exit_code: Option<i32>,
        cwd: Option<&str>,
        output: &str,
        error_locations: &[String],
    ) {
        if let Some(cwd) = cwd {
            self.cwd = Some(cwd.to_string());
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        match exit_code {
            Some(code) if code != 0 => {
                self.last_failing_command = Some(FailingCommand {
                    command: command.to_string(),
                    exit_code: code,
                    entry,
                });
            }
            Some(_)
                if self
                    .last_failing_command
                    .as_ref()
                    .is_some_and(|f| f.command == command) =>
            {
                self.last_failing_command = None;
            }
            _ => {}
        }
        let succeeded = exit_code.is_none_or(|code| code == 0);
        if words.first() == Some(&"git") {
            self.observe_git(&words[1..], succeeded, output);
        }
        for file in touched_files(&words) {
            self.touch(file);
        }
        for location in error_locations {
            let path = location.split(':').next().unwrap_or(location);
            self.touch(path);
        }
    }

    fn touch(&mut self, file: &str) {
        self.recent_files.retain(|f| f != file);
        self.recent_files.insert(0, file.to_string());
        self.recent_files.truncate(RECENT_FILES);
    }

    fn observe_git(&mut self, args: &[&str], succeeded: bool, output: &str) {
        match args {
            ["status", rest @ ..] if succeeded => self.observe_git_status(rest, output),
            ["branch", ..] if succeeded => {
                if let Some(branch) = output.lines().find_map(|l| l.strip_prefix("* ")) {
                    self.git_branch = branch.split_whitespace().next().map(str::to_string);
                }
            }
            ["checkout" | "switch", rest @ ..] if succeeded => {
                if let Some(branch) = switched_branch(output) {
                    self.git_branch = Some(branch);
                } else if let ["-b" | "-c" | "-B" | "-C", branch, ..] = rest {
                    self.git_branch = Some((*branch).to_string());
                }
            }
            // A commit with -a takes every tracked change; otherwise only a new status can tell.
            ["commit", rest @ ..] if succeeded && commits_all(rest) => self.dirty_files.clear(),
            _ => {}
        }
    }

    fn observe_git_status(&mut self, args: &[&str], output: &str) {
        let short = args.iter().any(|a| {
            *a == "--short"
                || a.starts_with("--porcelain")
                || (a.starts_with('-') && !a.starts_with("--") && a.contains('s'))
        });
        let mut dirty = Vec::new();
        for line in output.lines() {
            if let Some(branch) = line.strip_prefix("On branch ") {
                self.git_branch = Some(branch.trim().to_string());
            } else if short {
                if let Some(branch) = line.strip_prefix("## ") {
                    self.git_branch = branch.split("...").next().map(|b| b.trim().to_string());
                } else if line.len() > 3 && line.is_char_boundary(3) {
                    dirty.push(line[3..].trim().to_string());
                }
            } else if let Some(file) = long_status_file(line) {
                dirty.push(file);
            }
        }
        dirty.dedup();
        self.dirty_files = dirty;
    }
}

fn commits_all(args: &[&str]) -> bool {
    args.iter()
        .any(|a| *a == "--all" || (a.starts_with('-') && !a.starts_with("--") && a.contains('a')))
}

/// `Switched to branch 'x'` / `Switched to a new branch 'x'` as `x`.
fn switched_branch(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("Switched to ")?;
        let rest = rest
            .strip_prefix("a new ")
            .unwrap_or(rest)
            .strip_prefix("branch '")?;
        rest.split_once('\'').map(|(branch, _)| branch.to_string())
    })
}

/// A file from a long-format `git status` line: `\tmodified:   src/x.rs` or an untracked `\tnotes.txt`.
fn long_status_file(line: &str) -> Option<String> {
    let entry = line
        .strip_prefix('\t')
        .or_else(|| line.strip_prefix("        "))?
        .trim();
    if entry.is_empty() || entry.starts_with('(') {
        return None;
    }
    const STATES: &[&str] = &[
        "modified",
        "new file",
        "deleted",
        "renamed",
        "typechange",
        "both modified",
        "both added",
        "added by us",
        "added by them",
        "deleted by us",
        "deleted by them",
    ];
    let file = match entry.split_once(':') {
        Some((state, file)) if STATES.contains(&state) => file.trim(),
        _ => entry,
    };
    let file = file.rsplit(" -> ").next().unwrap_or(file);
    Some(file.to_string())
}

/// Files a command line names as the things it edits or creates.
fn touched_files<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let operands = |skip: usize| -> Vec<&'a str> {
        words
            .iter()
            .skip(skip)
            .copied()
            .filter(|w| !w.starts_with('-') && !w.contains(['|', '>', '<', '&', ';', '$']))
            .collect()
    };
    match words {
        [editor, ..]
            if matches!(
                *editor,
                "vim"
                    | "vi"
                    | "nvim"
                    | "nano"
                    | "emacs"
                    | "code"
                    | "touch"
                    | "rm"
                    | "mkdir"
                    | "cp"
                    | "mv"
            ) =>
        {
            operands(1)
        }
        ["sed", ..] if words.iter().any(|w| w.starts_with("-i")) => {
            operands(1).into_iter().skip(1).collect()
        }
        [
            "git",
            "add" | "rm" | "mv" | "restore" | "checkout",
            "--",
            ..,
        ] => operands(3),
        ["git", "add" | "rm" | "mv" | "restore", ..] => {
            operands(2).into_iter().filter(|w| *w != ".").collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(state: &mut WorkspaceState, command: &str, exit: i32, output: &str) {
        state.observe(1, command, Some(exit), Some("/w"), output, &[]);
    }

    #[test]
    fn git_status_long_format() {
        let mut state = WorkspaceState::default();
        observe(
            &mut state,
            "git status",
            0,
            "On branch main\nChanges not staged for commit:\n  (use \"git add <file>...\")\n\tmodified:   inventory.py\n\nUntracked files:\n\tnotes.txt\n",
        );
        assert_eq!(state.git_branch.as_deref(), Some("main"));
        assert_eq!(state.dirty_files, ["inventory.py", "notes.txt"]);
        assert_eq!(state.cwd.as_deref(), Some("/w"));
    }

    #[test]
    fn git_status_short_format() {
        let mut state = WorkspaceState::default();
        observe(
            &mut state,
            "git status -sb",
            0,
            "## dev...origin/dev\n M a.rs\n?? b.rs\n",
        );
        assert_eq!(state.git_branch.as_deref(), Some("dev"));
        assert_eq!(state.dirty_files, ["a.rs", "b.rs"]);
    }

    #[test]
    fn touched_files_and_failures() {
        let mut state = WorkspaceState::default();
        observe(&mut state, "vim src/lib.rs", 0, "");
        observe(&mut state, "git add src/main.rs README.md", 0, "");
        observe(&mut state, "cargo test", 101, "");
        assert_eq!(
            state.recent_files,
            ["README.md", "src/main.rs", "src/lib.rs"]
        );
        assert_eq!(
            state.last_failing_command.as_ref().map(|f| f.exit_code),
            Some(101)
        );
        observe(&mut state, "cargo test", 0, "");
        assert_eq!(state.last_failing_command, None);
    }

    #[test]
    fn branch_switches() {
        let mut state = WorkspaceState::default();
        observe(&mut state, "git checkout -b feature/x", 0, "");
        assert_eq!(state.git_branch.as_deref(), Some("feature/x"));
        observe(
            &mut state,
            "git branch -a -v",
            0,
            "  feature/x 1 msg\n* main      2 msg\n",
        );
        assert_eq!(state.git_branch.as_deref(), Some("main"));
    }
}
