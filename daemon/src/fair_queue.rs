//! The worker pool's queue: jobs wait in one line per key (a user, or a client whose user is
//! not known), and the workers take the lines in turn, so a user who queues many requests,
//! from one connection or several, does not make another user wait behind all of them.
//! Within a line, first come, first served. Closing it lets the workers finish what is queued
//! and then stop. [`LineCounts`] caps how many jobs of one line are admitted at once (queued or
//! running), so one user cannot take every place either.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What a worker gets from [`FairQueue::pop`].
pub enum Next<T> {
    Job(T),
    /// Nothing came within the wait.
    Idle,
    /// Closed and empty: the worker may stop.
    Closed,
}

pub struct FairQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    lines: HashMap<String, VecDeque<T>>,
    /// The keys with waiting jobs, in the order they are served next.
    turns: VecDeque<String>,
    closed: bool,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        FairQueue {
            state: Mutex::new(State {
                lines: HashMap::new(),
                turns: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }
}

impl<T> FairQueue<T> {
    /// Queues `job` in `key`'s line; refused (given back) once the queue is closed.
    pub fn push(&self, key: &str, job: T) -> Result<(), T> {
        let mut state = self.state.lock().expect("queue lock");
        if state.closed {
            return Err(job);
        }
        let line = state.lines.entry(key.to_string()).or_default();
        line.push_back(job);
        if line.len() == 1 {
            state.turns.push_back(key.to_string());
        }
        self.ready.notify_one();
        Ok(())
    }

    /// The next job: the first of the line whose turn it is (that line then goes to the back).
    /// Waits up to `wait` for one.
    pub fn pop(&self, wait: Duration) -> Next<T> {
        let mut state = self.state.lock().expect("queue lock");
        if state.turns.is_empty() && !state.closed {
            state = self.ready.wait_timeout(state, wait).expect("queue lock").0;
        }
        let Some(key) = state.turns.pop_front() else {
            return if state.closed { Next::Closed } else { Next::Idle };
        };
        let line = state.lines.get_mut(&key).expect("a key with a turn has a line");
        let job = line.pop_front().expect("a line with a turn is not empty");
        if line.is_empty() {
            state.lines.remove(&key);
        } else {
            state.turns.push_back(key);
        }
        Next::Job(job)
    }

    /// Takes no more jobs; the workers finish those queued, then get [`Next::Closed`].
    pub fn close(&self) {
        self.state.lock().expect("queue lock").closed = true;
        self.ready.notify_all();
    }
}

/// How many jobs of each line are admitted now, queued or running.
#[derive(Default)]
pub struct LineCounts(Arc<Mutex<HashMap<String, usize>>>);

/// One admitted job's place in its line's count, given back when dropped (the job ended, or
/// was never queued).
pub struct LineSlot {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    line: String,
}

impl LineCounts {
    /// Counts one more job of `line`, unless it already has `cap` (then that count).
    pub fn admit(&self, line: &str, cap: usize) -> Result<LineSlot, usize> {
        let mut counts = self.0.lock().expect("line counts lock");
        let count = counts.entry(line.to_string()).or_default();
        if *count >= cap {
            return Err(*count);
        }
        *count += 1;
        Ok(LineSlot {
            counts: self.0.clone(),
            line: line.to_string(),
        })
    }
}

impl Drop for LineSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("line counts lock");
        if let Some(count) = counts.get_mut(&self.line) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &FairQueue<&'static str>) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Next::Job(job) = queue.pop(Duration::ZERO) {
            out.push(job);
        }
        out
    }

    #[test]
    fn users_are_served_in_turn_and_each_in_order() {
        let queue = FairQueue::default();
        for job in ["a1", "a2", "a3", "a4"] {
            queue.push("uid:1000", job).unwrap();
        }
        queue.push("uid:1001", "b1").unwrap();
        queue.push("uid:1001", "b2").unwrap();
        queue.push(":1.7", "c1").unwrap();
        assert_eq!(drain(&queue), ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
    }

    #[test]
    fn a_line_at_its_cap_is_refused_while_others_are_admitted() {
        let counts = LineCounts::default();
        let a1 = counts.admit("uid:1000", 2).unwrap();
        let _a2 = counts.admit("uid:1000", 2).unwrap();
        assert_eq!(counts.admit("uid:1000", 2).err(), Some(2));
        let _b1 = counts.admit("uid:1001", 2).unwrap();
        // A job that ended gives its place back.
        drop(a1);
        let _a3 = counts.admit("uid:1000", 2).unwrap();
    }

    #[test]
    fn a_closed_queue_refuses_new_jobs_and_hands_out_the_rest() {
        let queue = FairQueue::default();
        queue.push("k", "queued").unwrap();
        queue.close();
        assert_eq!(queue.push("k", "late").unwrap_err(), "late");
        assert!(matches!(queue.pop(Duration::ZERO), Next::Job("queued")));
        assert!(matches!(queue.pop(Duration::ZERO), Next::Closed));
    }
}
