//! Tool lists: parsing, validation against the supported JSON Schema subset, and the
//! normalised parameter schemas the output grammar is built from.
//!
//! Supported keywords (anything else is an error naming the keyword and its JSON path, never
//! a silent drop): `type`, `properties`, `required`, `additionalProperties`, `items`,
//! `minItems`, `maxItems`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `multipleOf`, `minLength`, `maxLength`, `pattern`, `format` (date-time,
//! time, date, duration, email, hostname, ipv4, ipv6, uuid, uri), `anyOf`, and the annotations
//! `description`, `title`, `default`, `examples`. Objects without `additionalProperties` get
//! `false` in the grammar, so the model cannot invent argument names. Before these checks,
//! `schema_forms` inlines `$ref`s into `$defs`/`definitions`, merges `allOf`, reads `oneOf`
//! as `anyOf` and `nullable` as a null type, and drops `$schema`, `$id` and `$comment`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Limit, Result};
use crate::schema_forms;

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "anyOf",
    "description",
    "title",
    "default",
    "examples",
];
const FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
    "uri",
];
const TYPES: &[&str] = &["string", "number", "integer", "boolean", "object", "array", "null"];
/// The fields of a tool; the schema may come under any one of PARAMETER_FIELDS (OpenAI's
/// `parameters`, MCP's `inputSchema`, Anthropic's `input_schema`).
const TOOL_FIELDS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "inputSchema",
    "input_schema",
    "strict",
];
const PARAMETER_FIELDS: &[&str] = &["parameters", "inputSchema", "input_schema"];
/// MCP tool fields that say nothing about the call (a display title, behaviour hints, the
/// result's schema, metadata): accepted and not shown to the model.
const IGNORED_TOOL_FIELDS: &[&str] = &["title", "annotations", "outputSchema", "_meta"];
/// Longest tool name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Limits applied while validating a tool list.
#[derive(Debug, Clone)]
pub struct ToolLimits {
    pub max_tools_bytes: usize,
    pub max_tools: usize,
    pub max_schema_depth: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits {
            max_tools_bytes: 256 * 1024,
            max_tools: 64,
            max_schema_depth: 16,
        }
    }
}

/// One validated tool.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The parameters schema as the caller gave it, with `$ref`s inlined and the shapes of
    /// `schema_forms` normalised (shown to the model).
    pub parameters: Value,
    /// The parameters schema the grammar enforces (additionalProperties made explicit).
    #[serde(skip)]
    pub grammar_parameters: Value,
}

/// Parses and validates a JSON tool list: `[{"name", "description", "parameters"}]`, also
/// accepting the OpenAI wrapper `{"type": "function", "function": {...}}` and the schema as
/// MCP's `inputSchema` or Anthropic's `input_schema`.
/// `LimitExceeded` (`max_tools_bytes`) for a tools JSON text too long to read: the first check
/// of [`parse_tools`], also made by a service before it hashes or queues the text.
pub fn check_size(tools_json: &str, limits: &ToolLimits) -> Result<()> {
    if tools_json.len() > limits.max_tools_bytes {
        return Err(Error::LimitExceeded {
            limit: Limit::ToolsBytes,
            detail: format!(
                "{} bytes of tools JSON, at most {}",
                tools_json.len(),
                limits.max_tools_bytes
            ),
        });
    }
    Ok(())
}

pub fn parse_tools(tools_json: &str, limits: &ToolLimits) -> Result<Vec<Tool>> {
    check_size(tools_json, limits)?;
    let value: Value =
        serde_json::from_str(tools_json).map_err(|e| Error::tools("$", format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(Error::tools("$", "expected a JSON array of tools"));
    };
    if items.len() > limits.max_tools {
        return Err(Error::LimitExceeded {
            limit: Limit::ToolCount,
            detail: format!("{} tools, at most {}", items.len(), limits.max_tools),
        });
    }
    if items.is_empty() {
        return Err(Error::tools("$", "the tool list is empty"));
    }
    let mut tools: Vec<Tool> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let tool = parse_tool(item, &format!("$[{i}]"), limits)?;
        if tools.iter().any(|t| t.name == tool.name) {
            return Err(Error::tools(
                format!("$[{i}].name"),
                format!("duplicate tool name {:?}", tool.name),
            ));
        }
        tools.push(tool);
    }
    Ok(tools)
}

