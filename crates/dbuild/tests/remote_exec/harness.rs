//! The pieces every remote-execution test starts: `dbuild worker` processes on a BuildGrid,
//! and the logs a failure shows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dbuild_remote::testing::BuildGrid;

use crate::common::stderr;

/// A `dbuild worker` process, killed when dropped.
pub struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// A worker with its own cache under `dir`, logging to `dir/ID.log`.
    pub fn start(bg: &BuildGrid, dir: &Path, id: &str) -> Worker {
        let log = dir.join(format!("{id}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_dbuild"))
            .args(["worker", "-v", "--bots", &bg.url(), "--remote_instance_name", &bg.instance, "--bot-id", id])
            .arg("--cache-dir")
            .arg(dir.join(id))
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker { child, log }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many leases it has started running.
    pub fn running(&self) -> usize {
        self.log().matches("running").count()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The index of the first of `workers` to start a lease beyond the counts in `before`;
/// `what` names the wait in the failure, with `logs` (called then) after it.
pub fn wait_for_lease(workers: &[Worker], before: &[usize], what: &str, logs: impl Fn() -> String) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(i) = (0..workers.len()).find(|&i| workers[i].running() > before[i]) {
            return i;
        }
        assert!(Instant::now() < deadline, "{what}:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The build's stderr, the workers' and the server's logs: what a failure shows.
pub fn logs(out: &Output, workers: &[Worker], bg: &BuildGrid) -> String {
    let mut text = stderr(out);
    for (i, w) in workers.iter().enumerate() {
        text.push_str(&format!("\nworker {}:\n{}", i + 1, w.log()));
    }
    text.push_str(&format!("\nBuildGrid:\n{}", bg.log()));
    text
}
