//! toolcall-engine: turns a user request plus a list of tool schemas into validated tool calls
//! with a small language model, on the CPU, offline. It knows nothing of D-Bus.
//!
//! Layout:
//! - [`bundle`]: the model bundle directory (manifest, checksums);
//! - [`model`]: the decoder step graph under tract, with a clonable KV-cache state;
//! - [`attention`]: the engine's tract op for each layer's KV cache and attention;
//! - `q4_gemv`: the engine's tract op for a decode step's 4-bit matrix products (x86_64);
//! - `q4_correction`: the engine's op adding a `q4` bundle's block offsets and adapter to them;
//! - [`embedding`]: the token embedding and the tied output projection (logits for the tokens
//!   a step may choose);
//! - [`tools`]: tool-list parsing and the supported JSON Schema subset;
//! - [`schema_forms`]: `$ref`, `allOf`, `oneOf`, `nullable` brought into that subset;
//! - [`prompt`]: the one prompt renderer (also used to render training data);
//! - [`grammar`]: the answer grammar compiled by llguidance (free strings bounded);
//! - [`list_end`]: another call only when the model prefers it by a margin;
//! - [`engine`]: the loaded model and what a caller does with it: toolsets, calls, sessions;
//! - [`options`]: request options, their defaults and ranges, the engine-wide limits;
//! - [`toolset`]: a compiled tool list (pre-filled prompt prefix, its grammars), sessions;
//! - `decode`: one turn of constrained greedy decoding;
//! - `foreign`: another model's answer checked by the same grammar ([`Engine::check_answer`]);
//! - [`answer`]: the calls, confidence and timings a turn returns;
//! - [`memory`]: the heap settings a process hosting the engine should use.

//!
//! The feature `runtime` (on by default) brings the model, its attention op and the engine, and
//! with them tract.
//! Without it the crate is the tool-schema compiler alone (tools, prompt, grammar), which is what
//! the fuzz targets under `tests/fuzz/` build.

#[cfg(feature = "runtime")]
pub mod answer;
#[cfg(feature = "runtime")]
pub mod attention;
#[cfg(feature = "runtime")]
mod block_quant;
pub mod bundle;
#[cfg(feature = "runtime")]
mod decode;
#[cfg(feature = "runtime")]
pub mod embedding;
#[cfg(feature = "runtime")]
pub mod engine;
pub mod error;
#[cfg(feature = "runtime")]
mod foreign;
pub mod grammar;
pub mod list_end;
pub mod memory;
#[cfg(feature = "runtime")]
pub mod model;
#[cfg(feature = "runtime")]
pub mod options;
pub mod prompt;
#[cfg(feature = "runtime")]
mod q4_correction;
#[cfg(all(feature = "runtime", target_arch = "x86_64"))]
mod q4_gemv;
#[cfg(feature = "runtime")]
pub mod retrieval;
pub mod schema_forms;
pub mod tools;
#[cfg(feature = "runtime")]
pub mod toolset;

#[cfg(feature = "runtime")]
pub use answer::{CallResult, FunctionCall, Timings};
pub use bundle::{Bundle, Manifest};
#[cfg(feature = "runtime")]
pub use engine::{Engine, PreparedToolset};
pub use error::{Error, Limit, Result};
#[cfg(feature = "runtime")]
pub use model::set_threads;
#[cfg(feature = "runtime")]
pub use options::{CallOptions, EngineLimits};
pub use tools::{Tool, ToolLimits};
#[cfg(feature = "runtime")]
pub use toolset::{Session, Toolset};
