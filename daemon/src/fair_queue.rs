//! The worker pool's queue: jobs wait in one line per key (a user, or a client whose user is
//! not known), and the workers take the lines in turn, so a user who queues many requests,
//! from one connection or several, does not make another user wait behind all of them.
//! Within a line, first come, first served; a line holds at most the places it is given, so
//! one user cannot take every place either. Closing it lets the workers finish what is queued
//! and then stop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Why [`FairQueue::push`] gave a job back.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Closed,
    /// The line already holds this many waiting jobs, all it may.
    LineFull(usize),
}

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
    /// Queues `job` in `key`'s line if fewer than `places` of that line's jobs wait; refused
    /// (given back) when the line is full or the queue closed.
    pub fn push(&self, key: &str, job: T, places: usize) -> Result<(), (T, Refused)> {
        let mut state = self.state.lock().expect("queue lock");
        if state.closed {
            return Err((job, Refused::Closed));
        }
        let line = state.lines.entry(key.to_string()).or_default();
        if line.len() >= places {
            let waiting = line.len();
            if waiting == 0 {
                state.lines.remove(key);
            }
            return Err((job, Refused::LineFull(waiting)));
        }
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
            queue.push("uid:1000", job, 8).unwrap();
        }
        queue.push("uid:1001", "b1", 8).unwrap();
        queue.push("uid:1001", "b2", 8).unwrap();
        queue.push(":1.7", "c1", 8).unwrap();
        assert_eq!(drain(&queue), ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
    }

    #[test]
    fn a_full_line_refuses_while_other_lines_take_jobs() {
        let queue = FairQueue::default();
        queue.push("uid:1000", "a1", 2).unwrap();
        queue.push("uid:1000", "a2", 2).unwrap();
        assert_eq!(
            queue.push("uid:1000", "a3", 2).unwrap_err(),
            ("a3", Refused::LineFull(2))
        );
        queue.push("uid:1001", "b1", 2).unwrap();
        assert!(matches!(queue.pop(Duration::ZERO), Next::Job("a1")));
        // A place freed in the line is a place again.
        queue.push("uid:1000", "a3", 2).unwrap();
        assert_eq!(drain(&queue), ["b1", "a2", "a3"]);
    }

    #[test]
    fn a_closed_queue_refuses_new_jobs_and_hands_out_the_rest() {
        let queue = FairQueue::default();
        queue.push("k", "queued", 8).unwrap();
        queue.close();
        assert_eq!(queue.push("k", "late", 8).unwrap_err(), ("late", Refused::Closed));
        assert!(matches!(queue.pop(Duration::ZERO), Next::Job("queued")));
        assert!(matches!(queue.pop(Duration::ZERO), Next::Closed));
    }
}
