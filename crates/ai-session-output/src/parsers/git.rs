//! git: status, log, diff/show, commit, push, pull/fetch, merge, branch.
//! The operation comes from the command line; unknown subcommands still get
//! their `fatal:`/`error:`/`CONFLICT` lines recognised.

use super::cargo::status_word;
use super::util::count_before;
use super::{Input, Parse, Priority};
use crate::{
    DiffFile, GitBranch, GitCommit, GitReport, MAX_ITEMS, ParsedOutput, StagedChange, Status,
};

/// The git subcommand and its arguments (global options like `-C dir` skipped).
fn subcommand(command: &str) -> (String, Vec<String>) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let Some(git_at) = words
        .iter()
        .position(|w| w.rsplit('/').next() == Some("git"))
    else {
        return (String::new(), Vec::new());
    };
    let mut rest = words[git_at + 1..].iter();
    while let Some(word) = rest.next() {
        if matches!(*word, "-C" | "-c" | "--git-dir" | "--work-tree") {
            rest.next();
        } else if word.starts_with('-') {
            continue;
        } else {
            let args = rest
                .take_while(|w| !matches!(**w, "|" | "&&" | ";" | "||"))
                .map(|w| w.trim_matches(['"', '\'']).to_owned())
                .collect();
            return ((*word).to_owned(), args);
        }
    }
    (String::new(), Vec::new())
}

fn positional(args: &[String]) -> Vec<&str> {
    args.iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect()
}

pub(crate) fn parse(input: &Input<'_>) -> Parse {
    let (operation, args) = subcommand(input.command);
    let mut report = GitReport {
        operation: operation.clone(),
        ..GitReport::default()
    };
    let mut keep: Vec<(usize, Priority)> = Vec::new();
    let lines = &input.lines;
    match operation.as_str() {
        "status" => status(lines, &mut report, &mut keep),
        "log" | "reflog" => log(lines, &mut report, &mut keep),
        "diff" | "show" => diff(lines, &mut report, &mut keep),
        "commit" => commit(lines, &mut report, &mut keep),
        "branch" => branch(lines, &mut report, &mut keep),
        "merge" | "pull" | "rebase" | "cherry-pick" => {
            if operation == "merge" {
                report.merged_branch = positional(&args).first().map(|s| (*s).to_owned());
            } else if operation == "pull" {
                report.remote = positional(&args).first().map(|s| (*s).to_owned());
            }
            diffstat(lines, &mut report, &mut keep);
        }
        "push" | "fetch" | "clone" => {
            report.remote = positional(&args).first().map(|s| (*s).to_owned());
        }
        _ => {}
    }
    problems(lines, &mut report, &mut keep);
    report.status = if !report.conflicts.is_empty() || !report.conflicted.is_empty() {
        Status::Conflict
    } else if report.error.is_some() || input.exited_non_zero() {
        Status::Failed
    } else {
        match input.exit_code {
            Some(_) => Status::Success,
            None => Status::Unknown,
        }
    };
    let headline = headline(&report, input);
    Parse::with_kept(ParsedOutput::GitOutput(report), headline, keep)
}

fn headline(report: &GitReport, input: &Input<'_>) -> String {
    let mut facts = Vec::new();
    if let Some(branch) = &report.branch {
        facts.push(format!("on {branch}"));
    }
    for (label, list) in [
        ("staged", &report.staged),
        ("modified", &report.modified),
        ("deleted", &report.deleted),
        ("untracked", &report.untracked),
        ("conflicted", &report.conflicted),
        ("conflicts", &report.conflicts),
    ] {
        if !list.is_empty() {
            facts.push(format!("{} {label}", list.len()));
        }
    }
    if let Some(count) = report.count {
        facts.push(format!("{count} listed"));
    }
    if let (Some(files), Some(ins), Some(del)) =
        (report.files_changed, report.insertions, report.deletions)
    {
        facts.push(format!("{files} files, +{ins} -{del}"));
    }
    format!(
        "git {}: {}{}{}",
        report.operation,
        status_word(report.status),
        if facts.is_empty() {
            String::new()
        } else {
            format!(" · {}", facts.join(", "))
        },
        input.exit_suffix()
    )
}

