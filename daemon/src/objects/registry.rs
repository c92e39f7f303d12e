//! `org.toolcalld.ToolCall1.Registry` at /org/toolcalld/ToolCall1: providers publish their tools
//! (`crate::registry` keeps them), assistants have a request routed among them (`Route`: a
//! one-shot call on the published tools, each call naming its provider) or carried out
//! (`Dispatch`: each call then invoked on its provider's `org.toolcalld.ToolProvider1`, within
//! `dispatch_timeout_ms`; a provider that fails, is too slow or has left gives that call an
//! error, never a hung request).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use toolcall_dbus::{
    CallOptions as WireOptions, PROVIDER_FAILED, PROVIDER_GONE, PROVIDER_TIMEOUT, ProviderError,
    ReceivedOptions as Options, RouteResult, RoutedCall, ToolCallError, ToolProvider1Proxy,
};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedObjectPath, interface};

use super::{ToolSource, one_shot};
use crate::config::Settings;
use crate::ownership::{known_caller, still_on_bus};
use crate::registry::PrefixAccess;
use crate::request::{Method, Request, Result};
use crate::service::Shared;
use crate::toolset_cache::ToolsKey;

pub struct RegistryObject {
    shared: Arc<Shared>,
    peer: Option<Arc<str>>,
}

impl RegistryObject {
    pub fn new(shared: Arc<Shared>, peer: Option<Arc<str>>) -> RegistryObject {
        RegistryObject { shared, peer }
    }

    /// What `caller` may reach of the catalogue (`registry_allow`), or publish under
    /// (`registry_publishers`): its user's, as the bus told it; a peer-to-peer client's user is
    /// not known.
    fn access(&self, caller: &str, table: fn(&Settings) -> &BTreeMap<String, Vec<String>>) -> PrefixAccess {
        let listed = table(&self.shared.settings.read().expect("settings lock")).clone();
        let uid = match self.peer {
            Some(_) => None,
            None => self.shared.clients.uid(caller),
        };
        PrefixAccess::of(&listed, uid)
    }

