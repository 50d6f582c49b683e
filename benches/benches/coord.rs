//! Coordination throughput and latency: the in-process bus, NATS pub/sub and the JetStream task
//! queue against a private local `nats-server`. `cargo xtask bench coord` prints these beside
//! the targets in ARCHITECTURE.md section 10.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ai_session_coord::local::LocalBus;
use ai_session_coord::nats::{NatsBus, NatsQueue, NatsServer};
use ai_session_coord::{MessageBus, QueueConfig, TaskQueue, TaskSpec, WorkerSpec};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group};
use tokio::runtime::Runtime;

const BUS_MESSAGES: u64 = 200_000;
const NATS_MESSAGES: u64 = 100_000;
const QUEUE_TASKS: u64 = 2_000;
const QUEUE_CLIENTS: usize = 8;
/// Tasks per round of the batched queue figure, submitted in `submit_many` calls of
/// `SUBMIT_BATCH` and leased `LEASE_BATCH` at a time.
const BATCH_TASKS: u64 = 20_000;
const BATCH_PRODUCERS: usize = 2;
const BATCH_WORKERS: usize = 4;
const SUBMIT_BATCH: usize = 200;
const LEASE_BATCH: usize = 64;
const PAYLOAD: &[u8] = &[b'x'; 64];

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Publishes `count` messages on one connection and times until a subscriber on `sub_bus` got
/// them all.
async fn pump<B: MessageBus>(publisher: &B, sub_bus: &B, count: u64) -> Duration {
    let mut sub = sub_bus.subscribe("bench.>").await.expect("subscribe");
    let start = Instant::now();
    let consumer = tokio::spawn(async move {
        let mut buffer = Vec::with_capacity(1024);
        let mut received = 0;
        while received < count {
            buffer.clear();
            let got =
                tokio::time::timeout(Duration::from_secs(10), sub.recv_many(&mut buffer, 1024))
                    .await
                    .unwrap_or_else(|_| panic!("stalled after {received} of {count} messages"));
            assert!(got > 0, "subscription closed");
            received += got as u64;
        }
    });
    let payload = Bytes::from_static(PAYLOAD);
    for _ in 0..count {
        publisher
            .publish("bench.data", payload.clone())
            .await
            .expect("publish");
    }
    publisher.flush().await.expect("flush");
    consumer.await.expect("consumer");
    start.elapsed()
}

/// One message to a responder and its answer back, on persistent subscriptions.
async fn ping_pong<B: MessageBus + Clone>(bus: &B, rounds: u64) -> Duration {
    let mut pings = bus.subscribe("bench.ping").await.expect("subscribe");
    let mut pongs = bus.subscribe("bench.pong").await.expect("subscribe");
    let responder_bus = bus.clone();
    let responder = tokio::spawn(async move {
        while let Some(msg) = pings.recv().await {
            responder_bus
                .publish("bench.pong", msg.payload)
                .await
                .expect("pong");
        }
    });
    let start = Instant::now();
    for _ in 0..rounds {
        bus.publish("bench.ping", Bytes::from_static(b"p"))
            .await
            .expect("ping");
        pongs.recv().await.expect("pong");
    }
    let elapsed = start.elapsed();
    responder.abort();
    elapsed
}

fn bench_task(n: usize, i: u64) -> TaskSpec {
    TaskSpec::new(serde_json::json!({ "n": n, "i": i }))
        .requiring(["rust"])
        .expect("spec")
}

/// `count` queue handles, each on its own connection, with a lease long enough for any round.
async fn connect_queues(url: &str, prefix: &str, count: usize) -> Vec<NatsQueue> {
    let config = QueueConfig {
        lease_duration: Duration::from_secs(30),
    };
    let mut queues = Vec::with_capacity(count);
    for _ in 0..count {
        queues.push(
            NatsQueue::connect(url, prefix, config.clone())
                .await
                .expect("queue"),
        );
    }
    queues
}

