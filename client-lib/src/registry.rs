//! The registry's side of [`Client`]: providers publish their tools; assistants have requests
//! routed among all published tools (`route`) or carried out by their providers (`dispatch`).

use toolcall_dbus::{RegistryProxy, RouteResult};
use zbus::OwnedObjectPath;

use crate::{CallOptions, Client, Error, Result};

impl Client {
    fn registry(&self) -> impl std::future::Future<Output = zbus::Result<RegistryProxy<'static>>> + '_ {
        RegistryProxy::new(&self.connection)
    }

    /// Publishes `tools_json` as `prefix.NAME`, carried out by this connection's object at
    /// `provider_path` (which serves `org.toolcalld.ToolProvider1`). The handle is for
    /// [`Client::unpublish`]; the tools also go when this connection closes.
    pub async fn publish(&self, tools_json: &str, provider_path: &str, prefix: &str) -> Result<OwnedObjectPath> {
        let options = CallOptions {
            prefix: Some(prefix.to_string()),
            ..CallOptions::default()
        };
        let path = zbus::ObjectPath::try_from(provider_path).map_err(|e| Error::BadReply(e.to_string()))?;
        Ok(self
            .registry()
            .await?
            .publish(tools_json, &path, options.to_wire())
            .await?)
    }

    pub async fn unpublish(&self, publication: &OwnedObjectPath) -> Result<()> {
        Ok(self.registry().await?.unpublish(publication).await?)
    }

    /// Every published tool (a tool list JSON, each tool with its `provider`).
    pub async fn published_tools(&self) -> Result<String> {
        Ok(self.registry().await?.tools().await?)
    }

    /// The calls `query` asks for among the published tools (or those `options.tools` names),
    /// each naming its provider.
    pub async fn route(&self, query: &str, options: &CallOptions) -> Result<RouteResult> {
        parse(&self.route_json(query, options).await?)
    }

    pub async fn route_json(&self, query: &str, options: &CallOptions) -> Result<String> {
        Ok(self.registry().await?.route(query, options.to_wire()).await?)
    }

    /// As [`Client::route`], each call then carried out by its provider: its `result`, or its
    /// `error` (ProviderFailed, ProviderTimeout, ProviderGone).
    pub async fn dispatch(&self, query: &str, options: &CallOptions) -> Result<RouteResult> {
        parse(&self.dispatch_json(query, options).await?)
    }

    pub async fn dispatch_json(&self, query: &str, options: &CallOptions) -> Result<String> {
        Ok(self.registry().await?.dispatch(query, options.to_wire()).await?)
    }
}

fn parse(json: &str) -> Result<RouteResult> {
    serde_json::from_str(json).map_err(|e| Error::BadReply(format!("{e}: {json}")))
}
