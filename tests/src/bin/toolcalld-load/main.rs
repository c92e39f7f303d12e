//! toolcalld-load: the load and soak harness. Starts a private dbus-daemon and toolcalld (the
//! test harness's), then N clients, each on its own connection, send M requests: every other
//! one a one-shot `Call`, the rest on a toolset the client registered, cycling through a few
//! voice-assistant requests. A request refused with `Busy` counts as such and is not retried
//! (the client backs off 50 ms and sends its next one). Reports per N: answers, `Busy`, other errors, throughput,
//! p50/p95/p99 latency of answered requests, and the daemon's RSS (sampled every 250 ms).
//!
//!     target/debug/toolcalld-load [--bundle DIR] [--clients 1,4,16,32] [--calls 20]
//!         [--soak-minutes 30] [--config 'workers = 1\nqueue_size = 8']
//!
//! `--soak-minutes T` then keeps the largest N busy for T minutes and prints the RSS curve
//! (one sample a minute) and every error other than `Busy`. `--fill-kv TOOLS` instead has one
//! client register a toolset of TOOLS long tools and open sessions on it, a turn each, until
//! the KV budget (`max_kv_mb`) refuses one; it prints the objects held, the refusal and the
//! daemon's peak RSS against the budget. `--mix MINUTES` has the clients (the largest N) make
//! and drop toolsets of 5 to 20 long tools, sessions with facts and tool results, and one-shot
//! calls of long lists, for that long, and prints every answer and refusal by name with the
//! daemon's RSS against the budget (`budget.rs`). Output is markdown for docs/RELIABILITY.md. Not part of the test command: it measures, it does not assert.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use toolcall_client::{Bus, CallOptions, Client, ErrorKind};
use toolcalld_tests::{DEFAULT, Daemon, HOME_TOOLS, TestBus, bundle};

mod budget;

const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Toolsets the clients hold right now: each keeps its tools' prompt prefill (KV cache) in the
/// daemon, so the daemon's RSS is read beside this count.
static TOOLSETS_LIVE: AtomicUsize = AtomicUsize::new(0);
const REQUESTS: &[&str] = &[
    "set a timer for 10 minutes",
    "turn off the desk lamp",
    "what's the weather like",
    "add milk to my shopping list",
    "set the volume to 30",
    "pause the music",
];

#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    busy: usize,
    errors: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_ms.extend(other.latencies_ms);
        self.busy += other.busy;
        self.errors.extend(other.errors);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One client: its own connection and toolset; `calls` requests, or until `until`.
async fn client_run(address: String, index: usize, calls: usize, until: Option<Instant>) -> Tally {
    let mut tally = Tally::default();
    let client = match Client::connect(&Bus::Address(address)).await {
        Ok(c) => c,
        Err(e) => {
            tally.errors.push(format!("connect: {e}"));
            return tally;
        }
    };
    let toolset = loop {
        match client.register_toolset(HOME_TOOLS).await {
            Ok(t) => {
                TOOLSETS_LIVE.fetch_add(1, Ordering::SeqCst);
                break t;
            }
            Err(e) if e.kind() == Some(&ErrorKind::Busy) => {
                tally.busy += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                tally.errors.push(format!("register: {e}"));
                return tally;
            }
        }
    };
    let options = CallOptions {
        max_new_tokens: Some(64),
        facts: Some(
            "areas: kitchen, bedroom, living room, office; devices: desk lamp, ceiling fan, tv, front door, speaker"
                .into(),
        ),
        ..CallOptions::default()
    };
    let mut n = 0;
    while until.map_or(n < calls, |t| Instant::now() < t) {
        let query = REQUESTS[(index + n) % REQUESTS.len()];
        let started = Instant::now();
        let result = if n % 2 == 0 {
            client.call(HOME_TOOLS, query, &options).await
        } else {
            toolset.call(query, &options).await
        };
        match result {
            Ok(_) => tally.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0),
            Err(e) if e.kind() == Some(&ErrorKind::Busy) => {
                tally.busy += 1;
                // A polite client backs off before retrying.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The random tiny bundle may run into the token limit: an answer all the same.
            Err(e) if e.kind() == Some(&ErrorKind::LimitExceeded) && e.to_string().contains("was not complete") => {
                tally.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0)
            }
            Err(e) => tally.errors.push(e.to_string()),
        }
        n += 1;
    }
    let _ = toolset.release().await;
    TOOLSETS_LIVE.fetch_sub(1, Ordering::SeqCst);
    tally
}

