//! Task contexts (what belongs to one task, inheriting from a parent) and agent state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One task the agent works on. Entries recorded while it is current belong to it; packing for it
/// also considers its ancestors' entries that are relevant to its text (context inheritance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContext {
    /// Unique name, e.g. `fix-slugify`.
    pub id: String,
    /// What the task is about; the default query for relevance scoring.
    pub description: String,
    /// The task this one was split from; `None` inherits from the root (entries recorded before any task).
    pub parent: Option<String>,
    /// Free-form notes the agent keeps for this task (decisions, findings).
    pub notes: Vec<String>,
}

/// What the agent can do and how it likes to work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    /// The agent's id, when known.
    pub agent_id: Option<String>,
    /// Capabilities it advertises (e.g. `rust`, `git`).
    pub capabilities: Vec<String>,
    /// Preferences (e.g. `style` -> `small commits`).
    pub preferences: BTreeMap<String, String>,
}

/// The chain `task, parent, grandparent, ...` (stops at a missing parent or a cycle).
pub fn ancestry<'a>(tasks: &'a BTreeMap<String, TaskContext>, task: &'a str) -> Vec<&'a str> {
    let mut chain = vec![task];
    let mut current = task;
    while let Some(parent) = tasks.get(current).and_then(|t| t.parent.as_deref()) {
        if chain.contains(&parent) {
            break;
        }
        chain.push(parent);
        current = parent;
    }
    chain
}

/// How an entry of task `owner` relates to the context built for task `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Recorded under the current task: always a candidate.
    Own,
    /// Recorded under an ancestor (or the root): a candidate when relevant.
    Inherited,
    /// Recorded under an unrelated task: not a candidate.
    Foreign,
}

/// Classifies an entry recorded under `owner` for a context built for `current`.
pub fn membership(
    tasks: &BTreeMap<String, TaskContext>,
    current: Option<&str>,
    owner: Option<&str>,
) -> Membership {
    match (current, owner) {
        (None, _) => Membership::Own,
        (Some(current), Some(owner)) if current == owner => Membership::Own,
        (Some(_), None) => Membership::Inherited,
        (Some(current), Some(owner)) => {
            if ancestry(tasks, current).contains(&owner) {
                Membership::Inherited
            } else {
                Membership::Foreign
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks() -> BTreeMap<String, TaskContext> {
        let mut tasks = BTreeMap::new();
        for (id, parent) in [
            ("root-task", None),
            ("child", Some("root-task")),
            ("other", None),
        ] {
            tasks.insert(
                id.to_string(),
                TaskContext {
                    id: id.to_string(),
                    description: String::new(),
                    parent: parent.map(str::to_string),
                    notes: Vec::new(),
                },
            );
        }
        tasks
    }

    #[test]
    fn inheritance_follows_parents_only() {
        let tasks = tasks();
        assert_eq!(ancestry(&tasks, "child"), ["child", "root-task"]);
        assert_eq!(
            membership(&tasks, Some("child"), Some("child")),
            Membership::Own
        );
        assert_eq!(
            membership(&tasks, Some("child"), Some("root-task")),
            Membership::Inherited
        );
        assert_eq!(
            membership(&tasks, Some("child"), None),
            Membership::Inherited
        );
        assert_eq!(
            membership(&tasks, Some("child"), Some("other")),
            Membership::Foreign
        );
        assert_eq!(membership(&tasks, None, Some("other")), Membership::Own);
    }
}
