//! toolcall-retrieve: how often retrieval (engine/src/retrieval/) keeps the right tools, on
//! a JSON-lines evaluation set whose cases offer many tools.
//!
//!     toolcall-retrieve CASES.jsonl [--k 1,3,5,8] [--misses K]
//!         [--encoder DIR | --encoder-alone DIR | --fuse-model BUNDLE_DIR]
//!
//! Input lines as toolcall-eval's: `{"id"?, "set"?, "tools": [...], "query": "...", "answer":
//! [calls]}`. A case counts at k when every tool its answer calls is among the k tools
//! retrieval ranks first; cases whose answer makes no call are left out. Prints one JSON
//! summary on stdout: recall at each k, overall and per `set`, and the time to index a case's
//! tools and rank them (ms, mean and largest), as the daemon does for each narrowed request.
//! `--misses K` also prints, on stderr, each case missed at K with the tools ranked first.
//!
//! Without a flag the ranking is BM25's; `--encoder DIR` fuses it with the sentence encoder in
//! DIR as the daemon does (`retrieval_encoder`), `--encoder-alone DIR` ranks by the encoder
//! only. Each tool is embedded once, before its first case is timed, as the daemon embeds a
//! published catalogue (`Retriever::prepare`): the time printed is a request's.
//!
//! `--fuse-model` measures a candidate the daemon does not use (yet): BM25's ranking fused
//! (reciprocal rank, constant 10) with one by the cosine of a model's own embeddings of the
//! request and of each tool (its name and the first 30 words of its description): the last
//! hidden state after `This sentence : "TEXT" means in one word:"`, centred on the tools' mean.
//! Each tool costs a forward pass once per tool list, each request one; the time printed is
//! the request's.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use toolcall_engine::Bundle;
use toolcall_engine::model::Decoder;
use toolcall_engine::retrieval::{Retriever, fuse};

fn tool_name(tool: &Value) -> &str {
    tool.get("function").unwrap_or(tool)["name"]
        .as_str()
        .unwrap_or_default()
}

/// A model's embeddings of tools and requests, and the fusion of their ranking with BM25's.
struct ModelRanker {
    decoder: Decoder,
    tokenizer: tokenizers::Tokenizer,
    /// Per tool list (its JSON): the tools' centred embeddings and their mean.
    lists: HashMap<String, (Vec<Vec<f32>>, Vec<f32>)>,
}

impl ModelRanker {
    fn load(dir: &Path) -> Result<ModelRanker, Box<dyn std::error::Error>> {
        let bundle = Bundle::open(dir)?;
        let tokenizer = tokenizers::Tokenizer::from_file(bundle.tokenizer_path()).map_err(|e| e.to_string())?;
        let decoder = Decoder::load(&bundle)?;
        Ok(ModelRanker {
            decoder,
            tokenizer,
            lists: HashMap::new(),
        })
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let prompt = format!("This sentence : \"{text}\" means in one word:\"");
        let encoding = self.tokenizer.encode(prompt, false).map_err(|e| e.to_string())?;
        let ids = encoding.get_ids().to_vec();
        let mut state = self.decoder.new_state()?;
        Ok(unit(self.decoder.forward(&mut state, &ids)?))
    }

    /// Embeds `tools`, once per list.
    fn prepare(&mut self, tools: &[Value]) -> Result<(), Box<dyn std::error::Error>> {
        let key = serde_json::to_string(tools)?;
        if !self.lists.contains_key(&key) {
            let embedded = tools
                .iter()
                .map(|tool| self.embed(&short_text(tool)))
                .collect::<Result<Vec<_>, _>>()?;
            let mean: Vec<f32> = (0..embedded[0].len())
                .map(|j| embedded.iter().map(|v| v[j]).sum::<f32>() / embedded.len() as f32)
                .collect();
            let centred = embedded.iter().map(|v| centre(v, &mean)).collect();
            self.lists.insert(key, (centred, mean));
        }
        Ok(())
    }

