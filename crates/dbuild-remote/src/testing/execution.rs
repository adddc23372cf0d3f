//! BuildGrid with its execution service, whose scheduler keeps its state in PostgreSQL:
//! Debian's `postgresql`, a private cluster in a temporary directory on a loopback port,
//! made, migrated with `bgd migrate apply` and stopped by the test. PostgreSQL refuses to run
//! as root, so when the tests do, the cluster runs as the `postgres` user the package made.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{free_port, BuildGrid, BGD};

/// Where Debian's `postgresql` package puts the server programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running private PostgreSQL cluster with an empty, migrated `bgd` database.
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    user: Option<(u32, u32)>,
}

impl Postgres {
    fn start() -> Result<Postgres, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 { Some(postgres_user()?) } else { None };
        if let Some((uid, gid)) = user {
            let _ = Command::new("chmod").arg("0755").arg(dir.path()).status();
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                .map_err(|e| format!("chown the data directory: {e}"))?;
        }
        let port = free_port();
        let pg = Postgres { dir, port, user };
        pg.run("initdb", &["-D", &pg.data(), "-A", "trust", "-U", "bgd", "--no-sync"])?;
        let options =
            format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", pg.data());
        let log = format!("{}/server.log", pg.data());
        pg.run("pg_ctl", &["-D", &pg.data(), "-o", &options, "-l", &log, "-w", "-t", "120", "start"])?;
        pg.run("createdb", &["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "bgd", "bgd"])?;
        let bgd = std::env::var("DBUILD_TEST_BGD").unwrap_or_else(|_| BGD.to_string());
        let out = Command::new(&bgd)
            .args(["migrate", "apply", &pg.url()])
            .output()
            .map_err(|e| format!("{bgd}: {e} (tools/install-test-deps installs BuildGrid)"))?;
        if !out.status.success() {
            return Err(format!("bgd migrate apply failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// The SQLAlchemy URL BuildGrid 0.4.4 connects with.
    pub fn url(&self) -> String {
        format!("postgresql+psycopg2://bgd@127.0.0.1:{}/bgd", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = PathBuf::from(PG_BIN).join(program);
        let mut cmd = Command::new(&path);
        cmd.args(args).current_dir("/").stdin(Stdio::null());
        if let Some((uid, gid)) = self.user {
            std::os::unix::process::CommandExt::uid(&mut cmd, uid);
            std::os::unix::process::CommandExt::gid(&mut cmd, gid);
        }
        let out = cmd.output().map_err(|e| {
            format!("{}: {e} (apt-get install postgresql; tools/install-test-deps does)", path.display())
        })?;
        if !out.status.success() {
            return Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Result<(u32, u32), String> {
    let out = Command::new("id").args(["-u", "postgres"]).output().map_err(|e| format!("id: {e}"))?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
        "there is no postgres user (apt-get install postgresql; tools/install-test-deps does)".to_string()
    })?;
    let out = Command::new("id").args(["-g", "postgres"]).output().map_err(|e| format!("id: {e}"))?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| "no group for postgres".to_string())?;
    Ok((uid, gid))
}

/// The `connections:` and `schedulers:` sections for a scheduler on `url`, quick to assign
/// and quick to give up on a bot that went silent (10 s), so a killed worker's lease goes
/// to another within a test's patience.
pub(super) fn scheduler_config(url: &str) -> String {
    format!(
        "connections:\n  - !sql-connection &sql\n    connection-string: {url}\n    pool-size: 5\n\
         schedulers:\n  - !sql-scheduler &sched\n    sql: *sql\n    storage: *cas\n    action-cache: *ac\n    \
         bot-session-keepalive-timeout: 10\n    poll-interval: 0.1\n    bot-poll-interval: 0.1\n    \
         assigners:\n      - !priority-age-assigner\n        count: 1\n        interval: 0.1\n"
    )
}

impl BuildGrid {
    /// A server with the execution and Bots services besides the caches, its scheduler on a
    /// private PostgreSQL cluster. Workers connect to [`BuildGrid::url`].
    pub fn start_execution(instance: &str) -> BuildGrid {
        let mut last = String::new();
        for _ in 0..3 {
            let database = Postgres::start().unwrap_or_else(|e| panic!("PostgreSQL did not start: {e}"));
            match BuildGrid::try_start(instance, false, Some(database)) {
                Ok(bg) => return bg,
                Err(log) => last = log,
            }
        }
        panic!("BuildGrid with execution did not start (3 tries); the last one's log:\n{last}");
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bgd.log")).unwrap_or_default()
    }
}
