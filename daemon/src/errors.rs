//! Every failure a caller hears of, as a named D-Bus error (`org.toolcalld.ToolCall1.Error.*`):
//! the engine's errors in one exhaustive match, the pool's refusals in another.

use toolcall_dbus::ToolCallError;
use toolcall_engine::Error as EngineError;

use crate::worker::PoolError;

/// The engine's errors as named D-Bus errors.
pub fn engine_error(e: EngineError) -> ToolCallError {
    let message = e.to_string();
    match e {
        EngineError::InvalidTools { .. } => ToolCallError::InvalidTools(message),
        EngineError::InvalidQuery(_) => ToolCallError::InvalidQuery(message),
        EngineError::InvalidOptions(_) => ToolCallError::InvalidOptions(message),
        EngineError::LimitExceeded { .. } => ToolCallError::LimitExceeded(message),
        EngineError::Timeout { .. } => ToolCallError::Timeout(message),
        EngineError::Cancelled => ToolCallError::Cancelled(message),
        EngineError::Bundle { .. } | EngineError::Model(_) => ToolCallError::ModelError(message),
        EngineError::Internal(_) => ToolCallError::Internal(message),
    }
}

/// Why the pool did not run a request, as a named D-Bus error: overload is `Busy`.
pub fn pool_error(e: PoolError, timeout_ms: u64) -> ToolCallError {
    match e {
        PoolError::Busy => ToolCallError::Busy("the request queue is full; retry later".into()),
        PoolError::UserQueueFull { admitted } => ToolCallError::Busy(format!(
            "max_queued_per_user: {admitted} requests of this user are already running or queued; retry when one has been answered"
        )),
        PoolError::WouldMissDeadline { ahead, expected_ms } => ToolCallError::Busy(format!(
            "{ahead} requests ahead: this one would end after ~{expected_ms} ms, past its {timeout_ms} ms deadline; retry later"
        )),
        PoolError::LateAtItsTurn {
            waited_ms,
            left_ms,
            expected_ms,
        } => ToolCallError::Busy(format!(
            "waited {waited_ms} ms in the queue: the {left_ms} ms left to its {timeout_ms} ms deadline are less than such a request takes now (~{expected_ms} ms), so it was not started; retry later"
        )),
        PoolError::ShuttingDown => ToolCallError::Busy("toolcalld is shutting down".into()),
        PoolError::Panicked(m) => ToolCallError::Internal(format!("request failed: {m}")),
    }
}

pub fn error_name(e: &ToolCallError) -> String {
    use zbus::DBusError;
    e.name().to_string()
}
