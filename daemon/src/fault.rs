//! Fault injection for the fault drills in `tests/`: compiled into debug builds only, and
//! active only when toolcalld starts with `TOOLCALL_TEST_FAULTS=1` in its environment. Then
//! the request option `test_fault` (s) is accepted:
//!
//! - `panic`: the job panics on its worker (the caller gets `Internal`, the worker lives on);
//! - `model_error`: the engine reports a failed forward pass (`ModelError`);
//! - `stall:<ms>`: the worker sleeps `<ms>` ignoring cancellation and deadlines, as a stuck
//!   worker would (the watchdog notification stops), then runs the request normally.
//!
//! In release builds, or without the variable, `test_fault` is an unknown option
//! (`InvalidOptions`) like any other.

use std::time::Duration;

use toolcall_dbus::ToolCallError;
use toolcall_engine::Error as EngineError;

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    Panic,
    ModelError,
    Stall(Duration),
}

/// Whether this process accepts `test_fault`.
pub fn enabled() -> bool {
    cfg!(debug_assertions) && std::env::var_os("TOOLCALL_TEST_FAULTS").is_some_and(|v| v == "1")
}

pub fn parse(text: &str) -> Result<Fault, ToolCallError> {
    let stall_ms = text.strip_prefix("stall:").and_then(|ms| ms.parse().ok());
    match (text, stall_ms) {
        ("panic", _) => Ok(Fault::Panic),
        ("model_error", _) => Ok(Fault::ModelError),
        (_, Some(ms)) => Ok(Fault::Stall(Duration::from_millis(ms))),
        _ => Err(ToolCallError::InvalidOptions(format!(
            "test_fault {text:?}: expected panic, model_error or stall:<ms>"
        ))),
    }
}

impl Fault {
    /// Runs on the worker before the request's own work.
    pub fn strike(self) -> Result<(), EngineError> {
        match self {
            Fault::Panic => panic!("test_fault: panic on purpose"),
            Fault::ModelError => Err(EngineError::Model("test_fault: forward pass failed on purpose".into())),
            Fault::Stall(d) => {
                std::thread::sleep(d);
                Ok(())
            }
        }
    }
}
