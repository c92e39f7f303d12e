//! A blocking wrapper of [`crate::Client`] for programs without an async runtime (and for the
//! C ABI): each method runs the async call on the client's private single-threaded tokio
//! runtime. Toolsets and sessions borrow their client, so they cannot outlive its connection.

use crate::{Bus, CallOptions, CallResult, RemoteSession, RemoteToolset, Result, Status};

pub struct Client {
    runtime: tokio::runtime::Runtime,
    inner: crate::Client,
}

impl Client {
    pub fn connect(bus: &Bus) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::Error::Bus(zbus::Error::InputOutput(e.into())))?;
        let inner = runtime.block_on(crate::Client::connect(bus))?;
        Ok(Client { runtime, inner })
    }

    pub fn call(&self, tools_json: &str, query: &str, options: &CallOptions) -> Result<CallResult> {
        self.runtime.block_on(self.inner.call(tools_json, query, options))
    }

    /// Registers tools once for many calls (freed by [`Toolset::release`] or on disconnect).
    pub fn register_toolset(&self, tools_json: &str) -> Result<Toolset<'_>> {
        let inner = self.runtime.block_on(self.inner.register_toolset(tools_json))?;
        Ok(Toolset { client: self, inner })
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
pub struct Toolset<'c> {
    client: &'c Client,
    inner: RemoteToolset,
}

impl<'c> Toolset<'c> {
    pub fn path(&self) -> &str {
        self.inner.path()
    }

    pub fn call(&self, query: &str, options: &CallOptions) -> Result<CallResult> {
        self.client.runtime.block_on(self.inner.call(query, options))
    }

    pub fn open_session(&self) -> Result<Session<'c>> {
        let inner = self.client.runtime.block_on(self.inner.open_session())?;
        Ok(Session {
            client: self.client,
            inner,
        })
    }

    pub fn tool_count(&self) -> Result<u32> {
        self.client.runtime.block_on(self.inner.tool_count())
    }

    pub fn release(self) -> Result<()> {
        self.client.runtime.block_on(self.inner.release())
    }
}

/// A multi-turn session; see [`RemoteSession`].
pub struct Session<'c> {
    client: &'c Client,
    inner: RemoteSession,
}

impl Session<'_> {
    pub fn path(&self) -> &str {
        self.inner.path()
    }

    pub fn send(&self, text: &str, options: &CallOptions) -> Result<CallResult> {
        self.client.runtime.block_on(self.inner.send(text, options))
    }

    pub fn submit_tool_results(&self, results_json: &str, options: &CallOptions) -> Result<CallResult> {
        self.client
            .runtime
            .block_on(self.inner.submit_tool_results(results_json, options))
    }

    pub fn reset(&self) -> Result<()> {
        self.client.runtime.block_on(self.inner.reset())
    }

    pub fn close(self) -> Result<()> {
        self.client.runtime.block_on(self.inner.close())
    }
}