    /// Route's answer: the published tools (or those the `tools` option names) called once on
    /// `query`, each call with its provider.
    async fn routed(
        &self,
        method: Method,
        query: String,
        options: &Options,
        (header, connection): (&Header<'_>, &Connection),
    ) -> Result<RouteResult> {
        let caller = known_caller(&self.shared, header, &self.peer, connection).await?;
        // The options first (Request::new checks them), then the tools they choose.
        let request = Request::new(method, caller.clone(), None, options, &self.shared)?;
        let limits = self.shared.tool_limits();
        let access = self.access(&caller, |s| &s.registry_allow);
        let chosen = self
            .shared
            .registry
            .choose(request.tools(), (&limits, self.shared.narrowing()), &access)?;
        // Retrieval off the bus thread: BM25 takes a few milliseconds for hundreds of tools, the
        // sentence encoder ~10-30 ms for the query (and the tools it has not embedded yet).
        let (narrowing, all) = (self.shared.narrowing(), chosen.tools_json);
        let (asked, shared) = (query.clone(), self.shared.clone());
        let tools_json =
            tokio::task::spawn_blocking(move || shared.retriever.narrow(&all, &asked, narrowing).unwrap_or(all))
                .await
                .map_err(|e| ToolCallError::Internal(format!("retrieval: {e}")))?;
        let offered = tool_names(&tools_json);
        let key = ToolsKey::of(&tools_json);
        let work = one_shot(
            self.shared.clone(),
            request.user().to_string(),
            (key, tools_json, ToolSource::Registry),
            query,
        );
        let result = request.answer_result(&self.shared, work).await?;
        let function_calls = result
            .function_calls
            .into_iter()
            .map(|call| {
                let provider = chosen.providers.get(&call.name).ok_or_else(|| {
                    ToolCallError::Internal(format!("the answer calls {:?}, which was not offered", call.name))
                })?;
                Ok(RoutedCall {
                    name: call.name,
                    arguments: call.arguments,
                    provider: provider.owner.clone(),
                    provider_path: provider.path.clone(),
                    tool: provider.tool.clone(),
                    result: None,
                    error: None,
                })
            })
            .collect::<Result<_>>()?;
        Ok(RouteResult {
            function_calls,
            offered,
            confidence: result.confidence,
            model: result.model,
            timings: result.timings,
            escalated: result.escalated,
            escalation: result.escalation,
        })
    }
}

#[interface(name = "org.toolcalld.ToolCall1.Registry")]
impl RegistryObject {
    #[zbus(out_args("publication"))]
    async fn publish(
        &self,
        tools_json: String,
        provider_path: OwnedObjectPath,
        options: Options,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<OwnedObjectPath> {
        if self.peer.is_some() {
            return Err(ToolCallError::AccessDenied(
                "publishing needs a bus connection: providers are called back by their bus name".into(),
            ));
        }
        let owner = known_caller(&self.shared, &header, &self.peer, connection).await?;
        let (wire, _) = WireOptions::from_wire(&options, false)?;
        let only_prefix = WireOptions {
            prefix: None,
            request_id: None,
            ..wire.clone()
        };
        if only_prefix != WireOptions::default() {
            return Err(ToolCallError::InvalidOptions(
                "Publish takes the options \"prefix\" and \"request_id\" only".into(),
            ));
        }
        let prefix = wire
            .prefix
            .ok_or_else(|| ToolCallError::InvalidOptions("Publish needs the option \"prefix\"".into()))?;
        if !self.access(&owner, |s| &s.registry_publishers).allows(&prefix) {
            return Err(ToolCallError::AccessDenied(format!(
                "prefix {prefix:?} is for its publishers only (registry_publishers)"
            )));
        }
        let limits = self.shared.tool_limits();
        let publication = self
            .shared
            .registry
            .publish(&owner, (&prefix, provider_path), &tools_json, &limits)?;
        // A provider that left while this was on its way was already freed: what it published
        // would stay for good (unique names are never reused).
        if !still_on_bus(connection, &owner).await {
            let _ = self.shared.registry.unpublish(&owner, publication.as_str());
            return Err(ToolCallError::Cancelled(format!("{owner} left the bus")));
        }
        log::info!("{owner} published tools as {prefix}.*");
        tools_changed(&emitter).await;
        prepare_retrieval(self.shared.clone());
        Ok(publication)
    }

    async fn unpublish(
        &self,
        publication: OwnedObjectPath,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<()> {
        let owner = known_caller(&self.shared, &header, &self.peer, connection).await?;
        self.shared.registry.unpublish(&owner, publication.as_str())?;
        log::info!("{owner} unpublished {publication}");
        tools_changed(&emitter).await;
        Ok(())
    }

    #[zbus(out_args("result_json"))]
    async fn route(
        &self,
        query: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String> {
        let routed = self
            .routed(Method::Route, query, &options, (&header, connection))
            .await?;
        Ok(serde_json::to_string(&routed).expect("result serialises"))
    }

    #[zbus(out_args("result_json"))]
    async fn dispatch(
        &self,
        query: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String> {
        if self.peer.is_some() {
            return Err(ToolCallError::AccessDenied(
                "Dispatch needs a bus connection: the providers are on the bus".into(),
            ));
        }
        // `Cancel` by the request's id ends the wait for the providers too (the calls carried
        // out by then stay done). Tracked from the start: a Cancel while the request is routed
        // ends that part.
        let caller = header.sender().map(|s| s.to_string()).unwrap_or_default();
        // (Only its request_id: Request::new checks the options.)
        let (wire, _) = WireOptions::from_wire(&options, true)?;
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let in_flight = self.shared.requests.track(&caller, cancel, wire.request_id);
        let mut routed = self
            .routed(Method::Dispatch, query, &options, (&header, connection))
            .await?;
        let budget = Duration::from_millis(self.shared.settings.read().expect("settings lock").dispatch_timeout_ms);
        let deadline = Instant::now() + budget;
        tokio::select! {
            biased;
            () = in_flight.cancelled() => {
                log::info!("{caller} Dispatch cancelled while its calls were carried out");
                return Err(ToolCallError::Cancelled("cancelled while its calls were carried out".into()));
            }
            () = invoke_all(connection, &mut routed, (&caller, deadline), &self.shared) => {}
        }
        Ok(serde_json::to_string(&routed).expect("result serialises"))
    }

    /// The catalogue as the caller may reach it (`registry_allow`).
    #[zbus(property(emits_changed_signal = "false"))]
    async fn tools(
        &self,
        #[zbus(header)] header: Option<Header<'_>>,
        #[zbus(connection)] connection: &Connection,
    ) -> zbus::fdo::Result<String> {
        let header = header.ok_or_else(|| zbus::fdo::Error::AccessDenied("no caller".into()))?;
        let caller = known_caller(&self.shared, &header, &self.peer, connection)
            .await
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        Ok(self
            .shared
            .registry
            .catalogue_json(&self.access(&caller, |s| &s.registry_allow)))
    }

    #[zbus(signal)]
    pub async fn tools_changed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// The names in a tool list the registry made (bare tools).
fn tool_names(tools_json: &str) -> Vec<String> {
    let tools: Vec<serde_json::Value> = serde_json::from_str(tools_json).unwrap_or_default();
    tools
        .iter()
        .filter_map(|tool| tool["name"].as_str().map(str::to_string))
        .collect()
}

/// Emits `ToolsChanged`; a failure is logged (the catalogue did change).
pub async fn tools_changed(emitter: &SignalEmitter<'_>) {
    if let Err(e) = RegistryObject::tools_changed(emitter).await {
        log::warn!("ToolsChanged not emitted: {e}");
    }
}

/// Has each of `routed`'s calls carried out by its provider, in order, for `caller`, all before
/// `deadline`: each call's result or error.
async fn invoke_all(
    connection: &Connection,
    routed: &mut RouteResult,
    (caller, deadline): (&str, Instant),
    shared: &Shared,
) {
    for call in &mut routed.function_calls {
        // The provider may have unpublished or left since the answer was routed.
        let current = shared.registry.provider_of(&call.name);
        let outcome = match current.filter(|p| p.owner == call.provider) {
            None => Err(ProviderError {
                name: PROVIDER_GONE.into(),
                message: format!("{} is no longer published by {}", call.name, call.provider),
            }),
            Some(provider) => {
                call.provider_path = provider.path;
                invoke(connection, call, caller, deadline).await
            }
        };
        match outcome {
            Ok(result) => call.result = Some(result),
            Err(error) => {
                log::info!("Dispatch of {} on {}: {}", call.name, call.provider, error.name);
                call.error = Some(error);
            }
        }
    }
}

/// Bytes of a provider's result_json taken at most.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// Has `call` carried out by its provider, for `caller`, before `deadline`: the provider's
/// result, parsed, or why there is none.
async fn invoke(
    connection: &Connection,
    call: &RoutedCall,
    caller: &str,
    deadline: Instant,
) -> std::result::Result<serde_json::Value, ProviderError> {
    let timeout = deadline.saturating_duration_since(Instant::now());
    let error = |name: &str, message: String| ProviderError {
        name: name.to_string(),
        message,
    };
    let gone = |e: zbus::Error| {
        error(
            PROVIDER_GONE,
            format!("the provider {} is not on the bus: {e}", call.provider),
        )
    };
    let proxy = ToolProvider1Proxy::builder(connection)
        .destination(call.provider.as_str())
        .path(call.provider_path.as_str())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(gone)?;
    let arguments = call.arguments.to_string();
    // Who asked, so that a provider can apply its own rules to the assistant behind toolcalld.
    let options = HashMap::from([("caller", zbus::Variant::from(caller))]);
    let answer = tokio::time::timeout(timeout, proxy.invoke(&call.tool, &arguments, options)).await;
    let answer = answer.map_err(|_| error(PROVIDER_TIMEOUT, format!("no answer within {} ms", timeout.as_millis())))?;
    let text = match answer {
        Ok(text) => text,
        Err(e) => {
            // zbus gives the bus's own errors (NoReply, ...) as `Error::FDO`, others as
            // `MethodError`: either way the text starts with the error's name.
            let message = match e {
                zbus::Error::MethodError(name, message, _) => format!("{name}: {}", message.unwrap_or_default()),
                other => other.to_string(),
            };
            let left = [
                "org.freedesktop.DBus.Error.NoReply",
                "org.freedesktop.DBus.Error.ServiceUnknown",
                "org.freedesktop.DBus.Error.NameHasNoOwner",
                "org.freedesktop.DBus.Error.Disconnected",
            ];
            let kind = if left.iter().any(|name| message.starts_with(name)) {
                PROVIDER_GONE
            } else {
                PROVIDER_FAILED
            };
            return Err(error(kind, message));
        }
    };
    if text.len() > MAX_RESULT_BYTES {
        return Err(error(
            PROVIDER_FAILED,
            format!("the result has {} bytes, more than {MAX_RESULT_BYTES}", text.len()),
        ));
    }
    serde_json::from_str(&text).map_err(|e| error(PROVIDER_FAILED, format!("the result is not JSON: {e}")))
}

/// Once the catalogue is long enough to be narrowed, embeds the tools the retriever has not
/// seen (off the bus thread, not waited for), so that a Route does not pay for them.
fn prepare_retrieval(shared: Arc<Shared>) {
    tokio::task::spawn_blocking(move || {
        let catalogue = shared.registry.catalogue_json(&PrefixAccess::open());
        let tools: Vec<serde_json::Value> = serde_json::from_str(&catalogue).unwrap_or_default();
        if shared.narrowing().applies(tools.len()) {
            shared.retriever.prepare(&tools);
        }
    });
}
