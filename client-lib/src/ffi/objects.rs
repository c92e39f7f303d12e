//! Toolsets and sessions in C: `toolcall_toolset_*` and `toolcall_session_*`. Each handle is
//! the caller's until `toolcall_toolset_release` / `toolcall_session_close`, which end it on
//! the service and free it here whatever the outcome. A handle may be used from several threads
//! at once; a session answers one turn at a time (the service queues the rest).

use std::ffi::{c_char, c_int};
use std::ptr;

use super::{ToolcallClient, ToolcallError, invalid, options_arg, report, result_out, str_arg};
use crate::blocking::{Session, Toolset};

/// A toolset registered on the service: its tools' prompt compiled once for many calls.
pub struct ToolcallToolset {
    inner: Toolset,
}

/// A multi-turn conversation on a toolset.
pub struct ToolcallSession {
    inner: Session,
}

/// 0, or -1 with `error` filled.
fn status_out(result: crate::Result<()>, error: *mut ToolcallError) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(&e, error);
            -1
        }
    }
}

/// Registers `tools_json` (a JSON array of tools) as a toolset the caller owns. Returns NULL on
/// failure; release it with `toolcall_toolset_release`.
///
/// # Safety
/// As `toolcall_call`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_toolset_register(
    client: *const ToolcallClient,
    tools_json: *const c_char,
    error: *mut ToolcallError,
) -> *mut ToolcallToolset {
    // SAFETY: the caller's guarantees are those of toolcall_toolset_register_with.
    unsafe { toolcall_toolset_register_with(client, tools_json, ptr::null(), error) }
}

/// As `toolcall_toolset_register`, with RegisterToolset's options: `options_json` is NULL or a
/// JSON object with any of `model` (a bundle's name from `toolcall_list_models`: the toolset's
/// calls and sessions run on it), `follow_reloads` (true: after a reload replaced that bundle,
/// the toolset's next call or session moves it to the new engine) and `request_id`; the service refuses
/// other options (`InvalidOptions`), an unknown model with `UnknownModel`.
///
/// # Safety
/// As `toolcall_call`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_toolset_register_with(
    client: *const ToolcallClient,
    tools_json: *const c_char,
    options_json: *const c_char,
    error: *mut ToolcallError,
) -> *mut ToolcallToolset {
    let Some(client) = (unsafe { client.as_ref() }) else {
        return invalid(error, "client is NULL", ptr::null_mut());
    };
    let Some(tools) = (unsafe { str_arg(tools_json) }) else {
        return invalid(error, "tools_json must be a UTF-8 string", ptr::null_mut());
    };
    let options = match unsafe { options_arg(options_json) } {
        Ok(options) => options,
        Err(what) => return invalid(error, &what, ptr::null_mut()),
    };
    match client.inner.register_toolset_with(tools, &options) {
        Ok(inner) => Box::into_raw(Box::new(ToolcallToolset { inner })),
        Err(e) => {
            report(&e, error);
            ptr::null_mut()
        }
    }
}

/// A call on the toolset; `options_json` as for `toolcall_call`, but without `model` (the
/// toolset's model answers). Returns the result JSON (free
/// it with `toolcall_string_free`), or NULL on failure.
///
/// # Safety
/// `toolset` from `toolcall_toolset_register`; strings NULL or valid; `error` as documented.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_toolset_call(
    toolset: *const ToolcallToolset,
    query: *const c_char,
    options_json: *const c_char,
    error: *mut ToolcallError,
) -> *mut c_char {
    let Some(toolset) = (unsafe { toolset.as_ref() }) else {
        return invalid(error, "toolset is NULL", ptr::null_mut());
    };
    let Some(query) = (unsafe { str_arg(query) }) else {
        return invalid(error, "query must be a UTF-8 string", ptr::null_mut());
    };
    match unsafe { options_arg(options_json) } {
        Ok(options) => result_out(toolset.inner.call_json(query, &options), error),
        Err(what) => invalid(error, &what, ptr::null_mut()),
    }
}

