//! The escalation endpoint's wire: one OpenAI-style chat completion with tools, posted with
//! ureq (blocking: it runs on a blocking thread), and the tool calls of its answer. What leaves
//! the device is exactly this request: the user's text, the facts, the tool list, and the API
//! key in the `Authorization` header.

use std::time::Duration;

use serde_json::{Value, json};
use toolcall_engine::{FunctionCall, Tool};

/// Bytes of an endpoint's answer read at most: a chat completion with a few tool calls is a
/// few kilobytes.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// An OpenAI-compatible chat completions URL, with the model to ask for and the API key.
pub struct Endpoint {
    pub url: String,
    /// The `model` field ("": left out, for servers that serve one model).
    pub model: String,
    /// Sent as `Authorization: Bearer`; never logged (not even by `Debug`).
    pub api_key: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// Why the endpoint gave no usable answer: a short kind for the journal (which does not log
/// request content above `trace`) and the details for the caller's note.
#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: &'static str, detail: String) -> Failure {
        Failure { kind, detail }
    }
}

/// What one request asks of the endpoint.
pub struct Question<'a> {
    pub tools: &'a [Tool],
    pub query: &'a str,
    pub facts: Option<&'a str>,
}

impl Endpoint {
    pub fn new(url: String, model: String, api_key: Option<String>) -> Endpoint {
        let config = ureq::Agent::config_builder()
            // Status codes are answers to report, not transport errors.
            .http_status_as_error(false)
            // A redirect could carry the key to another host, and so could a proxy named by the
            // environment: the request goes to `escalation_url` and nowhere else.
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("toolcalld/", env!("CARGO_PKG_VERSION")))
            .build();
        Endpoint {
            url,
            model,
            api_key,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Posts `question` and returns the calls of the answer, or what went wrong in words a
    /// caller can read (the key taken out, the body echoed as a short excerpt at most). Gives up
    /// after `timeout`.
    pub fn ask(&self, question: &Question, timeout: Duration) -> Result<Vec<FunctionCall>, Failure> {
        self.post(question, timeout).map_err(|mut failure| {
            if let Some(key) = &self.api_key {
                failure.detail = failure.detail.replace(key.as_str(), "[API key]");
            }
            failure
        })
    }

    fn post(&self, question: &Question, timeout: Duration) -> Result<Vec<FunctionCall>, Failure> {
        let mut request = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Accept", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let timed_out = || Failure::new("timeout", format!("no answer within {} ms", timeout.as_millis()));
        let names = wire_names(question.tools);
        let mut response = request
            .send_json(body(question, &names, &self.model))
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => timed_out(),
                other => Failure::new("request failed", format!("the request failed: {other}")),
            })?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => timed_out(),
                other => Failure::new("request failed", format!("reading the answer failed: {other}")),
            })?;
        if !status.is_success() {
            return Err(Failure::new("HTTP error", format!("HTTP {status}: {}", excerpt(&text))));
        }
        let calls = calls_of(&text).map_err(|detail| Failure::new("unreadable answer", detail))?;
        Ok(local_names(calls, question.tools, &names))
    }
}

/// The tools' names as OpenAI's API takes them (`^[a-zA-Z0-9_-]{1,64}$`): a name is sent as
/// it is, or with each other character made `_` (the registry's `media.play` as `media_play`),
/// or as `tool_N` where that would be the same as another tool's name.
fn wire_names(tools: &[Tool]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let safe: String = tool
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let taken = |name: &String, names: &[String]| tools.iter().any(|t| t.name == *name) || names.contains(name);
        let name = if safe == tool.name || !taken(&safe, &names) {
            safe
        } else {
            (i..)
                .map(|n| format!("tool_{n}"))
                .find(|n| !taken(n, &names))
                .expect("a free name")
        };
        names.push(name);
    }
    names
}

/// The endpoint's calls under the tools' own names (a name not sent stays as it is, for the
/// answer's check to refuse).
fn local_names(calls: Vec<FunctionCall>, tools: &[Tool], wire: &[String]) -> Vec<FunctionCall> {
    calls
        .into_iter()
        .map(|mut call| {
            if let Some(i) = wire.iter().position(|w| *w == call.name) {
                call.name = tools[i].name.clone();
            }
            call
        })
        .collect()
}

/// The chat completion request: a system line, the user's turn (facts first, as the local
/// prompt has them), the tools in the OpenAI shape under their `wire` names, greedy decoding.
fn body(question: &Question, wire: &[String], model: &str) -> Value {
    let user = match question.facts.filter(|f| !f.is_empty()) {
        Some(facts) => format!("Facts: {facts}\n\n{}", question.query),
        None => question.query.to_string(),
    };
    let tools: Vec<Value> = question
        .tools
        .iter()
        .zip(wire)
        .map(|(t, name)| {
            json!({"type": "function", "function": {
                "name": name, "description": t.description, "parameters": t.parameters}})
        })
        .collect();
    let mut body = json!({
        "messages": [
            {"role": "system", "content": "Answer the user's request by calling the tools that do it, with arguments taken from the request. Call no tool if none fits."},
            {"role": "user", "content": user},
        ],
        "tools": tools,
        // "auto" is what every server knows (llama-cpp-python's refuses "required"); where no
        // call will not do, the schemas refuse an empty answer.
        "tool_choice": "auto",
        "temperature": 0,
        "stream": false,
    });
    if !model.is_empty() {
        body["model"] = json!(model);
    }
    body
}