fn parse_tool(item: Value, path: &str, limits: &ToolLimits) -> Result<Tool> {
    let Value::Object(mut obj) = item else {
        return Err(Error::tools(path, "a tool must be a JSON object"));
    };
    let mut path = path.to_string();
    if obj.get("type").and_then(Value::as_str) == Some("function") && obj.contains_key("function") {
        path.push_str(".function");
        match obj.remove("function") {
            Some(Value::Object(inner)) => obj = inner,
            _ => return Err(Error::tools(path, "\"function\" must be an object")),
        }
    }
    for key in obj.keys() {
        if !TOOL_FIELDS.contains(&key.as_str()) && !IGNORED_TOOL_FIELDS.contains(&key.as_str()) {
            return Err(Error::tools(
                format!("{path}.{key}"),
                format!("unsupported tool field {key:?}"),
            ));
        }
    }
    let name = match obj.remove("name") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(Error::tools(format!("{path}.name"), "the name must be a string")),
        None => return Err(Error::tools(path, "missing \"name\"")),
    };
    check_name(&name).map_err(|m| Error::tools(format!("{path}.name"), m))?;
    let description = match obj.remove("description") {
        Some(Value::String(s)) => s,
        None => String::new(),
        Some(_) => {
            return Err(Error::tools(
                format!("{path}.description"),
                "the description must be a string",
            ));
        }
    };
    let mut given = PARAMETER_FIELDS.iter().filter_map(|&k| obj.remove(k).map(|v| (k, v)));
    let (field, parameters) = given
        .next()
        .unwrap_or(("parameters", serde_json::json!({"type": "object", "properties": {}})));
    let params_path = format!("{path}.{field}");
    if let Some((other, _)) = given.next() {
        return Err(Error::tools(
            format!("{path}.{other}"),
            format!("a tool gives its schema once: both {field:?} and {other:?}"),
        ));
    }
    let parameters = schema_forms::normalise(&parameters, &params_path)?;
    if parameters.get("type").and_then(Value::as_str) != Some("object") {
        return Err(Error::tools(
            &params_path,
            "parameters must be a schema with \"type\": \"object\"",
        ));
    }
    let grammar_parameters = check_schema(&parameters, &params_path, 0, limits)?;
    Ok(Tool {
        name,
        description,
        parameters,
        grammar_parameters,
    })
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    let valid_start = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.len() > MAX_NAME_LEN {
        Err(format!("tool name longer than {MAX_NAME_LEN} bytes"))
    } else if !valid_start || !valid_rest {
        Err(format!(
            "tool name {name:?} must start with a letter or '_' and hold only ASCII letters, digits, '_', '.' and '-'"
        ))
    } else {
        Ok(())
    }
}

