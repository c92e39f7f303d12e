//! Escalation: when the local model is unsure of an answer (its confidence below
//! `escalation_threshold`, or no call where `escalation_when_empty`), the same request and
//! tools go to a bigger model at an OpenAI-compatible endpoint (`endpoint.rs`); its answer is
//! checked by the grammar of the local one (`Engine::check_answer`) and, if it passes, replaces
//! the local calls (`escalated: true`). Whatever goes wrong (a timeout, an HTTP error, an
//! answer that is not JSON or that the schemas refuse, too many requests at the endpoint) keeps
//! the local answer, with a note saying why. Off unless `escalation_url` is set; a caller keeps
//! one request on the device with the option `escalate=false`.
//!
//! The endpoint is waited for on a blocking thread, never on the bus executor, and for at most
//! `escalation_timeout_ms` and never past the request's deadline. Calls on toolsets and one-shot
//! calls escalate; session turns do not (the endpoint would need the whole conversation). The
//! endpoint may add or change calls, never take them all away: an answer without a call keeps
//! local calls (a server that ignores tools answers every request in text).
//!
//! The journal names the kind of a failure only (`timeout`, `HTTP error`, ...): the details,
//! which may quote the request, go to the caller's note and to the journal at `trace`.

mod endpoint;

/// How much longer than the endpoint's own timeout the wait for it lasts: the grammar check and
/// a resolver that does not keep to the timeout.
const MARGIN: Duration = Duration::from_millis(250);

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use toolcall_dbus::Escalation;
use toolcall_engine::{CallOptions, FunctionCall, Toolset};

use crate::config::Settings;
use crate::models::LoadedModel;
use endpoint::{Endpoint, Failure, Question};

/// The systemd credential (`LoadCredential=`) the API key is read from first.
pub const API_KEY_CREDENTIAL: &str = "escalation-api-key";

/// What escalating a request needs: the engine and toolset its local answer came from, and
/// the user's text.
pub struct Asked {
    pub engine: Arc<LoadedModel>,
    pub toolset: Arc<Toolset>,
    pub query: String,
}

/// The deployment's escalation endpoint and when to use it.
#[derive(Debug)]
pub struct Escalator {
    endpoint: Arc<Endpoint>,
    name: String,
    threshold: f64,
    when_empty: bool,
    timeout: Duration,
    slots: Arc<Semaphore>,
    max_in_flight: u32,
}

impl Escalator {
    /// The endpoint the settings name, `None` when `escalation_url` is empty. The API key comes
    /// from `credentials` (`$CREDENTIALS_DIRECTORY`), else `escalation_api_key_file`, which must
    /// be readable by its owner only: a start-up error otherwise, as for a URL that is not
    /// `http://` or `https://`.
    pub fn open(settings: &Settings, credentials: Option<&Path>) -> Result<Option<Escalator>, String> {
        let url = settings.escalation_url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        // The host, without any user:password@ before it. The URL itself is not repeated in
        // errors or results: it may hold a key.
        let Some(host) = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .map(|authority| authority.rsplit('@').next().unwrap_or(authority))
            .filter(|host| !host.is_empty())
        else {
            return Err("configuration: escalation_url is not an http:// or https:// URL".into());
        };
        let name = match settings.escalation_name.as_str() {
            "" => host.to_string(),
            name => name.to_string(),
        };
        let api_key = read_api_key(credentials, &settings.escalation_api_key_file)?;
        Ok(Some(Escalator {
            endpoint: Arc::new(Endpoint::new(
                url.to_string(),
                settings.escalation_model.clone(),
                api_key,
            )),
            name,
            threshold: settings.escalation_threshold,
            when_empty: settings.escalation_when_empty,
            timeout: Duration::from_millis(settings.escalation_timeout_ms),
            slots: Arc::new(Semaphore::new(settings.escalation_max_in_flight)),
            max_in_flight: settings.escalation_max_in_flight as u32,
        }))
    }

    /// The endpoint's name, for the start-up line.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why an answer with these calls and this confidence goes to the endpoint, if it does.
    fn reason(&self, calls: &[toolcall_dbus::FunctionCall], confidence: f64) -> Option<String> {
        if calls.is_empty() && self.when_empty {
            Some("no call".into())
        } else if confidence < self.threshold {
            Some(format!("confidence {confidence:.3} below {}", self.threshold))
        } else {
            None
        }
    }

