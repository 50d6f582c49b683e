//! The behaviour every backend must show. Each check is generic over a [`Backend`]; the
//! `conformance_suite!` macro instantiates all of them as tests for one backend.

use std::future::Future;
use std::time::Duration;

use ai_session_coord::{
    AgentInfo, AgentRegistry, CoordError, LeastLoaded, MessageBus, Priority, QueueConfig,
    RegistryConfig, TaskDistributor, TaskQueue, TaskSpec, TaskState, WorkerSpec,
};
use bytes::Bytes;
use serde_json::json;
use tokio::time::{Instant, sleep, timeout};

/// Creates handles on one backend. Every call returns a new handle (a new connection for
/// networked backends) onto the same shared state for the same `namespace`.
pub trait Backend: Sync {
    type Bus: MessageBus + Clone;
    type Queue: TaskQueue + Clone;
    type Registry: AgentRegistry + Clone;

    fn bus(&self) -> impl Future<Output = Self::Bus> + Send;
    fn queue(
        &self,
        namespace: &str,
        config: QueueConfig,
    ) -> impl Future<Output = Self::Queue> + Send;
    fn registry(
        &self,
        namespace: &str,
        config: RegistryConfig,
    ) -> impl Future<Output = Self::Registry> + Send;
}

const LONG_LEASE: QueueConfig = QueueConfig {
    lease_duration: Duration::from_secs(60),
};
const SHORT_LEASE: QueueConfig = QueueConfig {
    lease_duration: Duration::from_secs(1),
};
const NO_WAIT: Duration = Duration::from_millis(300);

fn worker(id: &str, caps: &[&str]) -> WorkerSpec {
    WorkerSpec::new(id, caps).unwrap()
}

fn task(n: u64, caps: &[&str]) -> TaskSpec {
    TaskSpec::new(json!({ "n": n })).requiring(caps).unwrap()
}

async fn recv(sub: &mut ai_session_coord::Subscription) -> ai_session_coord::Message {
    timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("a message within 10 s")
        .expect("subscription open")
}

pub async fn ordering_per_publisher<B: Backend>(backend: &B) {
    const PER_PUBLISHER: u32 = 2000;
    let subscriber = backend.bus().await;
    let mut sub = subscriber.subscribe("orders.*").await.unwrap();
    let mut publishers = Vec::new();
    for p in 0..3u32 {
        let bus = backend.bus().await;
        publishers.push(tokio::spawn(async move {
            for i in 0..PER_PUBLISHER {
                let payload = Bytes::from(format!("{p}:{i}"));
                bus.publish(&format!("orders.p{p}"), payload).await.unwrap();
            }
            bus.flush().await.unwrap();
        }));
    }
    let mut next = [0u32; 3];
    for _ in 0..3 * PER_PUBLISHER {
        let msg = recv(&mut sub).await;
        let text = std::str::from_utf8(&msg.payload).unwrap();
        let (p, i) = text.split_once(':').unwrap();
        let (p, i): (usize, u32) = (p.parse().unwrap(), i.parse().unwrap());
        assert_eq!(msg.topic, format!("orders.p{p}"));
        assert_eq!(i, next[p], "publisher {p} out of order");
        next[p] += 1;
    }
    for p in publishers {
        p.await.unwrap();
    }
    assert_eq!(next, [PER_PUBLISHER; 3]);
}