/// Releases the toolset on the service and frees the handle (also when the release fails: -1,
/// `error` filled; the service frees it when the client disconnects). NULL is ignored (0).
/// Sessions opened on it stay usable.
///
/// # Safety
/// `toolset` NULL or from `toolcall_toolset_register`, released once, no other thread using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_toolset_release(toolset: *mut ToolcallToolset, error: *mut ToolcallError) -> c_int {
    if toolset.is_null() {
        return 0;
    }
    // SAFETY: created by Box::into_raw in toolcall_toolset_register.
    let toolset = unsafe { Box::from_raw(toolset) };
    status_out(toolset.inner.release(), error)
}

/// Opens a session on the toolset. Returns NULL on failure; close it with
/// `toolcall_session_close`.
///
/// # Safety
/// As `toolcall_toolset_call`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_session_open(
    toolset: *const ToolcallToolset,
    error: *mut ToolcallError,
) -> *mut ToolcallSession {
    let Some(toolset) = (unsafe { toolset.as_ref() }) else {
        return invalid(error, "toolset is NULL", ptr::null_mut());
    };
    match toolset.inner.open_session() {
        Ok(inner) => Box::into_raw(Box::new(ToolcallSession { inner })),
        Err(e) => {
            report(&e, error);
            ptr::null_mut()
        }
    }
}

/// The user's next turn; `options_json` as for `toolcall_call`, but without `model` and
/// `escalate` (session turns are not escalated). Returns the result JSON (free
/// it with `toolcall_string_free`), or NULL on failure.
///
/// # Safety
/// `session` from `toolcall_session_open`; strings NULL or valid; `error` as documented.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_session_send(
    session: *const ToolcallSession,
    text: *const c_char,
    options_json: *const c_char,
    error: *mut ToolcallError,
) -> *mut c_char {
    let Some(session) = (unsafe { session.as_ref() }) else {
        return invalid(error, "session is NULL", ptr::null_mut());
    };
    let Some(text) = (unsafe { str_arg(text) }) else {
        return invalid(error, "text must be a UTF-8 string", ptr::null_mut());
    };
    match unsafe { options_arg(options_json) } {
        Ok(options) => result_out(session.inner.send_json(text, &options), error),
        Err(what) => invalid(error, &what, ptr::null_mut()),
    }
}

/// The results of the calls the last answer made, as a JSON array of `{"name", "result"}`;
/// the model may call again or answer with no calls. As `toolcall_session_send` otherwise.
///
/// # Safety
/// As `toolcall_session_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_session_submit_tool_results(
    session: *const ToolcallSession,
    results_json: *const c_char,
    options_json: *const c_char,
    error: *mut ToolcallError,
) -> *mut c_char {
    let Some(session) = (unsafe { session.as_ref() }) else {
        return invalid(error, "session is NULL", ptr::null_mut());
    };
    let Some(results) = (unsafe { str_arg(results_json) }) else {
        return invalid(error, "results_json must be a UTF-8 string", ptr::null_mut());
    };
    match unsafe { options_arg(options_json) } {
        Ok(options) => result_out(session.inner.submit_tool_results_json(results, &options), error),
        Err(what) => invalid(error, &what, ptr::null_mut()),
    }
}

/// Forgets the conversation so far (the toolset's prompt stays). 0, or -1 on failure.
///
/// # Safety
/// As `toolcall_session_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_session_reset(session: *const ToolcallSession, error: *mut ToolcallError) -> c_int {
    let Some(session) = (unsafe { session.as_ref() }) else {
        return invalid(error, "session is NULL", -1);
    };
    status_out(session.inner.reset(), error)
}

/// Closes the session on the service and frees the handle (also when closing fails: -1,
/// `error` filled). NULL is ignored (0).
///
/// # Safety
/// `session` NULL or from `toolcall_session_open`, closed once, no other thread using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolcall_session_close(session: *mut ToolcallSession, error: *mut ToolcallError) -> c_int {
    if session.is_null() {
        return 0;
    }
    // SAFETY: created by Box::into_raw in toolcall_session_open.
    let session = unsafe { Box::from_raw(session) };
    status_out(session.inner.close(), error)
}