/// Runs `clients` clients; returns their tally, the seconds it took and the daemon's RSS
/// samples (MB, every 250 ms) with the number of toolsets live at each.
async fn round(
    address: &str,
    pid: u32,
    clients: usize,
    calls: usize,
    until: Option<Instant>,
) -> (Tally, f64, Vec<(f64, usize)>) {
    let started = Instant::now();
    let (sample_tx, mut sample_rx) = tokio::sync::mpsc::unbounded_channel();
    let sampler = tokio::spawn(async move {
        loop {
            let _ = sample_tx.send((rss_mb(pid), TOOLSETS_LIVE.load(Ordering::SeqCst)));
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    });
    let tasks: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(client_run(address.to_string(), i, calls, until)))
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.expect("client task"));
    }
    let seconds = started.elapsed().as_secs_f64();
    sampler.abort();
    let mut samples = Vec::new();
    while let Ok(mb) = sample_rx.try_recv() {
        samples.push(mb);
    }
    samples.push((rss_mb(pid), TOOLSETS_LIVE.load(Ordering::SeqCst)));
    (tally, seconds, samples)
}

/// The daemon's peak RSS so far (VmHWM), MB.
pub(crate) fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bundle_dir = arg(&args, "--bundle").map_or_else(|| bundle(DEFAULT), std::path::PathBuf::from);
    let clients: Vec<usize> = arg(&args, "--clients")
        .unwrap_or("1,4,16,32")
        .split(',')
        .map(|n| n.parse().expect("--clients 1,4,16,32"))
        .collect();
    let calls: usize = arg(&args, "--calls").map_or(20, |n| n.parse().expect("--calls N"));
    let soak_minutes: Option<f64> = arg(&args, "--soak-minutes").map(|m| m.parse().expect("--soak-minutes T"));
    let config = arg(&args, "--config").unwrap_or("").replace("\\n", "\n");

    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &bundle_dir, &config);
    let pid = daemon.child.id();
    let model: Value = serde_json::from_str(&std::fs::read_to_string(bundle_dir.join("bundle.json")).unwrap()).unwrap();
    println!(
        "bundle {} ({}), config {:?}, {} calls per client, {} logical CPUs",
        model["name"].as_str().unwrap_or("?"),
        bundle_dir.display(),
        config,
        calls,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("RSS after start: {:.1} MB\n", rss_mb(pid));
    if let Some(tools) = arg(&args, "--fill-kv") {
        return budget::fill_kv(&bus.address, pid, tools.parse().expect("--fill-kv TOOLS")).await;
    }
    if let Some(minutes) = arg(&args, "--mix") {
        let n = *clients.iter().max().unwrap();
        return budget::mix(&bus.address, pid, n, minutes.parse().expect("--mix MINUTES")).await;
    }
    println!(
        "| clients | answered | Busy | other errors | answers/s | p50 ms | p95 ms | p99 ms | RSS max MB | RSS after MB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &n in &clients {
        let (mut tally, seconds, samples) = round(&bus.address, pid, n, calls, None).await;
        tally.latencies_ms.sort_by(f64::total_cmp);
        let l = &tally.latencies_ms;
        println!(
            "| {n} | {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
            l.len(),
            tally.busy,
            tally.errors.len(),
            l.len() as f64 / seconds,
            percentile(l, 0.5),
            percentile(l, 0.95),
            percentile(l, 0.99),
            samples.iter().map(|s| s.0).fold(f64::NAN, f64::max),
            rss_mb(pid)
        );
        for e in tally.errors.iter().take(5) {
            println!("  error: {e}");
        }
    }
    if let Some(minutes) = soak_minutes {
        let n = *clients.iter().max().unwrap();
        let until = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
        let (tally, seconds, samples) = round(&bus.address, pid, n, usize::MAX, Some(until)).await;
        let per_minute: Vec<(f64, usize)> = samples
            .iter()
            .step_by(240)
            .copied()
            .chain(samples.last().copied())
            .collect();
        println!(
            "\nsoak: {n} clients for {:.1} min: {} answered, {} Busy, {} other errors",
            seconds / 60.0,
            tally.latencies_ms.len(),
            tally.busy,
            tally.errors.len()
        );
        println!(
            "RSS each minute, then at the end (MB, toolsets live): {}",
            per_minute
                .iter()
                .map(|(mb, live)| format!("{mb:.1} ({live})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // Once every client holds its toolset, the daemon holds all it will: from there RSS
        // must stay flat.
        let steady: Vec<f64> = samples
            .iter()
            .skip_while(|(_, live)| *live < n)
            .take_while(|(_, live)| *live == n)
            .map(|s| s.0)
            .collect();
        if let (Some(first), Some(last)) = (steady.first(), steady.last()) {
            let (min, max) = steady
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
            println!(
                "with all {n} toolsets live ({:.1} min): RSS first {first:.1}, last {last:.1}, min {min:.1}, max {max:.1} MB",
                steady.len() as f64 * SAMPLE_EVERY.as_secs_f64() / 60.0
            );
        }
        for e in tally.errors.iter().take(20) {
            println!("  error: {e}");
        }
    }
}