pub async fn broadcast_reaches_every_subscriber<B: Backend>(backend: &B) {
    let bus = backend.bus().await;
    let patterns = ["news.sport", "news.*", "news.>", "*.sport"];
    let mut subs = Vec::new();
    for pattern in patterns {
        subs.push(backend.bus().await.subscribe(pattern).await.unwrap());
    }
    let mut unrelated = bus.subscribe("weather.>").await.unwrap();
    for i in 0..10u8 {
        bus.publish("news.sport", Bytes::from(vec![i]))
            .await
            .unwrap();
    }
    bus.publish("weather.today", Bytes::from_static(b"sentinel"))
        .await
        .unwrap();
    bus.flush().await.unwrap();
    for (sub, pattern) in subs.iter_mut().zip(patterns) {
        for i in 0..10u8 {
            let msg = recv(sub).await;
            assert_eq!(
                (msg.topic.as_str(), &msg.payload[..]),
                ("news.sport", &[i][..]),
                "{pattern}"
            );
        }
    }
    // The first thing the unrelated subscriber sees is the sentinel, not news.
    assert_eq!(&recv(&mut unrelated).await.payload[..], b"sentinel");
}

pub async fn request_reply<B: Backend>(backend: &B) {
    let responder_bus = backend.bus().await;
    let mut requests = responder_bus.subscribe("svc.upper").await.unwrap();
    let mut silent = responder_bus.subscribe("svc.silent").await.unwrap();
    responder_bus.flush().await.unwrap();
    let responder = tokio::spawn(async move {
        while let Some(msg) = requests.recv().await {
            let reply = msg.reply.expect("requests carry a reply topic");
            let upper = String::from_utf8_lossy(&msg.payload).to_uppercase();
            responder_bus
                .publish(&reply, Bytes::from(upper))
                .await
                .unwrap();
        }
    });
    let client = backend.bus().await;
    for word in ["alpha", "beta", "gamma"] {
        let reply = client
            .request("svc.upper", Bytes::from(word), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(reply.payload, Bytes::from(word.to_uppercase()));
    }
    let err = client
        .request("svc.nobody", Bytes::new(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, CoordError::NoResponders { .. }), "{err}");
    let err = client
        .request("svc.silent", Bytes::new(), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, CoordError::Timeout { .. }), "{err}");
    assert!(
        silent.recv().await.is_some(),
        "the silent responder got the request"
    );
    responder.abort();
}