/// The tool calls of a chat completion (`choices[0].message.tool_calls`, each `function`'s
/// `arguments` a JSON text or, as some servers send it, an object). No `tool_calls`: no call.
fn calls_of(text: &str) -> Result<Vec<FunctionCall>, String> {
    let answer: Value =
        serde_json::from_str(text).map_err(|e| format!("the answer is not JSON ({e}): {}", excerpt(text)))?;
    let message = answer
        .pointer("/choices/0/message")
        .ok_or_else(|| format!("the answer has no choices[0].message: {}", excerpt(text)))?;
    let Some(calls) = message.get("tool_calls").filter(|c| !c.is_null()) else {
        return Ok(Vec::new());
    };
    let calls = calls
        .as_array()
        .ok_or_else(|| format!("tool_calls is not a list: {}", excerpt(text)))?;
    calls
        .iter()
        .map(|call| {
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("a tool call has no function.name: {}", excerpt(&call.to_string())))?;
            let arguments = match call.pointer("/function/arguments") {
                Some(Value::String(text)) if text.trim().is_empty() => json!({}),
                Some(Value::String(text)) => serde_json::from_str(text)
                    .map_err(|e| format!("the arguments of {name} are not JSON ({e}): {}", excerpt(text)))?,
                Some(object @ Value::Object(_)) => object.clone(),
                None => json!({}),
                Some(other) => return Err(format!("the arguments of {name} are {other}, not an object")),
            };
            Ok(FunctionCall {
                name: name.to_string(),
                arguments,
            })
        })
        .collect()
}

/// At most 200 characters of `text`, for an error message.
fn excerpt(text: &str) -> String {
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_come_from_the_first_choice_with_arguments_as_text_or_object() {
        let answer = json!({"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "set_timer", "arguments": "{\"minutes\": 5}"}},
            {"id": "b", "type": "function", "function": {"name": "stop", "arguments": {"now": true}}},
            {"id": "c", "type": "function", "function": {"name": "ping", "arguments": ""}},
        ]}}]});
        let calls = calls_of(&answer.to_string()).unwrap();
        let got: Vec<String> = calls.iter().map(|c| format!("{} {}", c.name, c.arguments)).collect();
        assert_eq!(got, [r#"set_timer {"minutes":5}"#, r#"stop {"now":true}"#, "ping {}"]);
        let none = json!({"choices": [{"message": {"role": "assistant", "content": "No tool fits."}}]});
        assert!(calls_of(&none.to_string()).unwrap().is_empty());
        assert!(calls_of("<html>").unwrap_err().contains("not JSON"));
        assert!(calls_of("{}").unwrap_err().contains("choices[0].message"));
        let bad = json!({"choices": [{"message": {"tool_calls": [{"function": {"name": "x", "arguments": "{"}}]}}]});
        assert!(calls_of(&bad.to_string()).unwrap_err().contains("arguments of x"));
    }

    #[test]
    fn dotted_names_go_out_as_openai_takes_them_and_come_back_as_they_were() {
        let tool = |name: &str| Tool {
            name: name.into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
            grammar_parameters: json!({"type": "object"}),
        };
        let tools = [
            tool("media.play"),
            tool("media_play"),
            tool("lights.dim"),
            tool("set-timer"),
        ];
        let wire = wire_names(&tools);
        assert_eq!(wire, ["tool_0", "media_play", "lights_dim", "set-timer"]);
        let crowded = [tool("a.b"), tool("a_b"), tool("tool_0")];
        assert_eq!(wire_names(&crowded), ["tool_1", "a_b", "tool_0"]);
        let question = Question {
            tools: &tools,
            query: "play",
            facts: None,
        };
        assert_eq!(body(&question, &wire, "")["tools"][2]["function"]["name"], "lights_dim");
        let answered = ["tool_0", "lights_dim", "unknown"].map(|name| FunctionCall {
            name: name.into(),
            arguments: json!({}),
        });
        let local: Vec<String> = local_names(answered.into(), &tools, &wire)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(local, ["media.play", "lights.dim", "unknown"]);
    }

    #[test]
    fn the_key_stays_out_of_debug_output() {
        let endpoint = Endpoint::new(
            "http://127.0.0.1:9/v1/chat/completions".into(),
            String::new(),
            Some("sk-secret".into()),
        );
        let shown = format!("{endpoint:?}");
        assert!(!shown.contains("sk-secret") && shown.contains("(set)"), "{shown}");
    }
}
