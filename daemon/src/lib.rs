//! toolcalld as a library: the service behind `org.toolcalld.ToolCall1`, to serve on a bus
//! connection (the `toolcalld` binary, `main.rs`) or on peer-to-peer connections (the
//! in-process end-to-end tests).
//!
//! Layout:
//! - [`cli`]: the command line;
//! - [`config`]: the configuration, validated once into [`Settings`];
//! - `service`: [`Service`], which owns the worker pool and the state all objects share;
//! - `models`: the bundles served, loaded on first use, unloaded when idle, reloaded;
//! - `objects`: the D-Bus objects (manager, toolsets, sessions), a few lines a method;
//! - `ownership`: who called, who owns an object, making objects that cannot leak;
//! - `registry`: the tools provider apps published, for the registry's Route and Dispatch;
//! - `request`: one request's way: parsed once, run on the pool, logged, answered;
//! - `retrieval`: which retriever narrows long tool lists (BM25, or fused with an encoder);
//! - `errors`: the engine's errors and the pool's refusals as named D-Bus errors;
//! - `escalation`: unsure answers sent to a bigger model at an OpenAI-compatible endpoint;
//! - `clients`: which client holds which objects and requests; the object caps and the KV
//!   budgets, in all and per user;
//! - `expiry`: idle sessions closed after `session_idle_timeout_s`;
//! - `in_flight`: the requests in flight per caller, ended by `Cancel` or the caller leaving;
//! - `toolset_cache`: one-shot `Call`'s compiled tool lists, shared fairly between users;
//! - `worker`: the inference pool: bounded queue, deadline-aware admission, drain on shutdown;
//! - `fair_queue`: its queue, one line per user, served in turn, a few places each;
//! - `fault`: fault injection for the drills, debug builds only.
//!
//! Nothing here touches tensors: the engine (`toolcall-engine`) does.

pub mod cli;
pub mod config;

mod clients;
mod errors;
mod escalation;
mod expiry;
mod fair_queue;
mod fault;
mod in_flight;
mod models;
mod objects;
mod ownership;
mod registry;
mod request;
mod retrieval;
mod service;
mod toolset_cache;
mod worker;

pub use cli::Cli;
pub use config::{Overrides, Settings};
pub use escalation::Escalator;
pub use models::Models;
pub use service::Service;