/// `fatal:`/`error:` lines, CONFLICT lines and push rejections, for every subcommand.
fn problems(lines: &[&str], report: &mut GitReport, keep: &mut Vec<(usize, Priority)>) {
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(message) = trimmed
            .strip_prefix("fatal: ")
            .or_else(|| trimmed.strip_prefix("error: "))
        {
            if report.error.is_none() {
                report.error = Some(message.to_owned());
            }
            keep.push((index, Priority::Must));
        } else if let Some(rest) = trimmed.strip_prefix("CONFLICT (") {
            if let Some((_, path)) = rest.rsplit_once(" in ")
                && report.conflicts.len() < MAX_ITEMS
            {
                report.conflicts.push(path.trim().to_owned());
            }
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("! [rejected]") || trimmed.starts_with("! [remote rejected]")
        {
            if report.error.is_none() {
                report.error = Some(trimmed.to_owned());
            }
            keep.push((index, Priority::Must));
        } else if trimmed.starts_with("Automatic merge failed")
            || trimmed.starts_with("hint: ")
            || trimmed.starts_with("Already up to date")
            || trimmed == "Fast-forward"
            || trimmed.starts_with("Successfully rebased")
            || trimmed.contains(" -> ")
        {
            keep.push((
                index,
                if trimmed.starts_with("hint") {
                    Priority::Normal
                } else {
                    Priority::Must
                },
            ));
        }
    }
}