pub async fn capability_matching<B: Backend>(backend: &B) {
    let queue = backend.queue("caps", LONG_LEASE).await;
    let rust = queue.submit(task(1, &["rust"])).await.unwrap();
    let both = queue.submit(task(2, &["rust", "python"])).await.unwrap();
    let any = queue.submit(task(3, &[])).await.unwrap();

    let python_only = worker("py", &["python"]);
    let first = queue.lease(&python_only, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(
        first.id, any,
        "a python-only worker may only take the task with no needs"
    );
    assert!(queue.lease(&python_only, NO_WAIT).await.unwrap().is_none());

    let rust_only = worker("rs", &["rust"]);
    let second = queue.lease(&rust_only, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(second.id, rust);
    assert!(queue.lease(&rust_only, NO_WAIT).await.unwrap().is_none());

    let polyglot = worker("poly", &["python", "rust", "go"]);
    let third = queue.lease(&polyglot, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(third.id, both);
    for lease in [first, second, third] {
        queue.ack(&lease, json!("ok")).await.unwrap();
    }
}

pub async fn priority_then_fifo<B: Backend>(backend: &B) {
    let queue = backend.queue("prio", LONG_LEASE).await;
    let low = queue
        .submit(task(1, &[]).with_priority(Priority::LOW))
        .await
        .unwrap();
    let normal_a = queue.submit(task(2, &["rust"])).await.unwrap();
    let urgent = queue
        .submit(task(3, &["rust"]).with_priority(Priority::URGENT))
        .await
        .unwrap();
    let normal_b = queue.submit(task(4, &["rust"])).await.unwrap();
    let w = worker("w", &["rust"]);
    let mut order = Vec::new();
    while let Some(lease) = queue.lease(&w, NO_WAIT).await.unwrap() {
        queue.ack(&lease, json!(null)).await.unwrap();
        order.push(lease.id);
    }
    assert_eq!(order, [urgent, normal_a, normal_b, low]);
    assert!(Priority::new(Priority::MAX + 1).is_err());
}

pub async fn lease_expiry_redelivers<B: Backend>(backend: &B) {
    let queue_a = backend.queue("expiry", SHORT_LEASE).await;
    let queue_b = backend.queue("expiry", SHORT_LEASE).await;
    let id = queue_a.submit(task(1, &["rust"])).await.unwrap();
    let a = queue_a
        .lease(&worker("a", &["rust"]), NO_WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.id.clone(), a.attempt), (id.clone(), 1));

    let started = Instant::now();
    let b = queue_b
        .lease(&worker("b", &["rust"]), Duration::from_secs(20))
        .await
        .unwrap()
        .expect("redelivered after the lease expired");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "not before the lease ran out"
    );
    assert_eq!((b.id.clone(), b.attempt), (id.clone(), 2));

    let err = queue_a.ack(&a, json!("late")).await.unwrap_err();
    assert!(matches!(err, CoordError::LeaseLost { .. }), "{err}");
    queue_b.ack(&b, json!("from b")).await.unwrap();
    let info = queue_a.status(&id).await.unwrap();
    assert_eq!(
        info.state,
        TaskState::Completed {
            worker: "b".into(),
            attempt: 2,
            result: json!("from b")
        }
    );
}

pub async fn keep_alive_holds_the_lease<B: Backend>(backend: &B) {
    let queue = backend.queue("keepalive", SHORT_LEASE).await;
    let id = queue.submit(task(1, &[])).await.unwrap();
    let lease = queue
        .lease(&worker("a", &[]), NO_WAIT)
        .await
        .unwrap()
        .unwrap();
    let other = backend.queue("keepalive", SHORT_LEASE).await;
    let thief = tokio::spawn(async move {
        other
            .lease(&worker("b", &[]), Duration::from_millis(2500))
            .await
            .unwrap()
    });
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        queue.keep_alive(&lease).await.unwrap();
        sleep(Duration::from_millis(250)).await;
    }
    assert!(
        thief.await.unwrap().is_none(),
        "a kept-alive lease is not redelivered"
    );
    queue.ack(&lease, json!(1)).await.unwrap();
    assert_eq!(queue.status(&id).await.unwrap().attempts, 1);
}

pub async fn ack_is_exactly_once<B: Backend>(backend: &B) {
    let queue = backend.queue("once", LONG_LEASE).await;
    let id = queue.submit(task(7, &[])).await.unwrap();
    let lease = queue
        .lease(&worker("a", &[]), NO_WAIT)
        .await
        .unwrap()
        .unwrap();
    queue.ack(&lease, json!("first")).await.unwrap();
    for err in [
        queue.ack(&lease, json!("second")).await.unwrap_err(),
        queue.keep_alive(&lease).await.unwrap_err(),
        queue
            .nak(&lease, Duration::ZERO, "again")
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, CoordError::LeaseLost { .. }), "{err}");
    }
    assert!(
        queue
            .lease(&worker("b", &[]), NO_WAIT)
            .await
            .unwrap()
            .is_none()
    );
    let info = queue.wait(&id, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        info.state,
        TaskState::Completed {
            worker: "a".into(),
            attempt: 1,
            result: json!("first")
        }
    );
}

