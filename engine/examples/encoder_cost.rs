//! encoder_cost: what retrieval's sentence encoder costs (engine/src/retrieval/encoder.rs):
//! the time to load it, the memory it holds, and the time to embed texts of a few lengths.
//!
//!     target/debug/examples/encoder_cost model/encoders/minilm-l6-int8 [REPEATS]
//!
//! Prints one JSON object: `load_ms`; `rss_mb` before loading, after it and after the
//! embeddings, and the peak (`hwm_mb`); then, per text, its length in bytes and the mean
//! ms of `REPEATS` embeddings (default 20). The heap is set up as toolcalld's
//! (`bound_heap_growth`).

use std::time::Instant;

use serde_json::json;
use toolcall_engine::retrieval::encoder::SentenceEncoder;

/// `VmRSS` and `VmHWM` of this process, in MB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    toolcall_engine::memory::bound_heap_growth();
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: encoder_cost ENCODER_DIR [REPEATS]")?;
    let repeats: u32 = args.next().map_or(Ok(20), |n| n.parse())?;
    let (before, _) = memory_mb();
    let started = Instant::now();
    let encoder = SentenceEncoder::load(std::path::Path::new(&dir))?;
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (loaded, _) = memory_mb();
    let texts = [
        "take me home".to_string(),
        "home lights dim: Set the brightness of the lights in one area, from 0 to 100 percent.".to_string(),
        "word ".repeat(300),
    ];
    let mut timings = Vec::new();
    for text in &texts {
        let started = Instant::now();
        for _ in 0..repeats {
            encoder.embed(text)?;
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(repeats);
        timings.push(json!({"bytes": text.len(), "ms": ms}));
    }
    let (after, peak) = memory_mb();
    let report = json!({
        "load_ms": load_ms,
        "rss_mb": {"before": before, "loaded": loaded, "after_embedding": after},
        "hwm_mb": peak,
        "embed": timings,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