fn status(lines: &[&str], report: &mut GitReport, keep: &mut Vec<(usize, Priority)>) {
    #[derive(PartialEq)]
    enum Section {
        None,
        Staged,
        Unstaged,
        Untracked,
        Unmerged,
    }
    let mut section = Section::None;
    for (index, line) in lines.iter().enumerate() {
        if let Some(branch) = line.strip_prefix("On branch ") {
            report.branch = Some(branch.trim().to_owned());
            keep.push((index, Priority::Must));
            continue;
        }
        if let Some(rest) = line.strip_prefix("## ") {
            // `git status -sb`: `## main...origin/main [ahead 1]`
            report.branch = rest.split("...").next().map(|b| b.trim().to_owned());
            keep.push((index, Priority::Must));
            continue;
        }
        if line.starts_with("Your branch")
            || line.starts_with("HEAD detached")
            || line.starts_with("nothing to commit")
        {
            keep.push((index, Priority::Must));
            continue;
        }
        section = match line.trim_end() {
            "Changes to be committed:" => Section::Staged,
            "Changes not staged for commit:" => Section::Unstaged,
            "Untracked files:" => Section::Untracked,
            "Unmerged paths:" => Section::Unmerged,
            _ => section,
        };
        if let Some(entry) = line.strip_prefix('\t') {
            keep.push((index, Priority::Must));
            let (change, path) = match entry.split_once(":   ").or_else(|| entry.split_once(": ")) {
                Some((change, path)) if section != Section::Untracked => {
                    (change.trim(), path.trim())
                }
                _ => ("", entry.trim()),
            };
            let path = path.to_owned();
            match section {
                Section::Staged => {
                    report.staged.push(path.clone());
                    report.staged_detail.push(StagedChange {
                        path,
                        change: change.to_owned(),
                    });
                }
                Section::Unstaged if change == "deleted" => report.deleted.push(path),
                Section::Unstaged => report.modified.push(path),
                Section::Untracked => report.untracked.push(path),
                Section::Unmerged => report.conflicted.push(path),
                Section::None => {}
            }
        } else if let Some((code, path)) = short_status(line) {
            keep.push((index, Priority::Must));
            let path = path.to_owned();
            let (x, y) = (code.as_bytes()[0], code.as_bytes()[1]);
            match (x, y) {
                (b'?', b'?') => report.untracked.push(path),
                (b'U', _) | (_, b'U') | (b'A', b'A') | (b'D', b'D') => report.conflicted.push(path),
                _ => {
                    if x != b' ' {
                        report.staged.push(path.clone());
                        report.staged_detail.push(StagedChange {
                            path: path.clone(),
                            change: short_change(x).to_owned(),
                        });
                    }
                    match y {
                        b'M' => report.modified.push(path),
                        b'D' => report.deleted.push(path),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// `git status -s` line: `XY path`.
fn short_status(line: &str) -> Option<(&str, &str)> {
    let code = line.get(..2)?;
    let path = line.get(3..)?;
    let valid = code.bytes().all(|b| b" MADRCU?!".contains(&b))
        && code != "  "
        && line.as_bytes().get(2) == Some(&b' ');
    (valid && !path.trim().is_empty()).then_some((code, path.trim()))
}

fn short_change(code: u8) -> &'static str {
    match code {
        b'A' => "new file",
        b'D' => "deleted",
        b'R' => "renamed",
        b'C' => "copied",
        _ => "modified",
    }
}

fn log(lines: &[&str], report: &mut GitReport, keep: &mut Vec<(usize, Priority)>) {
    let mut commits: Vec<GitCommit> = Vec::new();
    let mut count = 0usize;
    let mut body: Vec<&str> = Vec::new();
    let mut in_full = false;
    let flush_body = |commits: &mut Vec<GitCommit>, body: &mut Vec<&str>| {
        if let Some(last) = commits.last_mut() {
            while body.last().is_some_and(|l| l.trim().is_empty()) {
                body.pop();
            }
            if !body.is_empty() {
                last.body = Some(body.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n"));
            }
        }
        body.clear();
    };
    for (index, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("commit ") {
            flush_body(&mut commits, &mut body);
            in_full = true;
            count += 1;
            let (hash, refs) = split_refs(rest);
            if commits.is_empty() {
                report.head_refs = refs;
            }
            keep.push((index, Priority::Must));
            if commits.len() < MAX_ITEMS {
                commits.push(GitCommit {
                    hash: hash.to_owned(),
                    ..GitCommit::default()
                });
            }
        } else if in_full {
            let Some(current) = commits.last_mut() else {
                continue;
            };
            if let Some(author) = line.strip_prefix("Author: ") {
                current.author = Some(author.trim().to_owned());
                keep.push((index, Priority::High));
            } else if let Some(date) = line.strip_prefix("Date: ") {
                current.date = Some(date.trim().to_owned());
                keep.push((index, Priority::Normal));
            } else if let Some(text) = line.strip_prefix("    ") {
                if current.subject.is_empty() {
                    current.subject = text.trim().to_owned();
                    keep.push((index, Priority::Must));
                } else if !(body.is_empty() && text.trim().is_empty()) {
                    body.push(text);
                }
            }
        } else if let Some((hash, rest)) = line.split_once(' ')
            && hash.len() >= 7
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            // --oneline
            count += 1;
            let (refs, subject) = match rest.strip_prefix('(').and_then(|r| r.split_once(") ")) {
                Some((refs, subject)) => (refs.split(", ").map(str::to_owned).collect(), subject),
                None => (Vec::new(), rest),
            };
            if commits.is_empty() {
                report.head_refs = refs;
            }
            keep.push((index, Priority::Must));
            if commits.len() < MAX_ITEMS {
                commits.push(GitCommit {
                    hash: hash.to_owned(),
                    subject: subject.trim().to_owned(),
                    ..GitCommit::default()
                });
            }
        }
    }
    flush_body(&mut commits, &mut body);
    report.count = Some(count);
    report.commits = commits;
}

/// `HASH (HEAD -> main, tag: v1)` -> (hash, refs).
fn split_refs(rest: &str) -> (&str, Vec<String>) {
    match rest.split_once(" (") {
        Some((hash, refs)) => (
            hash.trim(),
            refs.trim_end_matches(')')
                .split(", ")
                .map(str::to_owned)
                .collect(),
        ),
        None => (rest.trim(), Vec::new()),
    }
}

fn diff(lines: &[&str], report: &mut GitReport, keep: &mut Vec<(usize, Priority)>) {
    let mut files: Vec<DiffFile> = Vec::new();
    let mut count = 0usize;
    let (mut insertions, mut deletions) = (0usize, 0usize);
    for (index, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            count += 1;
            let path = rest.rsplit_once(" b/").map_or(rest, |(_, b)| b).to_owned();
            keep.push((index, Priority::Must));
            if files.len() < MAX_ITEMS {
                files.push(DiffFile {
                    path,
                    ..DiffFile::default()
                });
            }
        } else if let Some(after) = line.strip_prefix("@@") {
            keep.push((index, Priority::High));
            if let Some(file) = files.last_mut()
                && file.hunks.len() < MAX_ITEMS
            {
                let header = match after.find("@@") {
                    Some(end) => &line[..end + 4],
                    None => line,
                };
                file.hunks.push(header.to_owned());
            }
        } else if line.starts_with("+++") || line.starts_with("---") || line.starts_with("index ") {
            continue;
        } else if line.starts_with('+') {
            insertions += 1;
            keep.push((index, Priority::High));
            if let Some(file) = files.last_mut() {
                file.insertions += 1;
            }
        } else if line.starts_with('-') {
            deletions += 1;
            keep.push((index, Priority::High));
            if let Some(file) = files.last_mut() {
                file.deletions += 1;
            }
        } else if line.starts_with("commit ") || line.starts_with("Author: ") {
            keep.push((index, Priority::Must));
        }
    }
    if count == 0 {
        diffstat(lines, report, keep);
        return;
    }
    report.files_changed = Some(count);
    report.insertions = Some(insertions);
    report.deletions = Some(deletions);
    report.files = files;
}

/// ` 3 files changed, 4 insertions(+), 1 deletion(-)` and `create mode` lines.
fn diffstat(lines: &[&str], report: &mut GitReport, keep: &mut Vec<(usize, Priority)>) {
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.contains(" changed")
            && (trimmed.contains("file changed") || trimmed.contains("files changed"))
        {
            report.files_changed = count_before(trimmed, "file");
            report.insertions = Some(count_before(trimmed, "insertion").unwrap_or(0));
            report.deletions = Some(count_before(trimmed, "deletion").unwrap_or(0));
            keep.push((index, Priority::Must));
        } else if let Some(rest) = trimmed.strip_prefix("create mode ") {
            if let Some((_, path)) = rest.split_once(' ')
                && report.created.len() < MAX_ITEMS
            {
                report.created.push(path.to_owned());
            }
            keep.push((index, Priority::High));
        } else if trimmed.contains(" | ")
            && (trimmed.ends_with('+') || trimmed.ends_with('-') || trimmed.contains("Bin "))
        {
            keep.push((index, Priority::Normal));
        }
    }
}

fn commit(lines: &[&str], report: &mut GitReport, keep: &mut Vec<(usize, Priority)>) {
    for (index, line) in lines.iter().enumerate() {
        // `[main 5a6cbee] message` or `[main (root-commit) 5a6cbee] message`
        if let Some(rest) = line.strip_prefix('[')
            && let Some((head, message)) = rest.split_once("] ")
        {
            let words: Vec<&str> = head.split_whitespace().collect();
            if let (Some(branch), Some(hash)) = (words.first(), words.last())
                && words.len() >= 2
            {
                report.branch = Some((*branch).to_owned());
                report.hash = Some((*hash).to_owned());
                report.message = Some(message.to_owned());
                keep.push((index, Priority::Must));
            }
        } else if line.starts_with("nothing to commit") || line.starts_with("no changes added") {
            keep.push((index, Priority::Must));
        }
    }
    diffstat(lines, report, keep);
}

fn branch(lines: &[&str], report: &mut GitReport, keep: &mut Vec<(usize, Priority)>) {
    let mut count = 0usize;
    for (index, line) in lines.iter().enumerate() {
        if line.len() < 3
            || !(line.starts_with("* ") || line.starts_with("  ") || line.starts_with("+ "))
        {
            continue;
        }
        let current = line.starts_with('*');
        let rest = line[2..].trim();
        if rest.contains(" -> ") && !rest.starts_with('(') {
            // `remotes/origin/HEAD -> origin/main` is an alias, not a branch.
            keep.push((index, Priority::Normal));
            continue;
        }
        let mut words = rest.splitn(2, char::is_whitespace);
        let name = words.next().unwrap_or_default();
        let detail = words.next().unwrap_or_default().trim();
        let (hash, subject) = match detail.split_once(' ') {
            Some((hash, subject))
                if hash.bytes().all(|b| b.is_ascii_hexdigit()) && hash.len() >= 7 =>
            {
                (Some(hash.to_owned()), Some(subject.trim().to_owned()))
            }
            _ if detail.len() >= 7 && detail.bytes().all(|b| b.is_ascii_hexdigit()) => {
                (Some(detail.to_owned()), None)
            }
            _ => (None, None),
        };
        count += 1;
        if current {
            report.current = Some(name.to_owned());
        }
        keep.push((
            index,
            if current {
                Priority::Must
            } else {
                Priority::High
            },
        ));
        if report.branches.len() < MAX_ITEMS {
            report.branches.push(GitBranch {
                name: name.to_owned(),
                hash,
                subject,
                current,
            });
        }
    }
    report.count = Some(count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::split_lines;

    fn run(command: &str, text: &str, exit: i32) -> GitReport {
        let input = Input {
            command,
            lines: &split_lines(text),
            exit_code: Some(exit),
        };
        match parse(&input).output {
            ParsedOutput::GitOutput(report) => report,
            other => panic!("git expected, got {other:?}"),
        }
    }

    #[test]
    fn subcommands() {
        let cases = [
            ("git status", "status"),
            ("git -C repo --no-pager log --oneline", "log"),
            ("git -c color.ui=always diff HEAD~1", "diff"),
            ("cd x && git push -u origin main", "push"),
        ];
        for (command, expected) in cases {
            assert_eq!(subcommand(command).0, expected, "{command}");
        }
    }

    #[test]
    fn short_status_and_conflicts() {
        let report = run(
            "git status -s",
            " M app.py\nA  new.py\n?? notes.txt\nUU both.py\n",
            0,
        );
        assert_eq!(report.modified, ["app.py"]);
        assert_eq!(report.staged, ["new.py"]);
        assert_eq!(report.untracked, ["notes.txt"]);
        assert_eq!(report.conflicted, ["both.py"]);
        assert_eq!(report.status, Status::Conflict);
    }

    #[test]
    fn pull_fast_forward() {
        let report = run(
            "git pull origin main",
            "Updating a1b2c3d..e4f5a6b\nFast-forward\n src/x.rs | 3 ++-\n 1 file changed, 2 insertions(+), 1 deletion(-)\n",
            0,
        );
        assert_eq!(report.remote.as_deref(), Some("origin"));
        assert_eq!(
            (report.files_changed, report.insertions, report.deletions),
            (Some(1), Some(2), Some(1))
        );
        assert_eq!(report.status, Status::Success);
    }

    #[test]
    fn push_rejected() {
        let report = run(
            "git push",
            "To github.com:a/b.git\n ! [rejected]        main -> main (fetch first)\nerror: failed to push some refs to 'github.com:a/b.git'\n",
            1,
        );
        assert_eq!(report.status, Status::Failed);
        assert!(
            report
                .error
                .as_deref()
                .is_some_and(|e| e.contains("rejected"))
        );
    }
}
