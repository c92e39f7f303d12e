//! The system-wide tool catalogue behind `org.toolcalld.ToolCall1.Registry`: what each provider
//! app published, under a prefix only its connection may use, freed when it leaves the bus; and
//! the tool list a Route chooses among, with the way back from a published name to the provider
//! that carries it out. The D-Bus methods are in `objects/registry.rs`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use serde_json::{Value, json};
use toolcall_dbus::{PUBLICATIONS_PATH, ToolCallError};
use toolcall_engine::ToolLimits;
use toolcall_engine::retrieval::Narrowing;
use toolcall_engine::tools::MAX_NAME_LEN;
use zbus::OwnedObjectPath;

use crate::errors::engine_error;

mod policy;

pub use policy::{PrefixAccess, check_table};

/// Most tools all providers together may publish.
pub const MAX_PUBLISHED_TOOLS: usize = 1024;

/// Bytes of tool lists all providers together may publish (as the registry serves them).
pub const MAX_PUBLISHED_BYTES: usize = 4 << 20;

/// Most prefixes one connection may hold.
pub const MAX_PREFIXES_PER_PROVIDER: usize = 4;

/// One provider's tools.
struct Publication {
    /// The provider's unique bus name (or a peer's label).
    owner: String,
    provider_path: OwnedObjectPath,
    handle: OwnedObjectPath,
    /// Its tools as validated, named `prefix.name`.
    tools: Vec<Value>,
    /// Their names as the provider gave them, in the same order.
    own_names: Vec<String>,
    /// Bytes of `tools` as JSON.
    bytes: usize,
}

/// Where a published tool is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub owner: String,
    pub path: String,
    /// The tool's name without the prefix.
    pub tool: String,
}

/// The tools a Route chooses among: their list (a tools JSON) and each one's provider.
pub struct Chosen {
    pub tools_json: String,
    pub providers: BTreeMap<String, Provider>,
}

#[derive(Default)]
pub struct Registry {
    /// By prefix.
    publications: Mutex<BTreeMap<String, Publication>>,
    next_handle: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// Publishes `tools_json` for `owner` under `prefix` (replacing what it published there
    /// before); the handle for Unpublish. `AccessDenied` if another connection holds the prefix.
    pub fn publish(
        &self,
        owner: &str,
        (prefix, provider_path): (&str, OwnedObjectPath),
        tools_json: &str,
        limits: &ToolLimits,
    ) -> Result<OwnedObjectPath, ToolCallError> {
        check_prefix(prefix)?;
        let parsed = toolcall_engine::tools::parse_tools(tools_json, limits).map_err(engine_error)?;
        let tools: Vec<Value> = parsed
            .iter()
            .map(|t| json!({"name": format!("{prefix}.{}", t.name), "description": t.description, "parameters": t.parameters}))
            .collect();
        // What Route will be given, checked as it will be: the prefixed names' length, and
        // the size with `$ref`s inlined.
        if let Some(long) = parsed.iter().find(|t| prefix.len() + 1 + t.name.len() > MAX_NAME_LEN) {
            return Err(ToolCallError::InvalidTools(format!(
                "{prefix}.{} is longer than {MAX_NAME_LEN} bytes",
                long.name
            )));
        }
        let served = serde_json::to_string(&tools).expect("tools serialise");
        toolcall_engine::tools::check_size(&served, limits).map_err(engine_error)?;
        let mut publications = self.publications.lock().expect("registry lock");
        if let Some(held) = publications.get(prefix)
            && held.owner != owner
        {
            return Err(ToolCallError::AccessDenied(format!(
                "prefix {prefix:?} is another provider's"
            )));
        }
        let held = publications.values().filter(|p| p.owner == owner).count();
        if !publications.contains_key(prefix) && held >= MAX_PREFIXES_PER_PROVIDER {
            return Err(ToolCallError::LimitExceeded(format!(
                "a provider may hold at most {MAX_PREFIXES_PER_PROVIDER} prefixes"
            )));
        }
        let others: usize = publications
            .iter()
            .filter(|(p, _)| p.as_str() != prefix)
            .map(|(_, p)| p.tools.len())
            .sum();
        if others + parsed.len() > MAX_PUBLISHED_TOOLS {
            return Err(ToolCallError::LimitExceeded(format!(
                "the registry holds at most {MAX_PUBLISHED_TOOLS} tools; {others} are published"
            )));
        }
        let other_bytes: usize = publications
            .iter()
            .filter(|(p, _)| p.as_str() != prefix)
            .map(|(_, p)| p.bytes)
            .sum();
        if other_bytes + served.len() > MAX_PUBLISHED_BYTES {
            return Err(ToolCallError::LimitExceeded(format!(
                "the registry holds at most {MAX_PUBLISHED_BYTES} bytes of tools; {other_bytes} are published"
            )));
        }
        let n = self.next_handle.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let handle = OwnedObjectPath::try_from(format!("{PUBLICATIONS_PATH}/{prefix}_{n}")).expect("valid path");
        publications.insert(
            prefix.to_string(),
            Publication {
                owner: owner.to_string(),
                provider_path,
                handle: handle.clone(),
                tools,
                own_names: parsed.into_iter().map(|t| t.name).collect(),
                bytes: served.len(),
            },
        );
        Ok(handle)
    }

