//! What the service answers: the result JSON of every call and the `ModelInfo` property.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zbus::{OwnedVariant, Variant};

/// The result JSON of every call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallResult {
    pub function_calls: Vec<FunctionCall>,
    pub confidence: f64,
    pub model: String,
    pub timings: Timings,
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
        fn get<T>(wire: &HashMap<String, OwnedVariant>, key: &str) -> Result<T, String>
        where
            T: TryFrom<OwnedVariant>,
        {
            let value = wire.get(key).ok_or_else(|| format!("ModelInfo has no {key:?}"))?;
            let copy = value.try_clone().map_err(|e| format!("ModelInfo {key:?}: {e}"))?;
            T::try_from(copy).map_err(|_| format!("ModelInfo {key:?} has type {}", value.value_signature()))
        }
        Ok(ModelInfo {
            name: get(wire, "name")?,
            version: get(wire, "version")?,
            parameters: get(wire, "parameters")?,
            quantization: get(wire, "quantization")?,
            context_length: get(wire, "context_length")?,
            license: get(wire, "license")?,
            attribution: get(wire, "attribution")?,
            prompt_format: get(wire, "prompt_format")?,
        })
    }
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
    }
}