pub async fn batches_keep_matching_order_and_fencing<B: Backend>(backend: &B) {
    let queue = backend.queue("batch", LONG_LEASE).await;
    let specs = (0..6)
        .map(|n| task(n, if n % 2 == 0 { &["rust"] } else { &["python"] }))
        .collect();
    let ids = queue.submit_many(specs).await.unwrap();
    assert_eq!(ids.len(), 6);
    let rust = worker("rs", &["rust"]);
    let leases = queue.lease_many(&rust, 10, NO_WAIT).await.unwrap();
    let leased: Vec<_> = leases.iter().map(|l| l.id.clone()).collect();
    assert_eq!(leased, [ids[0].clone(), ids[2].clone(), ids[4].clone()]);
    assert!(leases.iter().all(|l| l.attempt == 1 && l.worker == "rs"));
    futures::future::try_join_all(leases.iter().map(|l| queue.ack(l, json!(l.id.0))))
        .await
        .unwrap();
    for lease in &leases {
        let err = queue.ack(lease, json!("again")).await.unwrap_err();
        assert!(matches!(err, CoordError::LeaseLost { .. }), "{err}");
    }
    let python = worker("py", &["python"]);
    let first_two = queue.lease_many(&python, 2, NO_WAIT).await.unwrap();
    let leased: Vec<_> = first_two.iter().map(|l| l.id.clone()).collect();
    assert_eq!(
        leased,
        [ids[1].clone(), ids[3].clone()],
        "at most `max`, FIFO"
    );
    let rest = queue.lease_many(&python, 2, NO_WAIT).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ids[5]);
    assert!(
        queue
            .lease_many(&python, 2, NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
    for lease in first_two.iter().chain(&rest) {
        queue.ack(lease, json!(null)).await.unwrap();
    }
    for (n, id) in ids.iter().enumerate() {
        let info = queue.status(id).await.unwrap();
        let expected = if n % 2 == 0 { json!(id.0) } else { json!(null) };
        assert!(
            matches!(&info.state, TaskState::Completed { attempt: 1, result, .. } if *result == expected),
            "{n}: {:?}",
            info.state
        );
    }
}

pub async fn batch_leases_expire_one_by_one<B: Backend>(backend: &B) {
    let queue_a = backend.queue("batchexpiry", SHORT_LEASE).await;
    let queue_b = backend.queue("batchexpiry", SHORT_LEASE).await;
    let ids = queue_a
        .submit_many(vec![task(1, &[]), task(2, &[])])
        .await
        .unwrap();
    let held = queue_a
        .lease_many(&worker("a", &[]), 2, NO_WAIT)
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    // Only the first is kept alive: the second expires and goes to b as attempt 2.
    let until = Instant::now() + Duration::from_millis(2500);
    let mut taken = Vec::new();
    while Instant::now() < until && taken.is_empty() {
        queue_a.keep_alive(&held[0]).await.unwrap();
        taken = queue_b
            .lease_many(&worker("b", &[]), 2, Duration::from_millis(250))
            .await
            .unwrap();
    }
    assert_eq!(taken.len(), 1, "only the expired lease is redelivered");
    assert_eq!((taken[0].id.clone(), taken[0].attempt), (ids[1].clone(), 2));
    let err = queue_a.ack(&held[1], json!("late")).await.unwrap_err();
    assert!(matches!(err, CoordError::LeaseLost { .. }), "{err}");
    queue_a.ack(&held[0], json!("a")).await.unwrap();
    queue_b.ack(&taken[0], json!("b")).await.unwrap();
    let second = queue_a.status(&ids[1]).await.unwrap();
    assert_eq!(
        second.state,
        TaskState::Completed {
            worker: "b".into(),
            attempt: 2,
            result: json!("b")
        }
    );
}

pub async fn nak_delays_redelivery<B: Backend>(backend: &B) {
    let queue = backend.queue("nak", LONG_LEASE).await;
    let id = queue.submit(task(1, &[])).await.unwrap();
    let w = worker("a", &[]);
    let lease = queue.lease(&w, NO_WAIT).await.unwrap().unwrap();
    let nakked = Instant::now();
    queue
        .nak(&lease, Duration::from_secs(1), "try later")
        .await
        .unwrap();
    let again = queue
        .lease(&w, Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    assert!(
        nakked.elapsed() >= Duration::from_millis(900),
        "{:?}",
        nakked.elapsed()
    );
    assert_eq!((again.id.clone(), again.attempt), (id, 2));
    queue.ack(&again, json!(null)).await.unwrap();
}

pub async fn dead_letter_after_max_attempts<B: Backend>(backend: &B) {
    let queue = backend.queue("dead", LONG_LEASE).await;
    let id = queue
        .submit(task(1, &[]).with_max_attempts(2))
        .await
        .unwrap();
    let keep = queue
        .submit(task(2, &[]).with_max_attempts(2))
        .await
        .unwrap();
    let w = worker("a", &[]);
    for attempt in 1..=2 {
        let lease = queue.lease(&w, NO_WAIT).await.unwrap().unwrap();
        assert_eq!((lease.id.clone(), lease.attempt), (id.clone(), attempt));
        queue.nak(&lease, Duration::ZERO, "boom").await.unwrap();
    }
    let next = queue.lease(&w, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(next.id, keep, "the dead task is not delivered a third time");
    queue.ack(&next, json!(null)).await.unwrap();
    assert!(queue.lease(&w, NO_WAIT).await.unwrap().is_none());
    let info = queue.wait(&id, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        info.state,
        TaskState::DeadLettered {
            reason: "boom".into()
        }
    );
    assert_eq!(info.attempts, 2);
}

pub async fn list_and_status<B: Backend>(backend: &B) {
    let queue = backend.queue("list", LONG_LEASE).await;
    let a = queue.submit(task(1, &[])).await.unwrap();
    let b = queue.submit(task(2, &["rust"])).await.unwrap();
    let tasks = queue.list().await.unwrap();
    let ids: Vec<_> = tasks.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, [a.clone(), b]);
    assert!(tasks.iter().all(|t| t.state == TaskState::Pending));
    let err = queue.status(&"nope".into()).await.unwrap_err();
    assert!(matches!(err, CoordError::UnknownTask(_)), "{err}");
    let err = queue
        .wait(&a, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, CoordError::WaitTimeout { .. }), "{err}");
}

pub async fn registry_expires_dead_agents<B: Backend>(backend: &B) {
    let config = RegistryConfig {
        ttl: Duration::from_secs(1),
    };
    let registry = backend.registry("agents", config.clone()).await;
    registry
        .register(AgentInfo::new("alive", ["rust"]).unwrap())
        .await
        .unwrap();
    registry
        .register(AgentInfo::new("dead", ["rust", "python"]).unwrap())
        .await
        .unwrap();
    let ids = |agents: Vec<AgentInfo>| agents.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(registry.list().await.unwrap()), ["alive", "dead"]);

    let observer = backend.registry("agents", config).await;
    let give_up = Instant::now() + Duration::from_secs(15);
    loop {
        registry.heartbeat("alive", 2).await.unwrap();
        let live = observer.list().await.unwrap();
        if ids(live.clone()) == ["alive"] {
            assert_eq!(live[0].load, 2);
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the silent agent never expired: {live:?}"
        );
        sleep(Duration::from_millis(200)).await;
    }
    let err = registry.heartbeat("dead", 0).await.unwrap_err();
    assert!(matches!(err, CoordError::UnknownAgent(_)), "{err}");

    // Only live agents with the capability are candidates.
    let python_task = task(1, &["python"]);
    let distributor = TaskDistributor::new(LeastLoaded);
    assert!(
        distributor
            .assign_live(&python_task, &observer)
            .await
            .unwrap()
            .is_none()
    );
    let rust_task = task(1, &["rust"]);
    let picked = distributor
        .assign_live(&rust_task, &observer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(picked.id, "alive");
    registry.deregister("alive").await.unwrap();
    assert!(observer.list().await.unwrap().is_empty());
}

#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            ordering_per_publisher,
            broadcast_reaches_every_subscriber,
            request_reply,
            capability_matching,
            priority_then_fifo,
            lease_expiry_redelivers,
            keep_alive_holds_the_lease,
            ack_is_exactly_once,
            batches_keep_matching_order_and_fencing,
            batch_leases_expire_one_by_one,
            nak_delays_redelivery,
            dead_letter_after_max_attempts,
            list_and_status,
            registry_expires_dead_agents,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(backend) = $make.await {
                    conformance::$name(&backend).await;
                }
            }
        )*
    };
}
