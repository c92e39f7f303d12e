//! Retrieval: the few tools of a long list that a request is most likely about, chosen before
//! the prompt and the grammar are built, so that a catalogue of hundreds of tools (the
//! registry's) costs the prefill of a handful. Two rankings, fused ([`Retriever`]): lexical,
//! BM25 (the `bm25` crate, English stemming and stop words) over each tool's name split into
//! words, its description, and its arguments' names, descriptions and enum values
//! ([`ToolIndex`]); and semantic, the cosine between a sentence encoder's embeddings of the
//! request and of each tool's name and description ([`encoder`]), which finds the tools a
//! request shares no word with. The figures behind the method and the defaults are in
//! docs/REGISTRY.md (`toolcall-retrieve`).

mod embedding_cache;
pub mod encoder;
mod retriever;

pub use retriever::{Retriever, fuse};

use bm25::{Language, SearchEngine, SearchEngineBuilder};
use serde_json::Value;

/// A tool list ready to be searched.
pub struct ToolIndex {
    search: SearchEngine<u32>,
    len: usize,
}

impl ToolIndex {
    /// Indexes `tools`, the items of a tool list as its writer gave them (bare, or in
    /// OpenAI's `{"type": "function", "function": {...}}`).
    pub fn new(tools: &[Value]) -> ToolIndex {
        let documents: Vec<String> = tools.iter().map(document).collect();
        ToolIndex {
            search: SearchEngineBuilder::<u32>::with_corpus(Language::English, documents).build(),
            len: tools.len(),
        }
    }

    /// The positions of the `k` tools that match `query` best, highest first; when fewer
    /// than `k` share a word with it, the others follow in list order (the model still
    /// chooses among `k`, and may make no call).
    pub fn ranked(&self, query: &str, k: usize) -> Vec<usize> {
        let mut chosen: Vec<usize> = self.matches(query).into_iter().take(k).collect();
        let rest: Vec<usize> = (0..self.len).filter(|i| !chosen.contains(i)).collect();
        chosen.extend(rest.into_iter().take(k.saturating_sub(chosen.len())));
        chosen
    }

    /// The positions of the tools that share a word with `query`, best first.
    pub fn matches(&self, query: &str) -> Vec<usize> {
        let mut matches: Vec<(f32, usize)> = self
            .search
            .search(&words(query), None)
            .into_iter()
            .map(|hit| (hit.score, hit.document.id as usize))
            .collect();
        // Equal scores in list order, whatever order the index keeps them in.
        matches.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        matches.into_iter().map(|(_, i)| i).collect()
    }
}

/// Which tool lists are narrowed, and to how many tools (the daemon's `retrieval_above` and
/// `retrieval_top_k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Narrowing {
    /// Lists of more tools than this (and than `top_k`) are narrowed.
    pub above: usize,
    /// Tools a narrowed list keeps; 0 turns narrowing off.
    pub top_k: usize,
}

impl Narrowing {
    /// Whether a list of `tools` tools is narrowed.
    pub fn applies(&self, tools: usize) -> bool {
        self.top_k > 0 && tools > self.above.max(self.top_k)
    }
}

/// The text a tool is found by.
fn document(tool: &Value) -> String {
    let tool = tool.get("function").unwrap_or(tool);
    let mut text = Vec::new();
    if let Some(name) = tool["name"].as_str() {
        text.push(words(name));
    }
    if let Some(description) = tool["description"].as_str() {
        text.push(description.to_string());
    }
    let schema = ["parameters", "inputSchema", "input_schema"]
        .iter()
        .find_map(|field| tool.get(*field));
    if let Some(schema) = schema {
        schema_text(schema, &mut text);
    }
    text.join(" ")
}

/// The argument names, descriptions and enum values of a schema, depth first.
fn schema_text(schema: &Value, text: &mut Vec<String>) {
    if let Some(description) = schema["description"].as_str() {
        text.push(description.to_string());
    }
    for value in schema["enum"].as_array().into_iter().flatten() {
        if let Some(value) = value.as_str() {
            text.push(words(value));
        }
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            text.push(words(name));
            schema_text(property, text);
        }
    }
    for nested in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get(nested).filter(|v| v.is_object()) {
            schema_text(inner, text);
        }
    }
    for branch in ["anyOf", "oneOf", "allOf"] {
        for inner in schema[branch].as_array().into_iter().flatten() {
            schema_text(inner, text);
        }
    }
}

/// An identifier as words: `lights.switch`, `set_target`, `startWorkout` and `HassTurnOn`
/// become `lights switch`, `set target`, `start Workout` and `Hass Turn On`.
pub fn words(identifier: &str) -> String {
    let mut out = String::with_capacity(identifier.len() + 8);
    let mut previous: Option<char> = None;
    for c in identifier.chars() {
        if matches!(c, '_' | '.' | '-' | '/') {
            out.push(' ');
        } else {
            if c.is_uppercase() && previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
                out.push(' ');
            }
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, description: &str) -> Value {
        json!({"name": name, "description": description, "parameters": {"type": "object", "properties": {}}})
    }

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(words("lights.switch"), "lights switch");
        assert_eq!(words("calendar_event_create"), "calendar event create");
        assert_eq!(words("startWorkout"), "start Workout");
        assert_eq!(words("HassTurnOn"), "Hass Turn On");
        assert_eq!(words("get-forecast"), "get forecast");
    }

    #[test]
    fn the_matching_tools_come_first_and_the_list_keeps_its_order() {
        let tools = json!([
            tool("media.play", "Play music by an artist."),
            tool("lights.dim", "Set the brightness of the lights in one area."),
            tool("startTimer", "Start a countdown timer."),
            {"type": "function", "function": {"name": "weather_get", "description": "Forecast for a city.",
              "parameters": {"type": "object", "properties": {"units": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}},
        ]);
        let index = ToolIndex::new(tools.as_array().unwrap());
        assert_eq!(index.ranked("dim the lights in the kitchen", 1), vec![1]);
        assert_eq!(index.ranked("set a timer for ten minutes", 1), vec![2]);
        // Found by an enum value of an argument.
        assert_eq!(index.ranked("is it 20 degrees fahrenheit outside", 1), vec![3]);
        let two = Narrowing { above: 2, top_k: 2 };
        let narrowed = Retriever::lexical()
            .narrow(&tools.to_string(), "timer and the lights brightness", two)
            .unwrap();
        let names: Vec<String> = serde_json::from_str::<Vec<Value>>(&narrowed)
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["lights.dim", "startTimer"]);
    }

    #[test]
    fn fewer_matches_than_k_are_filled_in_list_order_and_short_lists_are_kept() {
        let tools = json!([
            tool("a_one", "Alpha."),
            tool("b_two", "Beta."),
            tool("c_three", "Gamma.")
        ]);
        let index = ToolIndex::new(tools.as_array().unwrap());
        assert_eq!(index.ranked("gamma please", 2), vec![2, 0]);
        assert_eq!(index.ranked("nothing in common", 2), vec![0, 1]);
        let lexical = Retriever::lexical();
        let at_most = |above, top_k| lexical.narrow(&tools.to_string(), "gamma", Narrowing { above, top_k });
        assert!(at_most(2, 1).is_some());
        assert_eq!(at_most(3, 1), None, "not above 3 tools");
        assert_eq!(at_most(0, 3), None, "not more than top_k");
        assert_eq!(at_most(0, 0), None, "off");
        assert_eq!(
            lexical.narrow("not json", "gamma", Narrowing { above: 0, top_k: 1 }),
            None
        );
    }
}
