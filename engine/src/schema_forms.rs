//! The schema shapes that tool libraries emit, brought into the subset `tools` checks:
//! local `$ref`s into `$defs` / `definitions` are inlined (Pydantic v2, zod-to-json-schema),
//! `allOf` branches are merged into one schema, `oneOf` is read as `anyOf` (an answer is one
//! value: which branch it matches is not the model's concern), OpenAPI's `nullable: true`
//! adds `"null"` to the type, and `$schema`, `$id`, `$comment` are dropped as annotations.
//! Both the model and the grammar see the result, a schema without references: the model was
//! never trained on `$ref`, and a reference it cannot follow would hide what a value must be.
//!
//! A reference that is not local (`#/$defs/...` or `#/definitions/...`), names nothing, or
//! leads back to itself (a recursive model) is an `InvalidTools` error naming the reference
//! and its JSON path; so are `allOf` branches that disagree on a keyword.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Keywords dropped as annotations of the schema document.
const DOCUMENT_ANNOTATIONS: &[&str] = &["$schema", "$id", "$comment"];
/// At most this many `$ref`s are inlined in one tool's parameters: a chain of references
/// that each use the next twice would otherwise grow exponentially.
pub const MAX_REF_EXPANSIONS: usize = 256;

/// The parameters schema of one tool with its references inlined and its shapes normalised.
pub fn normalise(parameters: &Value, path: &str) -> Result<Value> {
    let mut defs = Map::new();
    for key in ["definitions", "$defs"] {
        match parameters.get(key) {
            Some(Value::Object(d)) => defs.extend(d.iter().map(|(k, v)| (format!("#/{key}/{k}"), v.clone()))),
            Some(_) => {
                return Err(Error::tools(
                    format!("{path}.{key}"),
                    format!("{key:?} must be an object"),
                ));
            }
            None => {}
        }
    }
    let mut resolver = Resolver {
        defs,
        stack: Vec::new(),
        expansions: 0,
    };
    resolver.schema(parameters, path)
}

struct Resolver {
    /// "#/$defs/Name" -> its schema.
    defs: Map<String, Value>,
    /// The references being inlined, outermost first (a repeat is a cycle).
    stack: Vec<String>,
    expansions: usize,
}

