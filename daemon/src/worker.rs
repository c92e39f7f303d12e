//! The inference pool: worker threads behind a bounded queue. Inference never runs on the bus
//! executor; a full queue is refused at once (`Busy`) instead of letting callers time out, and
//! so is a request that the jobs ahead of it would push past its deadline (judged from recent
//! job times: mean plus mean deviation). A request that waited and, at its turn, has less time
//! left than requests of its kind recently took is refused then, without running: the queue
//! made it late, and running it would only end in a timeout. A panic inside a job becomes an
//! error for that caller only; a heartbeat per worker lets the watchdog tell a stuck worker
//! from an idle one. Each job holds a sender of a drain channel until it has answered, so
//! shutdown waits for the last one to go (the channel's `recv` ends) rather than polling.
//! Waiting jobs are served user by user in turn, and one user's take at most
//! `max_queued_per_user` of the queue's places ([`FairQueue`]).

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc as drain;

use crate::fair_queue::{FairQueue, LineCounts, Next};
use crate::request::Method;

/// A request's work, with the engine it runs on inside it (see `models`), and its deadline.
struct Job {
    deadline: Instant,
    work: Box<dyn FnOnce() + Send>,
}

/// Why a job could not be queued or finished.
#[derive(Debug)]
pub enum PoolError {
    /// The queue is full.
    Busy,
    /// The caller's user already has `admitted` requests queued or running, all it may.
    UserQueueFull { admitted: usize },
    /// The jobs ahead would, at the recent job time, finish this one after its deadline.
    WouldMissDeadline { ahead: usize, expected_ms: u64 },
    /// It waited `waited_ms` in the queue; the `left_ms` left to its deadline are fewer than
    /// requests of its kind recently took (`expected_ms`), so it was not started.
    LateAtItsTurn {
        waited_ms: u64,
        left_ms: u64,
        expected_ms: u64,
    },
    /// The pool is shutting down.
    ShuttingDown,
    /// The job panicked; the message says where.
    Panicked(String),
}

/// Where jobs go in, while the pool takes them.
struct Intake {
    jobs: Arc<FairQueue<Job>>,
    /// Cloned into each job; dropped with it.
    in_flight: drain::Sender<()>,
}