    /// Waits, at most `grace`, for the requests at the endpoint (shutdown).
    pub async fn drain(&self, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.slots.acquire_many(self.max_in_flight)).await;
    }

    /// Sends `asked` to the endpoint if `result` calls for it, and writes the outcome into
    /// `result`: the endpoint's calls if the schemas take them, else the local ones and a note.
    /// `who` names the request in the journal line.
    pub async fn review(
        &self,
        asked: Asked,
        options: CallOptions,
        deadline: Instant,
        result: &mut toolcall_dbus::CallResult,
        who: &str,
    ) {
        let Some(reason) = self.reason(&result.function_calls, result.confidence) else {
            return;
        };
        let started = Instant::now();
        let timeout = self.timeout.min(deadline.saturating_duration_since(started));
        let outcome = match self.slots.clone().try_acquire_owned() {
            _ if timeout.is_zero() => Err(Failure::new("deadline", "the request's deadline has passed".into())),
            Err(_) => Err(Failure::new(
                "busy",
                "the endpoint already has escalation_max_in_flight requests".into(),
            )),
            Ok(slot) => {
                let endpoint = self.endpoint.clone();
                let asking = tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    ask_and_check(&endpoint, &asked, &options, timeout)
                });
                let until = (started + timeout + MARGIN).min(deadline);
                match tokio::time::timeout_at(until.into(), asking).await {
                    Ok(Ok(checked)) => checked,
                    Ok(Err(panic)) => Err(Failure::new("internal error", format!("escalation failed: {panic}"))),
                    Err(_) => Err(Failure::new(
                        "timeout",
                        format!("no answer within {} ms", timeout.as_millis()),
                    )),
                }
            }
        };
        let outcome = outcome.and_then(|calls| taken_over(&result.function_calls, calls));
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let note = match outcome {
            Ok(calls) => {
                log::info!("{who}: escalated to {} ({reason}): answered in {ms:.0} ms", self.name);
                result.function_calls = calls
                    .into_iter()
                    .map(|c| toolcall_dbus::FunctionCall {
                        name: c.name,
                        arguments: c.arguments,
                    })
                    .collect();
                result.escalated = true;
                None
            }
            Err(Failure { kind, detail }) => {
                log::warn!(
                    "{who}: escalated to {} ({reason}): kept the local answer ({kind})",
                    self.name
                );
                log::trace!("{who}: {detail}");
                Some(detail)
            }
        };
        result.escalation = Some(Escalation {
            endpoint: self.name.clone(),
            reason,
            note,
            ms,
        });
    }
}

/// The endpoint's calls, unless they would take all the local ones away (see the module's doc).
fn taken_over(
    local: &[toolcall_dbus::FunctionCall],
    endpoint: Vec<FunctionCall>,
) -> Result<Vec<FunctionCall>, Failure> {
    if endpoint.is_empty() && !local.is_empty() {
        return Err(Failure::new(
            "no call",
            "the endpoint made no call; the local calls stand".into(),
        ));
    }
    Ok(endpoint)
}

/// The endpoint's answer to `asked`, if the grammar of the local answer takes it.
fn ask_and_check(
    endpoint: &Endpoint,
    asked: &Asked,
    options: &CallOptions,
    timeout: Duration,
) -> Result<Vec<FunctionCall>, Failure> {
    let question = Question {
        tools: asked.toolset.tools(),
        query: &asked.query,
        facts: options.facts.as_deref(),
    };
    let calls = endpoint.ask(&question, timeout)?;
    asked
        .engine
        .check_answer(&asked.toolset, &asked.query, calls, options)
        .map_err(|why| {
            Failure::new(
                "refused by the schemas",
                format!("the answer does not fit the tools: {why}"),
            )
        })
}

/// The API key: the credential if the service has one, else the file if one is set.
fn read_api_key(credentials: Option<&Path>, file: &Path) -> Result<Option<String>, String> {
    if let Some(credential) = credentials.map(|dir| dir.join(API_KEY_CREDENTIAL))
        && credential.exists()
    {
        return read_key(&credential).map(Some);
    }
    if file.as_os_str().is_empty() {
        return Ok(None);
    }
    let mode = std::fs::metadata(file)
        .map_err(|e| format!("configuration: escalation_api_key_file {}: {e}", file.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "configuration: escalation_api_key_file {} may be read by others (mode {:o}); chmod 600 it",
            file.display(),
            mode & 0o777
        ));
    }
    read_key(file).map(Some)
}

fn read_key(path: &Path) -> Result<String, String> {
    let key = std::fs::read_to_string(path)
        .map_err(|e| format!("configuration: the escalation API key {}: {e}", path.display()))?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "configuration: the escalation API key {} is empty or has characters other than printable ASCII",
            path.display()
        ));
    }
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> Settings {
        Settings {
            escalation_url: url.into(),
            ..Settings::default()
        }
    }

    #[test]
    fn the_name_is_the_host_without_credentials_and_bad_urls_are_not_repeated() {
        let open = |url: &str| Escalator::open(&settings(url), None);
        let escalator = open("https://user:sk-1@box.lan:8443/v1/chat/completions?x=1")
            .unwrap()
            .unwrap();
        assert_eq!(escalator.name(), "box.lan:8443");
        assert!(open("").unwrap().is_none());
        let error = open("ftp://user:sk-1@box/").unwrap_err();
        assert!(error.contains("not an http://") && !error.contains("sk-1"), "{error}");
    }

    #[test]
    fn no_call_from_the_endpoint_never_takes_the_local_calls_away() {
        let local = [toolcall_dbus::FunctionCall {
            name: "ping".into(),
            arguments: serde_json::json!({}),
        }];
        let stop = || {
            vec![FunctionCall {
                name: "stop".into(),
                arguments: serde_json::json!({}),
            }]
        };
        assert!(taken_over(&local, Vec::new()).is_err());
        assert_eq!(taken_over(&local, stop()).unwrap().len(), 1);
        assert!(taken_over(&[], Vec::new()).unwrap().is_empty());
        assert_eq!(taken_over(&[], stop()).unwrap()[0].name, "stop");
    }
}
