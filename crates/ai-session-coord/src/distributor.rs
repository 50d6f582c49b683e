//! Choosing an agent for a task: capability match first, then a pluggable strategy.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Result;
use crate::registry::{AgentInfo, AgentRegistry};
use crate::task::TaskSpec;

/// Picks one agent among those able to run a task (never called with an empty slice).
pub trait AssignmentStrategy: Send + Sync {
    /// Index into `eligible` (sorted by agent id) of the chosen agent.
    fn choose(&self, task: &TaskSpec, eligible: &[&AgentInfo]) -> usize;
}

/// The agent with the fewest running tasks; ties go to the lowest id.
#[derive(Debug, Default)]
pub struct LeastLoaded;

impl AssignmentStrategy for LeastLoaded {
    fn choose(&self, _task: &TaskSpec, eligible: &[&AgentInfo]) -> usize {
        (0..eligible.len())
            .min_by_key(|&i| eligible[i].load)
            .unwrap_or(0)
    }
}

/// Each eligible agent in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl AssignmentStrategy for RoundRobin {
    fn choose(&self, _task: &TaskSpec, eligible: &[&AgentInfo]) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % eligible.len()
    }
}

/// The highest-ranked agent; ties go to the least loaded. Urgent tasks thus land on the
/// preferred (e.g. fastest) agents.
#[derive(Debug, Default)]
pub struct ByRank;

impl AssignmentStrategy for ByRank {
    fn choose(&self, _task: &TaskSpec, eligible: &[&AgentInfo]) -> usize {
        (0..eligible.len())
            .min_by_key(|&i| (std::cmp::Reverse(eligible[i].rank), eligible[i].load))
            .unwrap_or(0)
    }
}

/// Matches tasks to live agents by capability, then by the strategy.
pub struct TaskDistributor<S = LeastLoaded> {
    strategy: S,
}

impl<S: AssignmentStrategy> TaskDistributor<S> {
    /// A distributor using `strategy`.
    pub fn new(strategy: S) -> Self {
        Self { strategy }
    }

    /// The agent for `task` among `agents`, or `None` if no agent has every required capability.
    pub fn assign<'a>(&self, task: &TaskSpec, agents: &'a [AgentInfo]) -> Option<&'a AgentInfo> {
        let mut eligible: Vec<&AgentInfo> = agents
            .iter()
            .filter(|a| task.can_run_on(&a.capabilities))
            .collect();
        if eligible.is_empty() {
            return None;
        }
        eligible.sort_by(|a, b| a.id.cmp(&b.id));
        Some(eligible[self.strategy.choose(task, &eligible)])
    }

    /// Like [`assign`](Self::assign) over the registry's live agents.
    pub async fn assign_live(
        &self,
        task: &TaskSpec,
        registry: &impl AgentRegistry,
    ) -> Result<Option<AgentInfo>> {
        let agents = registry.list().await?;
        Ok(self.assign(task, &agents).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(id: &str, caps: &[&str], load: u32, rank: u8) -> AgentInfo {
        let mut a = AgentInfo::new(id, caps).unwrap();
        a.load = load;
        a.rank = rank;
        a
    }

    fn task(caps: &[&str]) -> TaskSpec {
        TaskSpec::new(json!(null)).requiring(caps).unwrap()
    }

    #[test]
    fn capability_is_required_before_any_strategy() {
        let agents = [agent("a", &["python"], 0, 9), agent("b", &["rust"], 5, 0)];
        let d = TaskDistributor::new(ByRank);
        assert_eq!(d.assign(&task(&["rust"]), &agents).unwrap().id, "b");
        assert!(d.assign(&task(&["rust", "python"]), &agents).is_none());
    }

    #[test]
    fn least_loaded_picks_the_idlest() {
        let agents = [agent("a", &["rust"], 3, 0), agent("b", &["rust"], 1, 0)];
        let d = TaskDistributor::new(LeastLoaded);
        assert_eq!(d.assign(&task(&["rust"]), &agents).unwrap().id, "b");
    }

    #[test]
    fn round_robin_cycles() {
        let agents = [agent("b", &[], 0, 0), agent("a", &[], 0, 0)];
        let d = TaskDistributor::new(RoundRobin::default());
        let picks: Vec<_> = (0..4)
            .map(|_| d.assign(&task(&[]), &agents).unwrap().id.clone())
            .collect();
        assert_eq!(picks, ["a", "b", "a", "b"]);
    }

    #[test]
    fn rank_then_load() {
        let agents = [
            agent("a", &[], 0, 1),
            agent("b", &[], 4, 2),
            agent("c", &[], 2, 2),
        ];
        let d = TaskDistributor::new(ByRank);
        assert_eq!(d.assign(&task(&[]), &agents).unwrap().id, "c");
    }
}
