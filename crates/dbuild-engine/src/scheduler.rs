//! Runs a DAG of jobs on a rayon pool, highest priority first, at most `jobs` at a time.
//!
//! `jobs` workers share one ready queue (a heap under a mutex); finishing a job releases its
//! dependents. Our own queue, rather than rayon's work-stealing order, keeps the order
//! predictable (with `jobs = 1` it is fully deterministic) and makes "stop starting new work"
//! a single flag. A failed job never releases its dependents, so they are never started; with
//! `keep_going` everything else still runs, without it no new job starts after a failure
//! while the running ones finish.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JobState {
    NotStarted,
    Succeeded,
    Failed,
}

struct Queue {
    ready: BinaryHeap<(u32, Reverse<usize>)>,
    pending: Vec<usize>,
    state: Vec<JobState>,
    in_flight: usize,
    stop: bool,
}

/// Runs `work(n)` for every node whose dependencies all succeeded. `work` returns success; a
/// panic inside it counts as a failure (and never leaves the other workers waiting).
pub fn run(
    deps: &[Vec<usize>],
    dependents: &[Vec<usize>],
    priority: &[u32],
    jobs: usize,
    keep_going: bool,
    work: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<JobState> {
    let n = deps.len();
    let pending: Vec<usize> = deps.iter().map(Vec::len).collect();
    let ready = (0..n).filter(|i| pending[*i] == 0).map(|i| (priority[i], Reverse(i))).collect();
    let queue = Mutex::new(Queue { ready, pending, state: vec![JobState::NotStarted; n], in_flight: 0, stop: false });
    let wake = Condvar::new();
    let jobs = jobs.max(1).min(n.max(1));

    let worker = || {
        let mut q = dbuild_core::sync::lock(&queue);
        loop {
            if q.stop {
                break;
            }
            if let Some((_, Reverse(job))) = q.ready.pop() {
                q.in_flight += 1;
                drop(q);
                // A backstop only: `build()` already turns an executor's panic into an error in
                // the summary. This catch keeps `in_flight` and the queue consistent if `work`
                // itself ever panics, so the other workers do not wait forever.
                let ok = catch_unwind(AssertUnwindSafe(|| work(job))).unwrap_or(false);
                q = dbuild_core::sync::lock(&queue);
                q.in_flight -= 1;
                if ok {
                    q.state[job] = JobState::Succeeded;
                    for &d in &dependents[job] {
                        q.pending[d] -= 1;
                        if q.pending[d] == 0 {
                            q.ready.push((priority[d], Reverse(d)));
                        }
                    }
                } else {
                    q.state[job] = JobState::Failed;
                    if !keep_going {
                        q.stop = true;
                    }
                }
                wake.notify_all();
            } else if q.in_flight == 0 {
                // Nothing ready and nothing running: nothing will ever become ready.
                wake.notify_all();
                break;
            } else {
                q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        }
    };

    match rayon::ThreadPoolBuilder::new().num_threads(jobs).thread_name(|i| format!("dbuild-job-{i}")).build() {
        Ok(pool) => pool.scope(|s| {
            for _ in 0..jobs {
                s.spawn(|_| worker());
            }
        }),
        // No threads to be had: still build, on this thread.
        Err(_) => worker(),
    }
    queue.into_inner().unwrap_or_else(|e| e.into_inner()).state
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_in_dependency_order_and_stops_on_failure() {
        // 0 -> 1 -> 2, and 3 independent.
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let dependents = vec![vec![1], vec![2], vec![], vec![]];
        let prio = vec![3, 2, 1, 1];
        let seen = Mutex::new(Vec::new());
        let st = run(&deps, &dependents, &prio, 1, false, &|n| {
            seen.lock().unwrap().push(n);
            true
        });
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3]);
        assert!(st.iter().all(|s| *s == JobState::Succeeded));

        let count = AtomicUsize::new(0);
        let st = run(&deps, &dependents, &prio, 1, false, &|n| {
            count.fetch_add(1, Ordering::SeqCst);
            n != 0
        });
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(st[3], JobState::NotStarted);

        let st = run(&deps, &dependents, &prio, 2, true, &|n| n != 0);
        assert_eq!(st, vec![JobState::Failed, JobState::NotStarted, JobState::NotStarted, JobState::Succeeded]);

        let st = run(&deps, &dependents, &prio, 2, true, &|n| if n == 3 { panic!("boom") } else { true });
        assert_eq!(st[3], JobState::Failed);
        assert_eq!(st[2], JobState::Succeeded);
    }
}
