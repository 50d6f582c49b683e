//! The worker loop over the in-process backend: tasks run on the worker with the right
//! capabilities, results are acked and published, runner failures are retried.

use std::time::Duration;

use ai_session_coord::local::{LocalBus, LocalQueue, LocalRegistry};
use ai_session_coord::{
    Lease, MessageBus, QueueConfig, TaskQueue, TaskResultMessage, TaskRunner, TaskSpec, TaskState,
    WorkerOptions, WorkerSpec, run_worker,
};
use serde_json::json;

/// Doubles `n`; fails on the first attempt of tasks marked `flaky`.
struct Doubler;

impl TaskRunner for Doubler {
    async fn run(&self, lease: &Lease) -> Result<serde_json::Value, String> {
        if lease.spec.payload["flaky"] == json!(true) && lease.attempt == 1 {
            return Err("first attempt fails".to_owned());
        }
        let n = lease.spec.payload["n"].as_i64().ok_or("no n")?;
        Ok(json!({ "doubled": n * 2 }))
    }
}

#[tokio::test]
async fn worker_runs_acks_and_publishes() {
    let queue = LocalQueue::new(QueueConfig {
        lease_duration: Duration::from_secs(5),
    });
    let bus = LocalBus::new();
    let registry = LocalRegistry::default();
    let mut results = bus.subscribe("tasks.*.result").await.unwrap();

    let plain = queue
        .submit(
            TaskSpec::new(json!({ "n": 21 }))
                .requiring(["rust"])
                .unwrap(),
        )
        .await
        .unwrap();
    let flaky = queue
        .submit(TaskSpec::new(json!({ "n": 5, "flaky": true })))
        .await
        .unwrap();
    let python = queue
        .submit(
            TaskSpec::new(json!({ "n": 1 }))
                .requiring(["python"])
                .unwrap(),
        )
        .await
        .unwrap();

    let mut options = WorkerOptions::new(WorkerSpec::new("rusty", ["rust"]).unwrap());
    options.poll = Duration::from_millis(100);
    options.retry_delay = Duration::ZERO;
    options.max_tasks = Some(3);
    let stats = tokio::time::timeout(
        Duration::from_secs(20),
        run_worker(
            &queue,
            &bus,
            &registry,
            &Doubler,
            &options,
            std::future::pending(),
        ),
    )
    .await
    .expect("worker settles three leases")
    .unwrap();
    assert_eq!((stats.completed, stats.retried, stats.lost), (2, 1, 0));

    let done = queue.status(&plain).await.unwrap();
    assert_eq!(
        done.state,
        TaskState::Completed {
            worker: "rusty".into(),
            attempt: 1,
            result: json!({ "doubled": 42 })
        }
    );
    let retried = queue.status(&flaky).await.unwrap();
    assert_eq!(retried.attempts, 2);
    assert!(matches!(retried.state, TaskState::Completed { .. }));
    assert_eq!(
        queue.status(&python).await.unwrap().state,
        TaskState::Pending
    );

    let mut published = Vec::new();
    for _ in 0..2 {
        let msg = results.recv().await.unwrap();
        let result: TaskResultMessage = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(msg.topic, ai_session_coord::result_topic(&result.id));
        published.push(result.id);
    }
    published.sort();
    let mut expected = vec![plain, flaky];
    expected.sort();
    assert_eq!(published, expected);
}