/// Tasks per second through the queue, end to end: `QUEUE_TASKS` tasks submitted one `submit`
/// call at a time by `QUEUE_CLIENTS` producers while `QUEUE_CLIENTS` workers `lease` one and
/// `ack` it (every client on its own connection); timed from the first submit to the last
/// ack.
async fn queue_round(url: &str, prefix: &str) -> Duration {
    let producers = connect_queues(url, prefix, QUEUE_CLIENTS).await;
    let workers = connect_queues(url, prefix, QUEUE_CLIENTS).await;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for (n, queue) in producers.into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            for i in 0..QUEUE_TASKS / QUEUE_CLIENTS as u64 {
                queue.submit(bench_task(n, i)).await.expect("submit");
            }
        }));
    }
    for (n, queue) in workers.into_iter().enumerate() {
        let done = Arc::clone(&done);
        handles.push(tokio::spawn(async move {
            let worker = WorkerSpec::new(format!("w{n}"), ["rust"]).expect("worker");
            while done.load(Ordering::Relaxed) < QUEUE_TASKS {
                if let Some(lease) = queue
                    .lease(&worker, Duration::from_millis(50))
                    .await
                    .expect("lease")
                {
                    queue
                        .ack(&lease, serde_json::Value::Null)
                        .await
                        .expect("ack");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for handle in handles {
        handle.await.expect("bench task");
    }
    start.elapsed()
}

/// The same end to end figure with the batch APIs: `BATCH_TASKS` tasks submitted by
/// `BATCH_PRODUCERS` producers in `submit_many` calls of `SUBMIT_BATCH`, while
/// `BATCH_WORKERS` workers `lease_many` up to `LEASE_BATCH` and ack them concurrently (each
/// ack is still its own compare-and-set); timed from the first submit to the last ack.
async fn batched_queue_round(url: &str, prefix: &str) -> Duration {
    let producers = connect_queues(url, prefix, BATCH_PRODUCERS).await;
    let workers = connect_queues(url, prefix, BATCH_WORKERS).await;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    let per_producer = BATCH_TASKS / BATCH_PRODUCERS as u64;
    for (n, queue) in producers.into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            let mut i = 0;
            while i < per_producer {
                let end = (i + SUBMIT_BATCH as u64).min(per_producer);
                let specs = (i..end).map(|i| bench_task(n, i)).collect();
                queue.submit_many(specs).await.expect("submit_many");
                i = end;
            }
        }));
    }
    for (n, queue) in workers.into_iter().enumerate() {
        let done = Arc::clone(&done);
        handles.push(tokio::spawn(async move {
            let worker = WorkerSpec::new(format!("w{n}"), ["rust"]).expect("worker");
            while done.load(Ordering::Relaxed) < BATCH_TASKS {
                let leases = queue
                    .lease_many(&worker, LEASE_BATCH, Duration::from_millis(50))
                    .await
                    .expect("lease_many");
                futures::future::try_join_all(
                    leases
                        .iter()
                        .map(|lease| queue.ack(lease, serde_json::Value::Null)),
                )
                .await
                .expect("ack");
                done.fetch_add(leases.len() as u64, Ordering::Relaxed);
            }
        }));
    }
    for handle in handles {
        handle.await.expect("bench task");
    }
    start.elapsed()
}

fn local_bus(c: &mut Criterion) {
    let mut group = c.benchmark_group("coord");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BUS_MESSAGES));
    // Publisher and subscriber on one thread (an agent process with a current-thread runtime),
    // then on two worker threads, where every wake-up of a parked subscriber is a futex call.
    for (name, rt) in [
        ("local_bus_throughput", current_thread()),
        ("local_bus_throughput_2_threads", runtime()),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let bus = LocalBus::new();
                        total += pump(&bus, &bus, BUS_MESSAGES).await;
                    }
                    total
                })
            });
        });
    }
    let rt = runtime();
    group.throughput(Throughput::Elements(1));
    group.bench_function("local_bus_round_trip", |b| {
        let bus = LocalBus::new();
        b.iter_custom(|iters| rt.block_on(ping_pong(&bus, iters)));
    });
    group.finish();
}

