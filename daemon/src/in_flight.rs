//! The requests in flight, per caller: each one's cancel flag (which the engine checks between
//! prefill chunks and decode steps, and the pool before it starts a job) and the `request_id`
//! its caller gave it. [`InFlightRequests::cancel`] ends a caller's request by that id (the
//! manager's `Cancel`); [`InFlightRequests::depart`] ends all of a caller that left the bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One request in flight.
struct Tracked {
    cancel: Arc<AtomicBool>,
    request_id: Option<String>,
    /// Wakes the caller's side at once when the request is cancelled by id.
    cancelled: Arc<Notify>,
}

#[derive(Default)]
pub struct InFlightRequests {
    callers: Mutex<HashMap<String, Vec<Tracked>>>,
}

impl InFlightRequests {
    /// Keeps `cancel` with `caller`'s requests, under `request_id` if it has one, until the
    /// returned guard is dropped.
    pub fn track(&self, caller: &str, cancel: Arc<AtomicBool>, request_id: Option<String>) -> InFlight<'_> {
        let cancelled = Arc::new(Notify::new());
        self.callers
            .lock()
            .expect("in-flight lock")
            .entry(caller.to_string())
            .or_default()
            .push(Tracked {
                cancel: cancel.clone(),
                request_id,
                cancelled: cancelled.clone(),
            });
        InFlight {
            requests: self,
            caller: caller.to_string(),
            cancel,
            cancelled,
        }
    }

    /// Cancels `caller`'s requests that carry `request_id`; whether there was one. Another
    /// caller's requests are never touched.
    pub fn cancel(&self, caller: &str, request_id: &str) -> bool {
        let callers = self.callers.lock().expect("in-flight lock");
        let matching: Vec<&Tracked> = callers
            .get(caller)
            .into_iter()
            .flatten()
            .filter(|t| t.request_id.as_deref() == Some(request_id))
            .collect();
        for tracked in &matching {
            tracked.cancel.store(true, Ordering::SeqCst);
            tracked.cancelled.notify_one();
        }
        !matching.is_empty()
    }

    /// `name` left: its requests are cancelled. How many there were.
    pub fn depart(&self, name: &str) -> usize {
        let requests = self
            .callers
            .lock()
            .expect("in-flight lock")
            .remove(name)
            .unwrap_or_default();
        for tracked in &requests {
            tracked.cancel.store(true, Ordering::SeqCst);
        }
        requests.len()
    }
}

/// A request in flight; dropping it takes it off its caller's list.
pub struct InFlight<'a> {
    requests: &'a InFlightRequests,
    caller: String,
    cancel: Arc<AtomicBool>,
    cancelled: Arc<Notify>,
}

impl InFlight<'_> {
    /// Completes once the request is cancelled by its id.
    pub async fn cancelled(&self) {
        self.cancelled.notified().await
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut callers = self.requests.callers.lock().expect("in-flight lock");
        if let Some(list) = callers.get_mut(&self.caller) {
            list.retain(|t| !Arc::ptr_eq(&t.cancel, &self.cancel));
            if list.is_empty() {
                callers.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    #[test]
    fn cancel_by_id_touches_only_that_callers_request_of_that_id() {
        let requests = InFlightRequests::default();
        let (mine, other, theirs) = (flag(), flag(), flag());
        let _a = requests.track(":1.1", mine.clone(), Some("r1".into()));
        let _b = requests.track(":1.1", other.clone(), Some("r2".into()));
        let _c = requests.track(":1.2", theirs.clone(), Some("r1".into()));
        assert!(requests.cancel(":1.1", "r1"));
        assert!(mine.load(Ordering::SeqCst));
        assert!(!other.load(Ordering::SeqCst) && !theirs.load(Ordering::SeqCst));
        assert!(!requests.cancel(":1.1", "r9"), "no such request");
        assert!(!requests.cancel(":1.3", "r1"), "no requests at all");
    }

    #[test]
    fn a_departure_cancels_what_is_in_flight_and_a_finished_request_is_forgotten() {
        let requests = InFlightRequests::default();
        let (running, finished) = (flag(), flag());
        let _running = requests.track(":1.1", running.clone(), None);
        drop(requests.track(":1.1", finished.clone(), Some("done".into())));
        assert!(
            !requests.cancel(":1.1", "done"),
            "a finished request is no longer tracked"
        );
        assert_eq!(requests.depart(":1.1"), 1);
        assert!(running.load(Ordering::SeqCst) && !finished.load(Ordering::SeqCst));
        assert_eq!(requests.depart(":1.1"), 0);
    }
}
