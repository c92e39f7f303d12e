//! A blocking wrapper of [`crate::Client`] for programs without an async runtime (and for the
//! C ABI): each method runs the async call to completion on the calling thread, while the
//! client's private tokio runtime (one thread of its own) reads the connection. So one client
//! may be used from several threads at once, e.g. a call blocking in one and `cancel` in
//! another. Toolsets and sessions share the runtime and may outlive their client value; the
//! connection lives as long as any of them. Not for use inside an async runtime (its runtime
//! cannot be dropped there): use [`crate::Client`].

use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::{Bus, CallOptions, CallResult, RemoteSession, RemoteToolset, Result, Status};

// In each handle the connection's half (`inner`) comes first: fields drop in order, and the
// connection's clean-up runs before the runtime it uses shuts down.
pub struct Client {
    inner: crate::Client,
    runtime: Arc<Runtime>,
}

impl Client {
    pub fn connect(bus: &Bus) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("toolcall-client")
            .enable_all()
            .build()
            .map_err(|e| crate::Error::Bus(zbus::Error::InputOutput(e.into())))?;
        let inner = runtime.block_on(crate::Client::connect(bus))?;
        Ok(Client {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    pub fn call(&self, tools_json: &str, query: &str, options: &CallOptions) -> Result<CallResult> {
        self.runtime.block_on(self.inner.call(tools_json, query, options))
    }

    /// The result JSON as the service sent it; see [`crate::Client::call_json`].
    pub fn call_json(&self, tools_json: &str, query: &str, options: &CallOptions) -> Result<String> {
        self.runtime.block_on(self.inner.call_json(tools_json, query, options))
    }

    /// Registers tools once for many calls (freed by [`Toolset::release`] or on disconnect).
    pub fn register_toolset(&self, tools_json: &str) -> Result<Toolset> {
        let inner = self.runtime.block_on(self.inner.register_toolset(tools_json))?;
        Ok(Toolset {
            inner,
            runtime: self.runtime.clone(),
        })
    }

    /// See [`crate::Client::register_toolset_with`].
    pub fn register_toolset_with(&self, tools_json: &str, options: &CallOptions) -> Result<Toolset> {
        let inner = self
            .runtime
            .block_on(self.inner.register_toolset_with(tools_json, options))?;
        Ok(Toolset {
            inner,
            runtime: self.runtime.clone(),
        })
    }

    pub fn list_models(&self) -> Result<Vec<crate::ModelEntry>> {
        self.runtime.block_on(self.inner.list_models())
    }

    pub fn reload_models(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.runtime.block_on(self.inner.reload_models())
    }

    /// See [`crate::Client::cancel`]; callable from another thread while a call blocks.
    pub fn cancel(&self, request_id: &str) -> Result<bool> {
        self.runtime.block_on(self.inner.cancel(request_id))
    }

    pub fn status(&self) -> Result<Status> {
        self.runtime.block_on(self.inner.status())
    }
}

/// A registered toolset; see [`RemoteToolset`].
pub struct Toolset {
    inner: RemoteToolset,
    runtime: Arc<Runtime>,
}

impl Toolset {
    pub fn path(&self) -> &str {
        self.inner.path()
    }

    pub fn call(&self, query: &str, options: &CallOptions) -> Result<CallResult> {
        self.runtime.block_on(self.inner.call(query, options))
    }

    pub fn call_json(&self, query: &str, options: &CallOptions) -> Result<String> {
        self.runtime.block_on(self.inner.call_json(query, options))
    }

    pub fn open_session(&self) -> Result<Session> {
        let inner = self.runtime.block_on(self.inner.open_session())?;
        Ok(Session {
            inner,
            runtime: self.runtime.clone(),
        })
    }

    pub fn tool_count(&self) -> Result<u32> {
        self.runtime.block_on(self.inner.tool_count())
    }

    pub fn release(self) -> Result<()> {
        self.runtime.block_on(self.inner.release())
    }
}

/// A multi-turn session; see [`RemoteSession`].
pub struct Session {
    inner: RemoteSession,
    runtime: Arc<Runtime>,
}

impl Session {
    pub fn path(&self) -> &str {
        self.inner.path()
    }

    pub fn send(&self, text: &str, options: &CallOptions) -> Result<CallResult> {
        self.runtime.block_on(self.inner.send(text, options))
    }

    pub fn send_json(&self, text: &str, options: &CallOptions) -> Result<String> {
        self.runtime.block_on(self.inner.send_json(text, options))
    }

    pub fn submit_tool_results(&self, results_json: &str, options: &CallOptions) -> Result<CallResult> {
        self.runtime
            .block_on(self.inner.submit_tool_results(results_json, options))
    }

    pub fn submit_tool_results_json(&self, results_json: &str, options: &CallOptions) -> Result<String> {
        self.runtime
            .block_on(self.inner.submit_tool_results_json(results_json, options))
    }

    pub fn reset(&self) -> Result<()> {
        self.runtime.block_on(self.inner.reset())
    }

    pub fn close(self) -> Result<()> {
        self.runtime.block_on(self.inner.close())
    }
}