impl Resolver {
    fn schema(&mut self, node: &Value, path: &str) -> Result<Value> {
        let Value::Object(obj) = node else {
            return Ok(node.clone());
        };
        if let Some(reference) = obj.get("$ref") {
            return self.reference(reference, obj, path);
        }
        let mut out = Map::new();
        for (key, value) in obj {
            let here = format!("{path}.{key}");
            match key.as_str() {
                "$defs" | "definitions" => {}
                k if DOCUMENT_ANNOTATIONS.contains(&k) => {}
                "properties" => {
                    let Value::Object(props) = value else {
                        return Err(Error::tools(here, "\"properties\" must be an object"));
                    };
                    let mut resolved = Map::new();
                    for (name, sub) in props {
                        resolved.insert(name.clone(), self.schema(sub, &format!("{here}.{name}"))?);
                    }
                    out.insert(key.clone(), Value::Object(resolved));
                }
                "items" | "additionalProperties" => {
                    out.insert(key.clone(), self.schema(value, &here)?);
                }
                "anyOf" | "oneOf" => {
                    if obj.contains_key("anyOf") && obj.contains_key("oneOf") {
                        return Err(Error::tools(
                            path,
                            "\"anyOf\" and \"oneOf\" in one schema are not supported",
                        ));
                    }
                    out.insert("anyOf".into(), self.branches(value, &here)?);
                }
                "allOf" => {}
                "nullable" => {}
                _ => {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        if let Some(all_of) = obj.get("allOf") {
            let here = format!("{path}.allOf");
            let Value::Array(branches) = self.branches(all_of, &here)? else {
                unreachable!("branches returns an array")
            };
            for (i, branch) in branches.into_iter().enumerate() {
                merge(&mut out, branch, &format!("{here}[{i}]"))?;
            }
        }
        if obj.get("nullable") == Some(&Value::Bool(true)) {
            out = with_null(out);
        }
        Ok(Value::Object(out))
    }

    fn branches(&mut self, value: &Value, path: &str) -> Result<Value> {
        let Value::Array(items) = value else {
            return Err(Error::tools(path, "expected an array of schemas"));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(self.schema(item, &format!("{path}[{i}]"))?);
        }
        Ok(Value::Array(out))
    }

    /// The referenced schema, with the keywords written beside `$ref` (a description, a
    /// default) laid over it.
    fn reference(&mut self, reference: &Value, obj: &Map<String, Value>, path: &str) -> Result<Value> {
        let here = format!("{path}.$ref");
        let Some(name) = reference.as_str() else {
            return Err(Error::tools(here, "\"$ref\" must be a string"));
        };
        let Some(target) = self.defs.get(name).cloned() else {
            let why = if name.starts_with("#/$defs/") || name.starts_with("#/definitions/") {
                "names no schema in \"$defs\" or \"definitions\""
            } else {
                "is not a local reference (only \"#/$defs/...\" and \"#/definitions/...\" are supported)"
            };
            return Err(Error::tools(here, format!("$ref {name:?} {why}")));
        };
        if self.stack.iter().any(|s| s == name) {
            return Err(Error::tools(
                here,
                format!("$ref {name:?} refers to itself (a recursive schema): recursive schemas are not supported"),
            ));
        }
        self.expansions += 1;
        if self.expansions > MAX_REF_EXPANSIONS {
            return Err(Error::tools(
                here,
                format!("more than {MAX_REF_EXPANSIONS} $ref expansions in one tool"),
            ));
        }
        self.stack.push(name.to_string());
        let resolved = self.schema(&target, &format!("{path}<{name}>"));
        self.stack.pop();
        let Value::Object(mut resolved) = resolved? else {
            return Err(Error::tools(here, format!("$ref {name:?} must name a schema object")));
        };
        let siblings: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| *k != "$ref")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Value::Object(siblings) = self.schema(&Value::Object(siblings), path)? {
            resolved.extend(siblings);
        }
        Ok(Value::Object(resolved))
    }
}

/// Lays one `allOf` branch over the schema built so far: properties and `required` are
/// united; any other keyword must agree where both give it.
fn merge(out: &mut Map<String, Value>, branch: Value, path: &str) -> Result<()> {
    let Value::Object(branch) = branch else {
        return Err(Error::tools(path, "an \"allOf\" branch must be a schema object"));
    };
    for (key, value) in branch {
        match (key.as_str(), out.get_mut(&key)) {
            (_, None) => {
                out.insert(key, value);
            }
            ("properties", Some(Value::Object(props))) => {
                let Value::Object(more) = value else {
                    return Err(Error::tools(
                        format!("{path}.properties"),
                        "\"properties\" must be an object",
                    ));
                };
                for (name, schema) in more {
                    match props.get(&name) {
                        Some(existing) if existing != &schema => {
                            return Err(Error::tools(
                                format!("{path}.properties.{name}"),
                                format!("\"allOf\" branches give property {name:?} different schemas"),
                            ));
                        }
                        _ => {
                            props.insert(name, schema);
                        }
                    }
                }
            }
            ("required", Some(Value::Array(names))) => {
                for name in value.as_array().into_iter().flatten() {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
            ("description" | "title" | "default" | "examples", Some(_)) => {}
            (_, Some(existing)) if *existing == value => {}
            (_, Some(_)) => {
                return Err(Error::tools(
                    format!("{path}.{key}"),
                    format!("\"allOf\" branches disagree on {key:?}: they cannot be merged into one schema"),
                ));
            }
        }
    }
    Ok(())
}

/// OpenAPI's `nullable: true`: the type also allows null (an `enum` gets `null` too).
fn with_null(mut schema: Map<String, Value>) -> Map<String, Value> {
    let null = Value::String("null".into());
    match schema.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = Value::String(std::mem::take(t));
            schema.insert("type".into(), Value::Array(vec![t, null]));
        }
        Some(Value::Array(types)) if !types.contains(&null) => types.push(null),
        _ => {}
    }
    if let Some(Value::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    schema
}

/// For the grammar only: an object whose `anyOf` branches only name required properties
/// (`{"anyOf": [{"required": ["artist"]}, {"required": ["playlist"]}]}`: "at least one of")
/// becomes an `anyOf` of whole objects, each with the object's properties and the branch's
/// required names added, which llguidance compiles exactly. The model sees the schema as
/// written. None when the schema is not of this shape.
pub fn required_alternatives(obj: &Map<String, Value>) -> Option<Value> {
    let Some(Value::Array(branches)) = obj.get("anyOf") else {
        return None;
    };
    let only_required = |b: &Value| {
        b.as_object().is_some_and(|b| {
            b.contains_key("required")
                && b.keys()
                    .all(|k| ["required", "description", "title"].contains(&k.as_str()))
        })
    };
    if !obj.contains_key("properties") || !branches.iter().all(only_required) {
        return None;
    }
    let mut base = obj.clone();
    base.remove("anyOf");
    let alternatives: Vec<Value> = branches
        .iter()
        .map(|branch| {
            let mut whole = base.clone();
            let mut required = whole
                .get("required")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for name in branch["required"].as_array().into_iter().flatten() {
                if !required.contains(name) {
                    required.push(name.clone());
                }
            }
            whole.insert("required".into(), Value::Array(required));
            Value::Object(whole)
        })
        .collect();
    Some(serde_json::json!({ "anyOf": alternatives }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refs_are_inlined_with_their_siblings() {
        let params = json!({
            "type": "object",
            "$defs": {"Room": {"type": "string", "enum": ["kitchen", "hall"]}},
            "properties": {"room": {"$ref": "#/$defs/Room", "description": "where"}},
        });
        let got = normalise(&params, "$").unwrap();
        assert_eq!(
            got,
            json!({"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "hall"], "description": "where"}}})
        );
    }

    #[test]
    fn a_recursive_ref_is_refused_by_name() {
        let params = json!({
            "type": "object",
            "definitions": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node"}}}},
            "properties": {"head": {"$ref": "#/definitions/Node"}},
        });
        let err = normalise(&params, "$[0].parameters").unwrap_err().to_string();
        assert!(err.contains("\"#/definitions/Node\" refers to itself"), "{err}");
        assert!(
            err.contains("$[0].parameters.properties.head<#/definitions/Node>.properties.next.$ref"),
            "{err}"
        );
    }

    #[test]
    fn all_of_merges_and_refuses_conflicts() {
        let params = json!({"type": "object", "allOf": [
            {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}}, "required": ["b"]},
        ]});
        assert_eq!(
            normalise(&params, "$").unwrap(),
            json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a", "b"]})
        );
        let clash = json!({"type": "object", "allOf": [{"type": "object"}, {"type": "string"}]});
        assert!(
            normalise(&clash, "$")
                .unwrap_err()
                .to_string()
                .contains("disagree on \"type\"")
        );
    }

    #[test]
    fn required_only_branches_become_whole_objects() {
        let params = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                            "required": ["x"], "anyOf": [{"required": ["a"]}, {"required": ["b"]}]});
        let got = required_alternatives(params.as_object().unwrap()).unwrap();
        assert_eq!(got["anyOf"][1]["required"], json!(["x", "b"]));
        assert_eq!(got["anyOf"][0]["properties"], params["properties"]);
        assert!(got["anyOf"][0].get("anyOf").is_none());
        let plain = json!({"type": "object", "anyOf": [{"type": "object"}]});
        assert!(required_alternatives(plain.as_object().unwrap()).is_none());
    }

    #[test]
    fn malformed_or_exploding_references_are_named_errors() {
        let error = |params: Value| normalise(&params, "$").unwrap_err().to_string();
        // Each definition uses the next twice: 2^12 expansions if nothing stopped them.
        let mut defs = Map::new();
        for i in 0..12 {
            let next = json!({"$ref": format!("#/$defs/D{}", i + 1)});
            defs.insert(
                format!("D{i}"),
                json!({"type": "object", "properties": {"a": next, "b": next}}),
            );
        }
        defs.insert("D12".into(), json!({"type": "string"}));
        let chain = json!({"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/D0"}}});
        assert!(error(chain).contains("more than 256 $ref expansions"));
        assert!(error(json!({"type": "object", "$defs": []})).contains("\"$defs\" must be an object"));
        let both = json!({"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}], "oneOf": [{"type": "integer"}]}}});
        assert!(error(both).contains("\"anyOf\" and \"oneOf\" in one schema"));
    }

    #[test]
    fn one_of_and_nullable_become_any_of_and_null() {
        let params = json!({"type": "object", "properties": {
            "x": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "y": {"type": "string", "nullable": true, "enum": ["a"]},
        }});
        let got = normalise(&params, "$").unwrap();
        assert_eq!(
            got["properties"]["x"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(
            got["properties"]["y"],
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );
    }
}
