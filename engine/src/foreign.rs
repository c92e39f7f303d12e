//! Answers written elsewhere (a bigger model's, reached by the daemon's escalation) checked by
//! the grammar the engine's own answer to the same request is decoded under: the same tools,
//! `max_calls`, `allow_empty` and bound on free strings. An answer the grammar takes is one
//! this engine could have given, so a caller gets the same guarantees either way.
//!
//! The grammar is compact JSON with each object's keys in its schema's order, so the answer is
//! written that way before it is checked: keys in the order of the schema's `properties`
//! (others after them, which the grammar then refuses), and a whole number where the schema
//! says `integer` written without a fraction (`30.0` as `30`).

use serde_json::{Map, Value};

use crate::answer::{FunctionCall, without_repeated_calls};
use crate::engine::Engine;
use crate::options::CallOptions;
use crate::prompt;
use crate::toolset::Toolset;

impl Engine {
    /// `calls`, another model's answer to `query` on `toolset`, if the answer grammar of this
    /// request takes them (each exact repeat left out, as for the engine's own answers);
    /// otherwise why not, in words a log line or a caller can show.
    pub fn check_answer(
        &self,
        toolset: &Toolset,
        query: &str,
        calls: Vec<FunctionCall>,
        options: &CallOptions,
    ) -> std::result::Result<Vec<FunctionCall>, String> {
        let turn_text = prompt::render_user(query, options.facts.as_deref());
        let (_, mut matcher) = self
            .answer_grammar(toolset, &turn_text, options)
            .map_err(|e| e.to_string())?;
        let mut written = Vec::with_capacity(calls.len());
        for call in calls {
            let tool = toolset
                .tools()
                .iter()
                .find(|t| t.name == call.name)
                .ok_or_else(|| format!("it calls {:?}, which is not one of the tools", call.name))?;
            written.push(FunctionCall {
                arguments: in_schema_order(&call.arguments, &tool.grammar_parameters),
                name: call.name,
            });
        }
        let text = serde_json::to_string(&written).expect("calls serialise");
        let tokens = self.tokenize(&text).map_err(|e| e.to_string())?;
        let taken = matcher.try_consume_tokens(&tokens).map_err(|e| format!("{e:#}"))?;
        if taken < tokens.len() {
            let prefix = self.tok_env.tok_trie().decode_ext(&tokens[..taken], false);
            return Err(format!(
                "the schemas refuse {text} after {:?}",
                String::from_utf8_lossy(&prefix)
            ));
        }
        if !matcher.is_accepting().map_err(|e| format!("{e:#}"))? {
            return Err(format!("the schemas refuse {text}: it ends too soon"));
        }
        Ok(without_repeated_calls(written))
    }
}

/// `value` written as the grammar of `schema` writes it (see the module's doc). Of an `anyOf`,
/// the first branch the value fits is followed.
fn in_schema_order(value: &Value, schema: &Value) -> Value {
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        return match branches.iter().find(|branch| fits(value, branch)) {
            Some(branch) => in_schema_order(value, branch),
            None => value.clone(),
        };
    }
    match value {
        Value::Object(object) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let mut ordered = Map::with_capacity(object.len());
            for (key, sub_schema) in properties.into_iter().flatten() {
                if let Some(v) = object.get(key) {
                    ordered.insert(key.clone(), in_schema_order(v, sub_schema));
                }
            }
            let extra_schema = schema.get("additionalProperties").unwrap_or(&Value::Null);
            for (key, v) in object {
                if !ordered.contains_key(key) {
                    ordered.insert(key.clone(), in_schema_order(v, extra_schema));
                }
            }
            Value::Object(ordered)
        }
        Value::Array(items) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            Value::Array(items.iter().map(|v| in_schema_order(v, item_schema)).collect())
        }
        Value::Number(n) if n.is_f64() && says_integer(schema) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
            _ => value.clone(),
        },
        other => other.clone(),
    }
}

/// Whether `value` is of a type `schema` allows (any, if it names none) and, for an object,
/// has the required keys and no key a closed schema lacks.
fn fits(value: &Value, schema: &Value) -> bool {
    let allows = |t: &str| match schema.get("type") {
        None => true,
        Some(Value::String(s)) => s == t,
        Some(Value::Array(ts)) => ts.iter().any(|s| s == t),
        Some(_) => false,
    };
    match value {
        Value::Null => allows("null"),
        Value::Bool(_) => allows("boolean"),
        Value::String(_) => allows("string"),
        Value::Array(_) => allows("array"),
        Value::Number(n) => allows("number") || (allows("integer") && n.as_f64().is_some_and(|f| f.fract() == 0.0)),
        Value::Object(object) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
            let required = schema.get("required").and_then(Value::as_array);
            allows("object")
                && required
                    .into_iter()
                    .flatten()
                    .all(|k| k.as_str().is_some_and(|k| object.contains_key(k)))
                && (!closed || object.keys().all(|k| properties.is_some_and(|p| p.contains_key(k))))
        }
    }
}

fn says_integer(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer") && !ts.iter().any(|t| t == "number"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_follow_the_schema_and_whole_numbers_lose_their_fraction() {
        let schema = json!({"type": "object", "properties": {
            "room": {"type": "string"},
            "level": {"type": "integer"},
            "ramp": {"type": "number"},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "b": {"type": "integer"}, "a": {"type": "string"}}}},
        }});
        let answer =
            json!({"steps": [{"a": "x", "b": 2.0}], "ramp": 1.0, "extra": true, "level": 30.0, "room": "kitchen"});
        let written = in_schema_order(&answer, &schema);
        assert_eq!(
            serde_json::to_string(&written).unwrap(),
            r#"{"room":"kitchen","level":30,"ramp":1.0,"steps":[{"b":2,"a":"x"}],"extra":true}"#
        );
        assert_eq!(in_schema_order(&json!(30.5), &json!({"type": "integer"})), json!(30.5));
    }

    #[test]
    fn of_an_any_of_the_branch_the_value_fits_is_followed() {
        // "At least one of": whole objects as branches; Pydantic's Optional[int].
        let schema = json!({"anyOf": [
            {"type": "object", "properties": {"room": {"type": "string"}, "level": {"type": "integer"}},
             "required": ["room"], "additionalProperties": false},
            {"type": "object", "properties": {"area": {"type": "string"}, "level": {"type": "integer"}},
             "required": ["area"], "additionalProperties": false},
        ]});
        let written = in_schema_order(&json!({"level": 3.0, "area": "upstairs"}), &schema);
        assert_eq!(
            serde_json::to_string(&written).unwrap(),
            r#"{"area":"upstairs","level":3}"#
        );
        let optional = json!({"anyOf": [{"type": "integer"}, {"type": "null"}]});
        assert_eq!(in_schema_order(&json!(5.0), &optional), json!(5));
        assert_eq!(in_schema_order(&Value::Null, &optional), Value::Null);
        let none_fits = json!({"anyOf": [{"type": "string"}]});
        assert_eq!(in_schema_order(&json!(2.0), &none_fits), json!(2.0));
    }
}
