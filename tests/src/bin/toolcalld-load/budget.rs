//! The KV budget under load. `--fill-kv`: one client fills the budget with sessions on one
//! toolset. `--mix`: several clients make and drop toolsets of long tool lists, sessions with
//! facts and tool results, and one-shot calls of long lists, the way busy apps would; every
//! answer and refusal is counted by name and the daemon's RSS is set against the budget.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use toolcall_client::{Bus, CallOptions, Client, Error, ErrorKind};
use toolcalld_tests::long_tools;

use crate::{SAMPLE_EVERY, peak_rss_mb, rss_mb};

/// `--fill-kv`: a toolset of `tools` long tools, then sessions on it until one is refused.
pub async fn fill_kv(address: &str, pid: u32, tools: usize) {
    let client = Client::connect(&Bus::Address(address.to_string()))
        .await
        .expect("client");
    let started = Instant::now();
    let toolset = match client.register_toolset(&long_tools(tools)).await {
        Ok(toolset) => toolset,
        Err(e) => return println!("RegisterToolset of {tools} tools refused: {e}"),
    };
    let status = client.status().await.expect("status");
    println!(
        "toolset of {tools} tools registered in {:.1} s; RSS {:.1} MB, peak {:.1} MB ({})",
        started.elapsed().as_secs_f64(),
        rss_mb(pid),
        peak_rss_mb(pid),
        status.model
    );
    let options = CallOptions {
        max_new_tokens: Some(64),
        ..CallOptions::default()
    };
    let mut sessions = Vec::new();
    loop {
        let session = match toolset.open_session().await {
            Ok(session) => session,
            Err(e) => {
                println!("session {} refused: {e}", sessions.len() + 1);
                break;
            }
        };
        let turn = session.send("set device 3 to level 40", &options).await;
        println!(
            "session {}: turn {}; RSS {:.1} MB, peak {:.1} MB",
            sessions.len() + 1,
            turn.map_or_else(|e| format!("refused: {e}"), |_| "answered".into()),
            rss_mb(pid),
            peak_rss_mb(pid)
        );
        sessions.push(session);
        if sessions.len() >= 64 {
            break;
        }
    }
}

/// What one `--mix` client saw: answers and refusals by name.
type Outcomes = BTreeMap<String, usize>;

/// Counts an outcome: "answered", or the error's name; a `LimitExceeded` with the limit it
/// names (`max_kv_mb`, or `max_new_tokens` for an answer the token limit cut short).
fn count(outcomes: &mut Outcomes, result: Result<(), Error>) {
    let name = match result {
        Ok(()) => "answered".to_string(),
        Err(e) => match e.kind() {
            Some(ErrorKind::LimitExceeded) => {
                let text = e.to_string();
                let limit = text
                    .split("limit ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap_or("?");
                format!("LimitExceeded {limit}")
            }
            Some(kind) => format!("{kind:?}"),
            None => format!("other: {e}"),
        },
    };
    *outcomes.entry(name).or_default() += 1;
}

/// One `--mix` client until `until`: each round a toolset of 5 to 20 long tools (~1,000 to
/// ~3,800 prompt tokens), two sessions on it with two turns each (~1,000 characters of facts)
/// and tool results after the first, a one-shot call of a list of its own, then all released.
async fn mix_client(address: String, index: usize, until: Instant) -> Outcomes {
    let mut outcomes = Outcomes::new();
    let client = Client::connect(&Bus::Address(address)).await.expect("client connects");
    let facts = "rooms: kitchen, bedroom, living room, office, hall, garage; devices: ".to_string()
        + &(0..60).map(|d| format!("device {d}")).collect::<Vec<_>>().join(", ");
    let options = CallOptions {
        max_new_tokens: Some(48),
        facts: Some(facts),
        ..CallOptions::default()
    };
    let mut round = 0;
    while Instant::now() < until {
        let tools = 5 + 5 * ((index + round) % 4);
        round += 1;
        let toolset = match client.register_toolset(&long_tools(tools)).await {
            Ok(toolset) => toolset,
            Err(e) => {
                count(&mut outcomes, Err(e));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        count(&mut outcomes, Ok(()));
        let mut sessions = Vec::new();
        for _ in 0..2 {
            match toolset.open_session().await {
                Ok(session) => {
                    count(&mut outcomes, Ok(()));
                    sessions.push(session);
                }
                Err(e) => count(&mut outcomes, Err(e)),
            }
        }
        for session in &sessions {
            let first = session.send("set device 3 to level 40", &options).await;
            let calls = first.as_ref().map(|r| r.function_calls.clone()).unwrap_or_default();
            count(&mut outcomes, first.map(|_| ()));
            if let Some(call) = calls.first() {
                let results = serde_json::json!([{"name": call.name, "result": {"ok": true, "level": 40}}]);
                let submitted = session.submit_tool_results(&results.to_string(), &options).await;
                count(&mut outcomes, submitted.map(|_| ()));
            }
            let second = session.send("now switch device 7 to the evening scene", &options).await;
            count(&mut outcomes, second.map(|_| ()));
        }
        let one_shot = client
            .call(&long_tools(3 + index), "set device 1 to level 10", &options)
            .await;
        count(&mut outcomes, one_shot.map(|_| ()));
        for session in sessions {
            let _ = session.close().await;
        }
        let _ = toolset.release().await;
    }
    outcomes
}

/// `--mix MINUTES`: `clients` mix clients for that long; prints the outcomes by name and the
/// daemon's RSS each minute and at its peak.
pub async fn mix(address: &str, pid: u32, clients: usize, minutes: f64) {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(minutes * 60.0);
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        loop {
            samples.push(rss_mb(pid));
            if Instant::now() > until {
                return samples;
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    });
    let tasks: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(mix_client(address.to_string(), i, until)))
        .collect();
    let mut outcomes = Outcomes::new();
    for task in tasks {
        for (name, n) in task.await.expect("mix client") {
            *outcomes.entry(name).or_default() += n;
        }
    }
    let samples = sampler.await.expect("sampler");
    let per_minute: Vec<String> = samples
        .iter()
        .step_by((60.0 / SAMPLE_EVERY.as_secs_f64()) as usize)
        .map(|mb| format!("{mb:.0}"))
        .collect();
    println!(
        "mix: {clients} clients for {:.1} min (the last rounds finish after the time is up)",
        started.elapsed().as_secs_f64() / 60.0
    );
    println!("| outcome | count |\n| --- | --- |");
    for (name, n) in &outcomes {
        println!("| {name} | {n} |");
    }
    println!("RSS each minute (MB): {}", per_minute.join(", "));
    println!(
        "RSS max sampled {:.1} MB, peak (VmHWM) {:.1} MB, at the end {:.1} MB",
        samples.iter().copied().fold(f64::NAN, f64::max),
        peak_rss_mb(pid),
        rss_mb(pid)
    );
}
