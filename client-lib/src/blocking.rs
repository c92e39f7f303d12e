//! A blocking wrapper of [`crate::Client`] for programs without an async runtime (and for the
//! C ABI): each method runs the async call on a private single-threaded tokio runtime.

use crate::{Bus, CallOptions, CallResult, Result, Status};

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

    pub fn status(&self) -> Result<Status> {
        self.runtime.block_on(self.inner.status())
    }
}
