//! Per-request options as they travel (`a{sv}`): written by clients, type-checked by the
//! service.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zbus::{OwnedVariant, Variant};

use crate::ToolCallError;

/// Options of Call/Send/... as they travel: `a{sv}`.
pub type Options<'a> = HashMap<&'a str, Variant<'a>>;

/// Options as a service receives them.
pub type ReceivedOptions = HashMap<String, OwnedVariant>;

/// Per-request options of Call, Send and SubmitToolResults (RegisterToolset and OpenSession
/// take `model`, `follow_reloads` and `request_id` of them); `None` leaves the service's
/// default. The keys and D-Bus types are those of the introspection XML. `request_id` names
/// the request for the manager's `Cancel` and is taken by every method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallOptions {
    pub max_calls: Option<u32>,
    pub allow_empty: Option<bool>,
    pub max_new_tokens: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub facts: Option<String>,
    pub call_margin: Option<f64>,
    pub request_id: Option<String>,
    /// The result JSON's shape: "toolcalld" (the default) or "openai" ([`crate::ResultFormat`]).
    pub format: Option<String>,
    /// The bundle to run on, by its name in `ListModels` (if `None`: the default model for
    /// Call and RegisterToolset, the toolset's for OpenSession). Taken by Call,
    /// RegisterToolset and OpenSession (which takes only its toolset's).
    pub model: Option<String>,
    /// RegisterToolset only: when a reload replaces the toolset's bundle, its next call or
    /// session moves it to the new engine (its tools compiled again) instead of keeping the old.
    pub follow_reloads: Option<bool>,
    /// Call, Toolset.Call, Route and Dispatch: `false` keeps this request on the device even where the
    /// deployment escalates unsure answers to a bigger model (the default: it may).
    pub escalate: Option<bool>,
    /// The registry's Publish: the prefix of the caller's tools' names.
    pub prefix: Option<String>,
    /// The registry's Route and Dispatch: the published names to choose among (default: all).
    pub tools: Option<Vec<String>>,
}

/// The registry's Publish option: the prefix of the published tools' names.
pub const PREFIX_OPTION: &str = "prefix";

/// The registry's Route and Dispatch option: the published names to choose among.
pub const TOOLS_OPTION: &str = "tools";

/// The option that keeps one request from the escalation endpoint (`false`).
pub const ESCALATE_OPTION: &str = "escalate";

/// The option every method takes: the caller's name for the request, for `Cancel`.
pub const REQUEST_ID_OPTION: &str = "request_id";

/// The option that picks a bundle by its name; Call, RegisterToolset and OpenSession take it.
pub const MODEL_OPTION: &str = "model";

/// RegisterToolset's option to move the toolset to its bundle's new engine after a reload.
pub const FOLLOW_RELOADS_OPTION: &str = "follow_reloads";

/// The option toolcalld's debug builds accept for the fault drills (see the daemon's `fault`
/// module); never part of the public contract.
pub const TEST_FAULT_OPTION: &str = "test_fault";