    /// The positions of `tools` (prepared), best first for `query`.
    fn ranked(&self, tools: &[Value], query: &str) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
        let (tools_embedded, mean) = &self.lists[&serde_json::to_string(tools)?];
        let asked = centre(&self.embed(query)?, mean);
        let mut scored: Vec<(f32, usize)> = tools_embedded
            .iter()
            .enumerate()
            .map(|(i, v)| (v.iter().zip(&asked).map(|(a, b)| a * b).sum(), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(scored.into_iter().map(|(_, i)| i).collect())
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn centre(v: &[f32], mean: &[f32]) -> Vec<f32> {
    unit(v.iter().zip(mean).map(|(a, m)| a - m).collect())
}

/// A tool's own name (without a registry prefix) in words, and the start of its description.
fn short_text(tool: &Value) -> String {
    let tool = tool.get("function").unwrap_or(tool);
    let name = tool["name"].as_str().unwrap_or_default();
    let own = name
        .split_once('.')
        .map_or(name, |(_, own)| own)
        .replace(['_', '-'], " ");
    let description = tool["description"].as_str().unwrap_or_default();
    let words: Vec<&str> = description.split_whitespace().take(30).collect();
    format!("{own}: {}", words.join(" "))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cases_path = args
        .next()
        .ok_or("usage: toolcall-retrieve CASES.jsonl [--k 1,3,5,8] [--misses K] [--encoder DIR | --encoder-alone DIR | --fuse-model BUNDLE_DIR]")?;
    let mut ks: Vec<usize> = vec![1, 3, 5, 8];
    let mut misses_at: Option<usize> = None;
    let mut model: Option<ModelRanker> = None;
    let mut retriever = Retriever::lexical();
    let mut encoder_alone = false;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--k" => ks = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--misses" => misses_at = Some(value.parse()?),
            "--fuse-model" => model = Some(ModelRanker::load(Path::new(&value))?),
            "--encoder" | "--encoder-alone" => {
                retriever = Retriever::with_loaded_encoder(Path::new(&value))?;
                encoder_alone = flag == "--encoder-alone";
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let widest = ks.iter().copied().chain(misses_at).max().unwrap_or(1);
    // Per set (and "all"): cases, then hits at each k.
    let mut hits: BTreeMap<String, (usize, Vec<usize>)> = BTreeMap::new();
    let mut times_ms: Vec<f64> = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&cases_path)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Value = serde_json::from_str(&line)?;
        let gold: Vec<&str> = case["answer"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        if gold.is_empty() {
            continue;
        }
        let tools = case["tools"].as_array().ok_or("a case without tools")?;
        let query = case["query"].as_str().unwrap_or_default();
        if let Some(model) = model.as_mut() {
            model.prepare(tools)?;
        }
        // As the daemon does when apps publish: the tools are embedded before requests come.
        retriever.prepare(tools);
        let started = Instant::now();
        let mut ranked = if encoder_alone {
            retriever.ranked_by_encoder(tools, query)?
        } else {
            retriever.ranked(tools, query)
        };
        if let Some(model) = &model {
            ranked = fuse(&ranked, &model.ranked(tools, query)?, tools.len());
        }
        times_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let names: Vec<&str> = ranked.iter().take(widest).map(|&i| tool_name(&tools[i])).collect();
        let found_at = |k: usize| gold.iter().all(|g| names.iter().take(k).any(|n| n == g));
        for set in ["all", case["set"].as_str().unwrap_or("-")] {
            let entry = hits.entry(set.to_string()).or_insert_with(|| (0, vec![0; ks.len()]));
            entry.0 += 1;
            for (hit, &k) in entry.1.iter_mut().zip(&ks) {
                *hit += usize::from(found_at(k));
            }
        }
        if misses_at.is_some_and(|k| !found_at(k)) {
            eprintln!("{} {:?}: wanted {gold:?}, ranked {names:?}", case["id"], case["query"]);
        }
    }
    let recall: BTreeMap<&String, Value> = hits
        .iter()
        .map(|(set, (cases, hit))| {
            let at: BTreeMap<String, f64> = ks
                .iter()
                .zip(hit)
                .map(|(k, h)| (format!("@{k}"), *h as f64 / *cases as f64))
                .collect();
            (set, json!({"cases": cases, "recall": at}))
        })
        .collect();
    let mean = times_ms.iter().sum::<f64>() / times_ms.len().max(1) as f64;
    let largest = times_ms.iter().copied().fold(0.0, f64::max);
    let summary = json!({"sets": recall, "ms_per_case": {"mean": mean, "max": largest}});
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