    /// Takes `owner`'s publication `handle` back; `AccessDenied` for another's or none.
    pub fn unpublish(&self, owner: &str, handle: &str) -> Result<(), ToolCallError> {
        let mut publications = self.publications.lock().expect("registry lock");
        let prefix = publications
            .iter()
            .find(|(_, p)| p.handle.as_str() == handle && p.owner == owner)
            .map(|(prefix, _)| prefix.clone())
            .ok_or_else(|| ToolCallError::AccessDenied(format!("no publication of yours at {handle}")))?;
        publications.remove(&prefix);
        Ok(())
    }

    /// `owner` left: its publications go. Whether it had any.
    pub fn depart(&self, owner: &str) -> bool {
        let mut publications = self.publications.lock().expect("registry lock");
        let before = publications.len();
        publications.retain(|_, p| p.owner != owner);
        publications.len() != before
    }

    /// Where `name` is carried out now (a provider may have unpublished it since it was routed).
    pub fn provider_of(&self, name: &str) -> Option<Provider> {
        let publications = self.publications.lock().expect("registry lock");
        let (prefix, own_name) = name.split_once('.')?;
        let publication = publications.get(prefix)?;
        publication.own_names.iter().any(|n| n == own_name).then(|| Provider {
            owner: publication.owner.clone(),
            path: publication.provider_path.to_string(),
            tool: own_name.to_string(),
        })
    }

    /// Every published tool `access` reaches, with its provider's bus name: the `Tools`
    /// property.
    pub fn catalogue_json(&self, access: &PrefixAccess) -> String {
        let publications = self.publications.lock().expect("registry lock");
        let tools: Vec<Value> = publications
            .iter()
            .filter(|(prefix, _)| access.allows(prefix))
            .flat_map(|(_, p)| {
                p.tools.iter().map(|t| {
                    let mut t = t.clone();
                    t["provider"] = json!(p.owner);
                    t
                })
            })
            .collect();
        serde_json::to_string(&tools).expect("tools serialise")
    }

    /// The tools named by `names` (all that `access` reaches, if `None`), as one tool list,
    /// each with its provider. `InvalidOptions` for a name nobody published; `AccessDenied` for
    /// one `access` does not reach; `LimitExceeded` naming `max_tools` or `max_tools_bytes` for
    /// more than a request may have, unless retrieval will narrow the list (`narrowing`) to
    /// what it may have.
    pub fn choose(
        &self,
        names: Option<&[String]>,
        (limits, narrowing): (&ToolLimits, Narrowing),
        access: &PrefixAccess,
    ) -> Result<Chosen, ToolCallError> {
        if names.is_some_and(|n| n.is_empty() || n.len() > limits.max_tools) {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"tools\" names 1 to max_tools ({}) tools",
                limits.max_tools
            )));
        }
        // A name under a prefix kept from this caller is refused whether or not it is published:
        // the answer must not tell which tools are there.
        if let Some(hidden) = names
            .into_iter()
            .flatten()
            .find(|n| n.split_once('.').is_some_and(|(prefix, _)| !access.allows(prefix)))
        {
            return Err(ToolCallError::AccessDenied(format!(
                "{hidden} is not routed for you (registry_allow)"
            )));
        }
        let names: Option<HashSet<&String>> = names.map(|n| n.iter().collect());
        let publications = self.publications.lock().expect("registry lock");
        let mut tools = Vec::new();
        let mut providers = BTreeMap::new();
        let mut denied = false;
        for (prefix, publication) in publications.iter() {
            for (tool, own_name) in publication.tools.iter().zip(&publication.own_names) {
                let name = tool["name"].as_str().unwrap_or_default().to_string();
                if names.as_ref().is_some_and(|names| !names.contains(&name)) {
                    continue;
                }
                if !access.allows(prefix) {
                    denied = true;
                    continue;
                }
                tools.push(tool.clone());
                let provider = Provider {
                    owner: publication.owner.clone(),
                    path: publication.provider_path.to_string(),
                    tool: own_name.clone(),
                };
                providers.insert(name, provider);
            }
        }
        if let Some(missing) = names
            .into_iter()
            .flatten()
            .find(|n| !providers.contains_key(n.as_str()))
        {
            return Err(ToolCallError::InvalidOptions(format!(
                "option \"tools\": no published tool {missing:?}"
            )));
        }
        if tools.is_empty() && denied {
            return Err(ToolCallError::AccessDenied(
                "no published tool is routed for you (registry_allow)".into(),
            ));
        }
        if tools.is_empty() {
            return Err(ToolCallError::InvalidOptions("no tools are published".into()));
        }
        let narrowed = narrowing.applies(tools.len());
        if tools.len() > limits.max_tools && !narrowed {
            return Err(ToolCallError::LimitExceeded(format!(
                "max_tools: {} tools are published, a request may have {}; choose with the option \"tools\"",
                tools.len(),
                limits.max_tools
            )));
        }
        let tools_json = serde_json::to_string(&tools).expect("tools serialise");
        if !narrowed {
            toolcall_engine::tools::check_size(&tools_json, limits).map_err(engine_error)?;
        }
        Ok(Chosen { tools_json, providers })
    }
}

/// 1 to 32 of a-z, 0-9 and _, starting with a letter.
fn check_prefix(prefix: &str) -> Result<(), ToolCallError> {
    let mut chars = prefix.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && prefix.len() <= 32;
    if ok {
        Ok(())
    } else {
        Err(ToolCallError::InvalidOptions(format!(
            "option \"prefix\" {prefix:?}: 1 to 32 of a-z, 0-9 and _, starting with a letter"
        )))
    }
}

#[cfg(test)]
mod tests;