impl CallOptions {
    /// The `a{sv}` a client sends.
    pub fn to_wire(&self) -> Options<'_> {
        let mut map = HashMap::new();
        if let Some(v) = self.max_calls {
            map.insert("max_calls", Variant::from(v));
        }
        if let Some(v) = self.allow_empty {
            map.insert("allow_empty", Variant::from(v));
        }
        if let Some(v) = self.max_new_tokens {
            map.insert("max_new_tokens", Variant::from(v));
        }
        if let Some(v) = self.timeout_ms {
            map.insert("timeout_ms", Variant::from(v));
        }
        if let Some(v) = &self.facts {
            map.insert("facts", Variant::from(v.as_str()));
        }
        if let Some(v) = self.call_margin {
            map.insert("call_margin", Variant::from(v));
        }
        if let Some(v) = &self.request_id {
            map.insert(REQUEST_ID_OPTION, Variant::from(v.as_str()));
        }
        if let Some(v) = &self.format {
            map.insert("format", Variant::from(v.as_str()));
        }
        if let Some(v) = &self.model {
            map.insert(MODEL_OPTION, Variant::from(v.as_str()));
        }
        if let Some(v) = self.follow_reloads {
            map.insert(FOLLOW_RELOADS_OPTION, Variant::from(v));
        }
        if let Some(v) = self.escalate {
            map.insert(ESCALATE_OPTION, Variant::from(v));
        }
        if let Some(v) = &self.prefix {
            map.insert(PREFIX_OPTION, Variant::from(v.as_str()));
        }
        if let Some(v) = &self.tools {
            map.insert(TOOLS_OPTION, Variant::from(v.clone()));
        }
        map
    }

    /// Type-checks the `a{sv}` a service received: an unknown key, a value of the wrong D-Bus
    /// type or `timeout_ms` 0 is `InvalidOptions` naming the key. With `accept_test_fault`, the
    /// `test_fault` string is returned beside the options; without it, it is an unknown key.
    pub fn from_wire(
        options: &ReceivedOptions,
        accept_test_fault: bool,
    ) -> Result<(CallOptions, Option<String>), ToolCallError> {
        fn wrong_type(key: &str, value: &OwnedVariant, signature: &str) -> ToolCallError {
            ToolCallError::InvalidOptions(format!(
                "option {key:?} must have D-Bus type {signature}, got {}",
                value.value_signature()
            ))
        }
        let u32_of =
            |key: &str, value: &OwnedVariant| value.downcast_ref::<u32>().map_err(|_| wrong_type(key, value, "u"));
        let string_of =
            |key: &str, value: &OwnedVariant| value.downcast_ref::<String>().map_err(|_| wrong_type(key, value, "s"));
        let mut parsed = CallOptions::default();
        let mut test_fault = None;
        for (key, value) in options {
            match key.as_str() {
                "max_calls" => parsed.max_calls = Some(u32_of(key, value)?),
                "allow_empty" => {
                    parsed.allow_empty = Some(value.downcast_ref::<bool>().map_err(|_| wrong_type(key, value, "b"))?)
                }
                "max_new_tokens" => parsed.max_new_tokens = Some(u32_of(key, value)?),
                "timeout_ms" => {
                    let ms = u32_of(key, value)?;
                    if ms == 0 {
                        return Err(ToolCallError::InvalidOptions("timeout_ms must be at least 1".into()));
                    }
                    parsed.timeout_ms = Some(ms);
                }
                "facts" => parsed.facts = Some(string_of(key, value)?),
                "call_margin" => {
                    parsed.call_margin = Some(value.downcast_ref::<f64>().map_err(|_| wrong_type(key, value, "d"))?)
                }
                REQUEST_ID_OPTION => parsed.request_id = Some(string_of(key, value)?),
                "format" => parsed.format = Some(string_of(key, value)?),
                MODEL_OPTION => parsed.model = Some(string_of(key, value)?),
                FOLLOW_RELOADS_OPTION => {
                    parsed.follow_reloads = Some(value.downcast_ref::<bool>().map_err(|_| wrong_type(key, value, "b"))?)
                }
                ESCALATE_OPTION => {
                    parsed.escalate = Some(value.downcast_ref::<bool>().map_err(|_| wrong_type(key, value, "b"))?)
                }
                PREFIX_OPTION => parsed.prefix = Some(string_of(key, value)?),
                TOOLS_OPTION => {
                    parsed.tools =
                        Some(Vec::<String>::try_from(value.clone()).map_err(|_| wrong_type(key, value, "as"))?)
                }
                TEST_FAULT_OPTION if accept_test_fault => test_fault = Some(string_of(key, value)?),
                other => {
                    return Err(ToolCallError::InvalidOptions(format!(
                        "unknown option {other:?} (known: max_calls, allow_empty, max_new_tokens, timeout_ms, facts, call_margin, request_id, format, model, follow_reloads, escalate, prefix, tools)"
                    )));
                }
            }
        }
        Ok((parsed, test_fault))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(options: Options<'_>) -> ReceivedOptions {
        options
            .into_iter()
            .map(|(k, v)| (k.to_string(), OwnedVariant::try_from(v).unwrap()))
            .collect()
    }

    #[test]
    fn options_survive_the_wire() {
        let sent = CallOptions {
            max_calls: Some(2),
            allow_empty: Some(false),
            max_new_tokens: Some(64),
            timeout_ms: Some(1500),
            facts: Some("date: 2026-11-26".into()),
            call_margin: Some(1.5),
            request_id: Some("turn-7".into()),
            format: Some("openai".into()),
            model: Some("tiny-b".into()),
            follow_reloads: Some(true),
            escalate: Some(false),
            prefix: Some("media".into()),
            tools: Some(vec!["media.play".into(), "media.stop".into()]),
        };
        let (back, test_fault) = CallOptions::from_wire(&received(sent.to_wire()), false).unwrap();
        assert_eq!(back, sent);
        assert_eq!(test_fault, None);
    }

    #[test]
    fn wrong_types_unknown_keys_and_a_zero_timeout_are_invalid() {
        let cases: [(&str, Variant<'_>, &str); 9] = [
            ("max_calls", Variant::from("3"), "must have D-Bus type u, got s"),
            ("allow_empty", Variant::from(1u32), "must have D-Bus type b, got u"),
            ("timeout_ms", Variant::from(0u32), "timeout_ms must be at least 1"),
            ("call_margin", Variant::from(1u32), "must have D-Bus type d, got u"),
            ("request_id", Variant::from(7u32), "must have D-Bus type s, got u"),
            ("model", Variant::from(true), "must have D-Bus type s, got b"),
            ("escalate", Variant::from("no"), "must have D-Bus type b, got s"),
            ("tools", Variant::from("media.play"), "must have D-Bus type as, got s"),
            ("temperature", Variant::from(0.5f64), "unknown option \"temperature\""),
        ];
        for (key, value, expected) in cases {
            let options = received(HashMap::from([(key, value)]));
            match CallOptions::from_wire(&options, false) {
                Err(ToolCallError::InvalidOptions(message)) => assert!(message.contains(expected), "{key}: {message}"),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn test_fault_is_an_unknown_option_unless_accepted() {
        let options = received(HashMap::from([(TEST_FAULT_OPTION, Variant::from("panic"))]));
        assert!(matches!(
            CallOptions::from_wire(&options, false),
            Err(ToolCallError::InvalidOptions(_))
        ));
        let (_, test_fault) = CallOptions::from_wire(&options, true).unwrap();
        assert_eq!(test_fault.as_deref(), Some("panic"));
    }
}
