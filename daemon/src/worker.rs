//! The inference pool: worker threads behind a bounded queue. Inference never runs on the bus
//! executor; a full queue is refused at once (`Busy`) instead of letting callers time out, and
//! so is a request that the jobs ahead of it would push past its deadline (judged from recent
//! job times: mean plus mean deviation); a panic inside a job becomes an error for that caller
//! only; a heartbeat per worker lets the watchdog tell a stuck worker from an idle one.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use toolcall_engine::Engine;

type Job = Box<dyn FnOnce(&Engine) + Send>;

/// Why a job could not be queued or finished.
#[derive(Debug)]
pub enum PoolError {
    /// The queue is full.
    Busy,
    /// The jobs ahead would, at the recent job time, finish this one after its deadline.
    WouldMissDeadline { ahead: usize, expected_ms: u64 },
    /// The pool is shutting down.
    ShuttingDown,
    /// The job panicked; the message says where.
    Panicked(String),
}

pub struct Pool {
    sender: Mutex<Option<mpsc::SyncSender<Job>>>,
    /// Jobs queued or running.
    depth: Arc<AtomicUsize>,
    /// Recent job run times, for judging whether a request can still make its deadline.
    job_times: Arc<JobTimes>,
    capacity: AtomicUsize,
    workers: usize,
    /// Per worker: milliseconds since `epoch` when it last showed life.
    heartbeats: Arc<Vec<AtomicU64>>,
    /// Per worker: whether it is inside a job.
    busy: Arc<Vec<AtomicBool>>,
    epoch: Instant,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// How often an idle worker shows life.
const IDLE_TICK: Duration = Duration::from_millis(500);

impl Pool {
    /// Starts `workers` threads sharing `engine`; `queue_size` jobs may wait beyond the running ones.
    pub fn start(engine: Arc<Engine>, workers: usize, queue_size: usize) -> Arc<Pool> {
        // The channel holds waiting jobs; admission is counted separately so the limit can change.
        let (sender, receiver) = mpsc::sync_channel::<Job>(workers + queue_size.max(64));
        let receiver = Arc::new(Mutex::new(receiver));
        let epoch = Instant::now();
        let heartbeats = Arc::new((0..workers).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let busy = Arc::new((0..workers).map(|_| AtomicBool::new(false)).collect::<Vec<_>>());
        let depth = Arc::new(AtomicUsize::new(0));
        let job_times = Arc::new(JobTimes::default());
        let mut handles = Vec::new();
        for index in 0..workers {
            let (engine, receiver, heartbeats, busy) =
                (engine.clone(), receiver.clone(), heartbeats.clone(), busy.clone());
            let handle = std::thread::Builder::new()
                .name(format!("toolcalld-worker-{index}"))
                .spawn(move || {
                    loop {
                        heartbeats[index].store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                        let next = receiver.lock().expect("queue lock").recv_timeout(IDLE_TICK);
                        match next {
                            Ok(job) => {
                                // The job itself leaves the depth count, before it replies.
                                busy[index].store(true, Ordering::Relaxed);
                                job(&engine);
                                busy[index].store(false, Ordering::Relaxed);
                            }
                            Err(mpsc::RecvTimeoutError::Timeout) => {}
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    }
                })
                .expect("spawn worker thread");
            handles.push(handle);
        }
        Arc::new(Pool {
            sender: Mutex::new(Some(sender)),
            depth,
            job_times,
            capacity: AtomicUsize::new(workers + queue_size),
            workers,
            heartbeats,
            busy,
            epoch,
            handles: Mutex::new(handles),
        })
    }

    /// Runs `work` on a worker and waits for its result without blocking the async executor.
    /// With every worker taken, the job is refused unless it would finish within `budget`.
    pub async fn run<R: Send + 'static>(
        &self,
        budget: Duration,
        work: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, PoolError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (depth, job_times) = (self.depth.clone(), self.job_times.clone());
        let job: Job = Box::new(move |engine| {
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| work(engine)));
            job_times.record(started.elapsed());
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
        {
            let sender = self.sender.lock().expect("sender lock");
            let Some(sender) = sender.as_ref() else {
                return Err(PoolError::ShuttingDown);
            };
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
            if sender.try_send(job).is_err() {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                return Err(PoolError::Busy);
            }
        }
        answer.await.map_err(|_| PoolError::ShuttingDown)?
    }

    /// Requests queued or running.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }

    pub fn set_queue_size(&self, queue_size: usize) {
        self.capacity.store(self.workers + queue_size, Ordering::SeqCst);
    }

    /// True while every worker is either idle and ticking, or inside a job for less than
    /// `max_job`: the check behind the systemd watchdog notification.
    pub fn healthy(&self, max_job: Duration) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        (0..self.workers).all(|i| {
            let age = Duration::from_millis(now.saturating_sub(self.heartbeats[i].load(Ordering::Relaxed)));
            if self.busy[i].load(Ordering::Relaxed) {
                age < max_job
            } else {
                age < IDLE_TICK * 10
            }
        })
    }

    /// Stops taking jobs; waits up to `grace` for queued and running ones to finish.
    pub fn shutdown(&self, grace: Duration) -> bool {
        self.sender.lock().expect("sender lock").take();
        let deadline = Instant::now() + grace;
        while self.depth() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let drained = self.depth() == 0;
        if drained {
            for handle in self.handles.lock().expect("handles lock").drain(..) {
                let _ = handle.join();
            }
        }
        drained
    }
}

/// Moving mean and mean deviation of job run times (the way TCP estimates a round trip): a
/// few jobs to adapt, one odd job does not swing them. Zero until a job has run.
#[derive(Default)]
struct JobTimes(Mutex<(f64, f64)>);

impl JobTimes {
    fn record(&self, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let mut times = self.0.lock().expect("job times lock");
        let (mean, deviation) = *times;
        *times = if mean == 0.0 {
            (ms, ms / 2.0)
        } else {
            (
                mean + (ms - mean) / 5.0,
                deviation + ((ms - mean).abs() - deviation) / 4.0,
            )
        };
    }

    /// A job's time to plan with: the mean plus one deviation, so that a queue of ordinary
    /// jobs rarely takes longer than planned.
    fn estimate_ms(&self) -> f64 {
        let (mean, deviation) = *self.0.lock().expect("job times lock");
        mean + deviation
    }
}