pub struct Pool {
    intake: Mutex<Option<Intake>>,
    /// Ends (`None`) once the intake is closed and every job has dropped its sender.
    drained: tokio::sync::Mutex<drain::Receiver<()>>,
    /// Jobs queued or running.
    depth: Arc<AtomicUsize>,
    /// Recent job run times, for judging whether a request can still make its deadline.
    job_times: Arc<JobTimes>,
    capacity: AtomicUsize,
    /// Places in the queue the jobs of one line (user) may take, beyond the workers.
    places_per_line: AtomicUsize,
    /// Jobs of each line admitted now.
    lines: LineCounts,
    workers: usize,
    /// Per worker: milliseconds since `epoch` when it last showed life.
    heartbeats: Arc<Vec<AtomicU64>>,
    /// Per worker: 0 while idle, inside a job that job's deadline (milliseconds since `epoch`).
    busy_until: Arc<Vec<AtomicU64>>,
    epoch: Instant,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// How often an idle worker shows life.
const IDLE_TICK: Duration = Duration::from_millis(500);

impl Pool {
    /// Starts `workers` threads; `queue_size` jobs may wait beyond the running ones, `per_user`
    /// of them from one line.
    pub fn start(workers: usize, (queue_size, per_user): (usize, usize)) -> Arc<Pool> {
        // The channel holds waiting jobs; admission is counted separately so the limit can change.
        let queue = Arc::new(FairQueue::<Job>::default());
        let epoch = Instant::now();
        let heartbeats = Arc::new((0..workers).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let busy_until = Arc::new((0..workers).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let depth = Arc::new(AtomicUsize::new(0));
        let job_times = Arc::new(JobTimes::default());
        let (in_flight, drained) = drain::channel(1);
        let mut handles = Vec::new();
        for index in 0..workers {
            let (queue, heartbeats, busy_until) = (queue.clone(), heartbeats.clone(), busy_until.clone());
            let handle = std::thread::Builder::new()
                .name(format!("toolcalld-worker-{index}"))
                .spawn(move || {
                    loop {
                        heartbeats[index].store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                        match queue.pop(IDLE_TICK) {
                            Next::Job(job) => {
                                // The job itself leaves the depth count, before it replies.
                                // A job the queue made late is judged from its start.
                                let until = job.deadline.max(Instant::now()).saturating_duration_since(epoch);
                                let until = until.as_millis() as u64;
                                busy_until[index].store(until.max(1), Ordering::Relaxed);
                                (job.work)();
                                busy_until[index].store(0, Ordering::Relaxed);
                            }
                            Next::Idle => {}
                            Next::Closed => break,
                        }
                    }
                })
                .expect("spawn worker thread");
            handles.push(handle);
        }
        Arc::new(Pool {
            intake: Mutex::new(Some(Intake { jobs: queue, in_flight })),
            drained: tokio::sync::Mutex::new(drained),
            depth,
            job_times,
            capacity: AtomicUsize::new(workers + queue_size),
            places_per_line: AtomicUsize::new(per_user),
            lines: LineCounts::default(),
            workers,
            heartbeats,
            busy_until,
            epoch,
            handles: Mutex::new(handles),
        })
    }

    /// Runs `work` on a worker and waits for its result without blocking the async executor.
    /// With every worker taken, the job is refused unless it would finish by `deadline`; at its
    /// turn it is refused if the queue left it less time than jobs of its `kind` recently took.
    /// It waits in `line`'s line of the queue (its user's: see [`FairQueue`]).
    pub async fn run<R: Send + 'static>(
        &self,
        (deadline, kind, line): (Instant, Method, &str),
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolError> {
        let answer = self.submit(deadline, kind, line, work)?;
        answer.await.map_err(|_| PoolError::ShuttingDown)?
    }

    /// Queues `work` if admitted; the receiver gets its outcome.
    fn submit<R: Send + 'static>(
        &self,
        deadline: Instant,
        kind: Method,
        line: &str,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<R, PoolError>>, PoolError> {
        let intake = self.intake.lock().expect("intake lock");
        let Some(intake) = intake.as_ref() else {
            return Err(PoolError::ShuttingDown);
        };
        // A user may have a job on every worker and its places in the queue (counted from
        // admission, so a job a worker has not yet taken does not count twice).
        let per_line = self.workers + self.places_per_line.load(Ordering::SeqCst);
        let slot = self
            .lines
            .admit(line, per_line)
            .map_err(|admitted| PoolError::UserQueueFull { admitted })?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (depth, job_times) = (self.depth.clone(), self.job_times.clone());
        let queued = Instant::now();
        let budget = deadline.saturating_duration_since(queued);
        let in_flight = intake.in_flight.clone();
        let work = Box::new(move || {
            let (_in_flight, _slot) = (in_flight, slot);
            let started = Instant::now();
            let left = deadline.saturating_duration_since(started);
            // Refuse only a request the queue made late. One whose whole budget is shorter than
            // its kind takes still runs, and ends as its deadline says (`Timeout`).
            if let Some(expected) = job_times.expected_for(kind)
                && expected > left
                && expected <= budget
            {
                depth.fetch_sub(1, Ordering::SeqCst);
                let _ = reply.send(Err(PoolError::LateAtItsTurn {
                    waited_ms: (started - queued).as_millis() as u64,
                    left_ms: left.as_millis() as u64,
                    expected_ms: expected.as_millis() as u64,
                }));
                return;
            }
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(work));
            job_times.record(kind, started.elapsed());
            // Out of the count before the caller hears back: a QueueDepth read after the
            // answer no longer includes this request.
            depth.fetch_sub(1, Ordering::SeqCst);
            let _ = reply.send(outcome.map_err(|panic| {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                PoolError::Panicked(text)
            }));
        });
        let job_ms = self.job_times.estimate_ms();
        let mut late = None;
        let admitted = self
            .depth
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ahead| {
                if ahead >= self.capacity.load(Ordering::SeqCst) {
                    return None;
                }
                // Jobs run `workers` at a time: this one ends after ceil((ahead+1)/workers) rounds.
                let expected_ms = (ahead / self.workers + 1) as f64 * job_ms;
                if ahead >= self.workers && expected_ms > budget.as_millis() as f64 {
                    late = Some(PoolError::WouldMissDeadline {
                        ahead,
                        expected_ms: expected_ms as u64,
                    });
                    return None;
                }
                Some(ahead + 1)
            })
            .is_ok();
        if !admitted {
            return Err(late.unwrap_or(PoolError::Busy));
        }
        if intake.jobs.push(line, Job { deadline, work }).is_err() {
            self.depth.fetch_sub(1, Ordering::SeqCst);
            return Err(PoolError::ShuttingDown);
        }
        Ok(answer)
    }

    /// Requests queued or running.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }

    pub fn set_queue_size(&self, queue_size: usize, per_user: usize) {
        self.capacity.store(self.workers + queue_size, Ordering::SeqCst);
        self.places_per_line.store(per_user, Ordering::SeqCst);
    }