fn nats(c: &mut Criterion) {
    let server = match NatsServer::start() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("skipping NATS benches: {e}");
            return;
        }
    };
    let rt = runtime();
    let url = server.url().to_owned();
    let mut group = c.benchmark_group("coord");
    group.sample_size(10);
    group.throughput(Throughput::Elements(NATS_MESSAGES));
    group.bench_function("nats_pubsub_throughput", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let publisher = NatsBus::connect(&url).await.expect("connect");
                let subscriber = NatsBus::connect(&url).await.expect("connect");
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += pump(&publisher, &subscriber, NATS_MESSAGES).await;
                }
                total
            })
        });
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("nats_bus_round_trip", |b| {
        let bus = rt.block_on(NatsBus::connect(&url)).expect("connect");
        b.iter_custom(|iters| rt.block_on(ping_pong(&bus, iters)));
    });
    group.throughput(Throughput::Elements(QUEUE_TASKS));
    let round = AtomicU64::new(0);
    group.bench_function("nats_queue_throughput", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let prefix = format!("bench{}", round.fetch_add(1, Ordering::Relaxed));
                    total += queue_round(&url, &prefix).await;
                }
                total
            })
        });
    });
    group.throughput(Throughput::Elements(BATCH_TASKS));
    group.bench_function("nats_queue_throughput_batched", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let prefix = format!("batch{}", round.fetch_add(1, Ordering::Relaxed));
                    total += batched_queue_round(&url, &prefix).await;
                }
                total
            })
        });
    });
    group.finish();
}

/// Median of `runs` measurements of `rate` (items per second).
fn median_rate(runs: usize, mut rate: impl FnMut() -> f64) -> f64 {
    let mut rates: Vec<f64> = (0..runs).map(|_| rate()).collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// CPU time (user + system) of this process and of the server, to show where the time of a
/// queue figure goes on a machine where both share the cores.
struct CpuClock {
    server_pid: u32,
    client: f64,
    server: f64,
}

impl CpuClock {
    fn new(server_pid: u32) -> Self {
        Self {
            server_pid,
            client: cpu_seconds("self"),
            server: cpu_seconds(&server_pid.to_string()),
        }
    }

    /// Microseconds of client and server CPU per item since `new`.
    fn per_item(&self, items: u64) -> (f64, f64) {
        let client = cpu_seconds("self") - self.client;
        let server = cpu_seconds(&self.server_pid.to_string()) - self.server;
        (client * 1e6 / items as f64, server * 1e6 / items as f64)
    }
}

/// utime + stime of `/proc/<pid>/stat`, in seconds (Linux clock ticks are 1/100 s).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn per_second(items: u64, elapsed: Duration) -> f64 {
    items as f64 / elapsed.as_secs_f64()
}