/// Validates one schema node and returns its grammar form.
fn check_schema(schema: &Value, path: &str, depth: usize, limits: &ToolLimits) -> Result<Value> {
    if depth > limits.max_schema_depth {
        return Err(Error::LimitExceeded {
            limit: Limit::SchemaDepth,
            detail: format!("schema nested deeper than {} at {path}", limits.max_schema_depth),
        });
    }
    let obj = match schema {
        Value::Object(obj) => obj,
        Value::Bool(true) => return Ok(schema.clone()),
        _ => return Err(Error::tools(path, "a schema must be a JSON object")),
    };
    if let Some(alternatives) = schema_forms::required_alternatives(obj) {
        return check_schema(&alternatives, path, depth, limits);
    }
    let mut out = Map::new();
    for (key, value) in obj {
        let here = format!("{path}.{key}");
        if !KEYWORDS.contains(&key.as_str()) {
            return Err(Error::tools(here, format!("unsupported JSON Schema keyword {key:?}")));
        }
        let checked = match key.as_str() {
            "type" => {
                let ok = match value {
                    Value::String(t) => TYPES.contains(&t.as_str()),
                    Value::Array(ts) => {
                        !ts.is_empty() && ts.iter().all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t)))
                    }
                    _ => false,
                };
                if !ok {
                    return Err(Error::tools(here, format!("unknown type {value}")));
                }
                value.clone()
            }
            "properties" => {
                let Value::Object(props) = value else {
                    return Err(Error::tools(here, "\"properties\" must be an object"));
                };
                let mut checked = Map::new();
                for (name, sub) in props {
                    if name.is_empty() || name.len() > 128 {
                        return Err(Error::tools(&here, "property names must be 1 to 128 bytes"));
                    }
                    checked.insert(
                        name.clone(),
                        check_schema(sub, &format!("{here}.{name}"), depth + 1, limits)?,
                    );
                }
                Value::Object(checked)
            }
            "items" | "additionalProperties" => match value {
                Value::Bool(_) => value.clone(),
                _ => check_schema(value, &here, depth + 1, limits)?,
            },
            "anyOf" => {
                let Value::Array(branches) = value else {
                    return Err(Error::tools(here, "\"anyOf\" must be an array"));
                };
                if branches.is_empty() {
                    return Err(Error::tools(here, "\"anyOf\" must not be empty"));
                }
                let mut checked = Vec::new();
                for (i, b) in branches.iter().enumerate() {
                    checked.push(check_schema(b, &format!("{here}[{i}]"), depth + 1, limits)?);
                }
                Value::Array(checked)
            }
            "required" => {
                let names = value.as_array().filter(|a| a.iter().all(Value::is_string));
                if names.is_none() {
                    return Err(Error::tools(here, "\"required\" must be an array of strings"));
                }
                value.clone()
            }
            "enum" => {
                if value.as_array().is_none_or(|a| a.is_empty()) {
                    return Err(Error::tools(here, "\"enum\" must be a non-empty array"));
                }
                value.clone()
            }
            "format" => {
                if !value.as_str().is_some_and(|f| FORMATS.contains(&f)) {
                    return Err(Error::tools(
                        here,
                        format!("unsupported format {value} (supported: {})", FORMATS.join(", ")),
                    ));
                }
                value.clone()
            }
            "pattern" => {
                if !value.is_string() {
                    return Err(Error::tools(here, "\"pattern\" must be a string"));
                }
                value.clone()
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                if !value.is_number() {
                    return Err(Error::tools(here, format!("{key:?} must be a number")));
                }
                value.clone()
            }
            "multipleOf" => {
                if !value.as_f64().is_some_and(|v| v > 0.0) {
                    return Err(Error::tools(here, "\"multipleOf\" must be a positive number"));
                }
                value.clone()
            }
            "minItems" | "maxItems" | "minLength" | "maxLength" => {
                if !value.is_u64() {
                    return Err(Error::tools(here, format!("{key:?} must be a non-negative integer")));
                }
                value.clone()
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), checked);
    }
    check_ranges(obj, path)?;
    if let Some(Value::Array(required)) = obj.get("required") {
        let props = obj.get("properties").and_then(Value::as_object);
        let open = obj
            .get("additionalProperties")
            .is_some_and(|v| v != &Value::Bool(false));
        for name in required.iter().filter_map(Value::as_str) {
            if !open && !props.is_some_and(|p| p.contains_key(name)) {
                return Err(Error::tools(
                    format!("{path}.required"),
                    format!("required property {name:?} is not in \"properties\""),
                ));
            }
        }
    }
    let is_object = obj.get("type").and_then(Value::as_str) == Some("object") || obj.contains_key("properties");
    if is_object && !obj.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Ok(Value::Object(out))
}

/// Contradictory bounds (`minimum > maximum` and the like) make a schema nothing can satisfy.
fn check_ranges(obj: &Map<String, Value>, path: &str) -> Result<()> {
    for (lo, hi) in [
        ("minimum", "maximum"),
        ("minLength", "maxLength"),
        ("minItems", "maxItems"),
    ] {
        if let (Some(a), Some(b)) = (obj.get(lo).and_then(Value::as_f64), obj.get(hi).and_then(Value::as_f64))
            && a > b
        {
            return Err(Error::tools(
                path,
                format!("{lo} {a} is greater than {hi} {b}: no value can satisfy it"),
            ));
        }
    }
    Ok(())
}