    /// True while every worker is either idle and ticking, or inside a job that is less than
    /// `grace` past its deadline: the check behind the systemd watchdog notification.
    pub fn healthy(&self, grace: Duration) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        (0..self.workers).all(|i| match self.busy_until[i].load(Ordering::Relaxed) {
            0 => now.saturating_sub(self.heartbeats[i].load(Ordering::Relaxed)) < IDLE_TICK.as_millis() as u64 * 10,
            deadline => now < deadline + grace.as_millis() as u64,
        })
    }

    /// Stops taking jobs (`ShuttingDown`); waits up to `grace` for queued and running ones
    /// to finish. True when they all did; the worker threads have then ended too.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        if let Some(intake) = self.intake.lock().expect("intake lock").take() {
            intake.jobs.close();
        }
        let drained = tokio::time::timeout(grace, self.drained.lock().await.recv())
            .await
            .is_ok();
        if drained {
            // With the queue closed and empty each worker ends at its next receive.
            let handles: Vec<_> = self.handles.lock().expect("handles lock").drain(..).collect();
            let _ = tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| drop(h.join()))).await;
        }
        drained
    }
}

/// How many recent run times per kind of request the turn check looks at.
const RECENT_PER_KIND: usize = 32;

/// Job run times. For admission: the moving mean and mean deviation over all jobs but
/// registrations (the way TCP estimates a round trip): a few jobs to adapt, one odd job does
/// not swing them; zero until a job has run. A registration compiles a tool list once and may
/// take many calls' time (`register_timeout_ms`): counted, one would get the calls after it
/// refused for a while. For the turn check: the last run times of each kind of request.
#[derive(Default)]
struct JobTimes(Mutex<JobTimesInner>);

#[derive(Default)]
struct JobTimesInner {
    mean_ms: f64,
    deviation_ms: f64,
    recent: HashMap<Method, VecDeque<Duration>>,
}

impl JobTimes {
    fn record(&self, kind: Method, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let mut times = self.0.lock().expect("job times lock");
        let (mean, deviation) = (times.mean_ms, times.deviation_ms);
        (times.mean_ms, times.deviation_ms) = if kind == Method::RegisterToolset {
            (mean, deviation)
        } else if mean == 0.0 {
            (ms, ms / 2.0)
        } else {
            (
                mean + (ms - mean) / 5.0,
                deviation + ((ms - mean).abs() - deviation) / 4.0,
            )
        };
        let recent = times.recent.entry(kind).or_default();
        if recent.len() == RECENT_PER_KIND {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    /// A job's time to plan admission with: the mean plus one deviation, so that a queue of
    /// ordinary jobs rarely takes longer than planned.
    fn estimate_ms(&self) -> f64 {
        let times = self.0.lock().expect("job times lock");
        times.mean_ms + times.deviation_ms
    }

    /// The time a request of `kind` needs to be started with: the longest of its kind's recent
    /// run times plus half again for the machine's noise. Under overload the margin costs no
    /// throughput: a request refused at its turn frees the worker at once. `None` until one
    /// of the kind has run.
    fn expected_for(&self, kind: Method) -> Option<Duration> {
        let times = self.0.lock().expect("job times lock");
        let longest = times.recent.get(&kind)?.iter().max()?;
        Some(*longest + *longest / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_expected_to_take_its_longest_recent_time_plus_half_again() {
        let times = JobTimes::default();
        assert_eq!(times.expected_for(Method::Call), None);
        for ms in [100, 500, 200] {
            times.record(Method::Call, Duration::from_millis(ms));
        }
        times.record(Method::RegisterToolset, Duration::from_millis(2000));
        assert_eq!(times.expected_for(Method::Call), Some(Duration::from_millis(750)));
        assert_eq!(
            times.expected_for(Method::RegisterToolset),
            Some(Duration::from_millis(3000))
        );
        // Only the recent ones count: the 500 ms run ages out.
        for _ in 0..RECENT_PER_KIND {
            times.record(Method::Call, Duration::from_millis(100));
        }
        assert_eq!(times.expected_for(Method::Call), Some(Duration::from_millis(150)));
    }

    #[test]
    fn admission_plans_with_mean_plus_deviation_over_all_kinds_but_registrations() {
        let times = JobTimes::default();
        assert_eq!(times.estimate_ms(), 0.0);
        times.record(Method::Call, Duration::from_millis(1000));
        assert_eq!(times.estimate_ms(), 1500.0);
        times.record(Method::ToolsetCall, Duration::from_millis(1000));
        // Same time again: the mean stays, the deviation shrinks by a quarter toward 0.
        assert_eq!(times.estimate_ms(), 1000.0 + 375.0);
        // A long registration leaves it as it was.
        times.record(Method::RegisterToolset, Duration::from_secs(25));
        assert_eq!(times.estimate_ms(), 1000.0 + 375.0);
    }
}