/// The figures `cargo xtask bench coord` prints, each the median of 5 runs, beside its target;
/// written as JSON to `$COORD_BENCH_OUT` when set.
fn summary() {
    const RUNS: usize = 5;
    const ROUND_TRIPS: u64 = 20_000;
    let single = current_thread();
    let rt = runtime();
    let mut rows: Vec<(&str, f64, f64, &str)> = Vec::new();
    let local = median_rate(RUNS, || {
        single.block_on(async {
            let bus = LocalBus::new();
            per_second(BUS_MESSAGES, pump(&bus, &bus, BUS_MESSAGES).await)
        })
    });
    rows.push(("in-process bus, 1 thread", local, 1e6, "msgs/s"));
    let local_mt = median_rate(RUNS, || {
        rt.block_on(async {
            let bus = LocalBus::new();
            per_second(BUS_MESSAGES, pump(&bus, &bus, BUS_MESSAGES).await)
        })
    });
    rows.push(("in-process bus, 2 threads", local_mt, 1e6, "msgs/s"));
    let local_rtt = median_rate(RUNS, || {
        rt.block_on(async {
            let bus = LocalBus::new();
            let elapsed = ping_pong(&bus, ROUND_TRIPS).await;
            ROUND_TRIPS as f64 / elapsed.as_secs_f64()
        })
    });
    rows.push(("in-process round trips", local_rtt, 0.0, "per s"));
    match NatsServer::start() {
        Ok(server) => {
            let url = server.url().to_owned();
            let pubsub = median_rate(RUNS, || {
                rt.block_on(async {
                    let publisher = NatsBus::connect(&url).await.expect("connect");
                    let subscriber = NatsBus::connect(&url).await.expect("connect");
                    per_second(
                        NATS_MESSAGES,
                        pump(&publisher, &subscriber, NATS_MESSAGES).await,
                    )
                })
            });
            rows.push(("NATS pub/sub", pubsub, 1e5, "msgs/s"));
            let nats_rtt = median_rate(RUNS, || {
                rt.block_on(async {
                    let bus = NatsBus::connect(&url).await.expect("connect");
                    let elapsed = ping_pong(&bus, ROUND_TRIPS / 10).await;
                    (ROUND_TRIPS / 10) as f64 / elapsed.as_secs_f64()
                })
            });
            rows.push(("NATS round trips", nats_rtt, 0.0, "per s"));
            let mut round = 0;
            let cpu = CpuClock::new(server.pid());
            let queue = median_rate(RUNS, || {
                round += 1;
                rt.block_on(async {
                    per_second(
                        QUEUE_TASKS,
                        queue_round(&url, &format!("summary{round}")).await,
                    )
                })
            });
            let (client_us, server_us) = cpu.per_item(RUNS as u64 * QUEUE_TASKS);
            rows.push(("NATS task queue, one task per call", queue, 0.0, "tasks/s"));
            rows.push(("  one per call: client CPU per task", client_us, 0.0, "us"));
            rows.push((
                "  one per call: nats-server CPU per task",
                server_us,
                0.0,
                "us",
            ));
            let cpu = CpuClock::new(server.pid());
            let batched = median_rate(RUNS, || {
                round += 1;
                rt.block_on(async {
                    per_second(
                        BATCH_TASKS,
                        batched_queue_round(&url, &format!("summary{round}")).await,
                    )
                })
            });
            let (client_us, server_us) = cpu.per_item(RUNS as u64 * BATCH_TASKS);
            rows.push((
                "NATS task queue, submit_many+lease_many",
                batched,
                1e4,
                "tasks/s",
            ));
            rows.push(("  batched: client CPU per task", client_us, 0.0, "us"));
            rows.push(("  batched: nats-server CPU per task", server_us, 0.0, "us"));
        }
        Err(e) => eprintln!("NATS figures skipped: {e}"),
    }
    println!();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!("load average at the end: {}", load.join(" "));
    println!(
        "{:<40} {:>12} {:>12} {:>7}  {:<8} verdict",
        "coordination", "measured", "target", "ratio", "unit"
    );
    for (name, value, target, unit) in &rows {
        if *target > 0.0 {
            let verdict = if value >= target { "PASS" } else { "FAIL" };
            println!(
                "{name:<40} {value:>12.0} {target:>12.0} {:>6.2}x  {unit:<8} {verdict}",
                value / target
            );
        } else {
            println!(
                "{name:<40} {value:>12.1} {:>12} {:>7}  {unit:<8} info",
                "-", "-"
            );
        }
    }
    if let Some(path) = std::env::var_os("COORD_BENCH_OUT") {
        let json: Vec<_> = rows
            .iter()
            .map(|(name, value, target, unit)| {
                serde_json::json!({ "name": name, "value": value, "target": target, "unit": unit })
            })
            .collect();
        let path = std::path::PathBuf::from(path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&json).expect("json")).expect("write");
    }
}

criterion_group!(benches, local_bus, nats);

fn main() {
    // `cargo xtask bench coord` sets COORD_BENCH_SUMMARY_ONLY: the table without criterion.
    if std::env::var_os("COORD_BENCH_SUMMARY_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
