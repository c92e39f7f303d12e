//! What the service answers: the result JSON of every call and the `ModelInfo` property.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zbus::{OwnedVariant, Variant};

/// The result JSON of every call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallResult {
    pub function_calls: Vec<FunctionCall>,
    /// The local model's confidence in its answer (also when the calls are the escalation
    /// endpoint's, whose own confidence is not known).
    pub confidence: f64,
    pub model: String,
    pub timings: Timings,
    /// Whether the calls are the escalation endpoint's answer instead of the local model's.
    #[serde(default)]
    pub escalated: bool,
    /// Set when the request was sent to the deployment's escalation endpoint, answered or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

/// A request sent to the escalation endpoint (the daemon's `escalation_*` settings).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Escalation {
    /// The endpoint's name (`escalation_name`).
    pub endpoint: String,
    /// Why it went: "confidence 0.410 below 0.9" or "no call".
    pub reason: String,
    /// Why the local answer stands, when it does (a timeout, a failure, an answer the schemas
    /// refuse); absent when the endpoint's answer was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Milliseconds the endpoint took (or was waited for).
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub queue_ms: f64,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub total_ms: f64,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub generated_tokens: u64,
}

/// The `ModelInfo` property (`a{sv}`): the bundle's manifest as the service reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    /// Parameters of the model, all layers and the embedding.
    pub parameters: u64,
    /// The bundle's weight forms, as the JSON of its manifest's `quantization`.
    pub quantization: String,
    pub context_length: u32,
    pub license: String,
    pub attribution: String,
    pub prompt_format: String,
}

impl ModelInfo {
    /// The `a{sv}` the service publishes.
    pub fn to_wire(&self) -> HashMap<String, OwnedVariant> {
        let entries: [(&str, Variant<'_>); 8] = [
            ("name", Variant::from(self.name.as_str())),
            ("version", Variant::from(self.version.as_str())),
            ("parameters", Variant::from(self.parameters)),
            ("quantization", Variant::from(self.quantization.as_str())),
            ("context_length", Variant::from(self.context_length)),
            ("license", Variant::from(self.license.as_str())),
            ("attribution", Variant::from(self.attribution.as_str())),
            ("prompt_format", Variant::from(self.prompt_format.as_str())),
        ];
        entries
            .into_iter()
            .map(|(key, value)| (key.to_string(), value.try_into_owned().expect("plain value")))
            .collect()
    }

    /// Reads the `a{sv}` back; a key that is missing or of another type is named in the error.
    pub fn from_wire(wire: &HashMap<String, OwnedVariant>) -> Result<ModelInfo, String> {
        Ok(ModelInfo {
            name: get(wire, "ModelInfo", "name")?,
            version: get(wire, "ModelInfo", "version")?,
            parameters: get(wire, "ModelInfo", "parameters")?,
            quantization: get(wire, "ModelInfo", "quantization")?,
            context_length: get(wire, "ModelInfo", "context_length")?,
            license: get(wire, "ModelInfo", "license")?,
            attribution: get(wire, "ModelInfo", "attribution")?,
            prompt_format: get(wire, "ModelInfo", "prompt_format")?,
        })
    }
}

/// One bundle of `ListModels` (`a{sv}`): `model`, its name for the `model` option (its
/// directory's); `default`, whether requests without that option run on it; `loaded`, whether
/// its weights are in memory now; `weights_mb`, what loading it costs against `max_models_mb`;
/// and its manifest's fields as in [`ModelInfo`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    pub model: String,
    pub default: bool,
    pub loaded: bool,
    pub weights_mb: u32,
    pub info: ModelInfo,
}

impl ModelEntry {
    pub fn to_wire(&self) -> HashMap<String, OwnedVariant> {
        let mut wire = self.info.to_wire();
        let own: [(&str, Variant<'_>); 4] = [
            ("model", Variant::from(self.model.as_str())),
            ("default", Variant::from(self.default)),
            ("loaded", Variant::from(self.loaded)),
            ("weights_mb", Variant::from(self.weights_mb)),
        ];
        for (key, value) in own {
            wire.insert(key.to_string(), value.try_into_owned().expect("plain value"));
        }
        wire
    }

    pub fn from_wire(wire: &HashMap<String, OwnedVariant>) -> Result<ModelEntry, String> {
        Ok(ModelEntry {
            model: get(wire, "ListModels entry", "model")?,
            default: get(wire, "ListModels entry", "default")?,
            loaded: get(wire, "ListModels entry", "loaded")?,
            weights_mb: get(wire, "ListModels entry", "weights_mb")?,
            info: ModelInfo::from_wire(wire)?,
        })
    }
}

/// The value of `key` in the `a{sv}` `what`; a key that is missing or of another type is named
/// in the error.
fn get<T>(wire: &HashMap<String, OwnedVariant>, what: &str, key: &str) -> Result<T, String>
where
    T: TryFrom<OwnedVariant>,
{
    let value = wire.get(key).ok_or_else(|| format!("{what} has no {key:?}"))?;
    let copy = value.try_clone().map_err(|e| format!("{what} {key:?}: {e}"))?;
    T::try_from(copy).map_err(|_| format!("{what} {key:?} has type {}", value.value_signature()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_info_survives_the_wire() {
        let info = ModelInfo {
            name: "smollm2-135m-toolcall".into(),
            version: "9".into(),
            parameters: 134_515_008,
            quantization: r#"{"form":"f32"}"#.into(),
            context_length: 8192,
            license: "Apache-2.0".into(),
            attribution: "SmolLM2".into(),
            prompt_format: "chatml-tools-v1".into(),
        };
        assert_eq!(ModelInfo::from_wire(&info.to_wire()).unwrap(), info);
        let mut wire = info.to_wire();
        wire.remove("license");
        assert_eq!(ModelInfo::from_wire(&wire).unwrap_err(), "ModelInfo has no \"license\"");
        let entry = ModelEntry {
            model: "tiny-b".into(),
            default: false,
            loaded: true,
            weights_mb: 13,
            info,
        };
        assert_eq!(ModelEntry::from_wire(&entry.to_wire()).unwrap(), entry);
    }
}
