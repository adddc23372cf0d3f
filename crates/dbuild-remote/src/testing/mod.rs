//! Real cache servers on loopback for tests (this crate's and the CLI's): Debian's nginx with
//! WebDAV, started in a private directory and stopped when dropped. Nothing here skips: a
//! missing server is a panic naming what to install (`tools/install-test-deps` does).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to put in front of the cache.
#[derive(Default, Clone)]
pub struct NginxConfig {
    /// `user:password` required by basic auth.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a fresh self-signed certificate for 127.0.0.1.
    pub tls: bool,
}

/// A running nginx serving Bazel's HTTP cache protocol under `/cache`.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    l.local_addr().expect("its address").port()
}

impl Nginx {
    pub fn start(config: &NginxConfig) -> Nginx {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        let data = d.join("data");
        std::fs::create_dir_all(data.join("cache")).expect("the data directory");
        // Workers run as an unprivileged user when started by root: they must reach the data.
        let _ = Command::new("chmod").arg("0755").arg(d).status();
        let _ = Command::new("chmod").args(["-R", "0777"]).arg(&data).status();
        let mut server = String::new();
        if let Some((user, password)) = &config.basic_auth {
            let out = Command::new("openssl")
                .args(["passwd", "-apr1", password])
                .output()
                .expect("openssl (apt-get install openssl)");
            let hash = String::from_utf8(out.stdout).expect("a password hash").trim().to_string();
            std::fs::write(d.join("htpasswd"), format!("{user}:{hash}\n")).expect("htpasswd");
            server.push_str(&format!("auth_basic cache; auth_basic_user_file {};\n", d.join("htpasswd").display()));
        }
        let port = free_port();
        let listen = if config.tls {
            self_signed(d);
            server.push_str(&format!(
                "ssl_certificate {}; ssl_certificate_key {};\n",
                d.join("cert.pem").display(),
                d.join("key.pem").display()
            ));
            format!("127.0.0.1:{port} ssl")
        } else {
            format!("127.0.0.1:{port}")
        };
        let t = d.display();
        let conf = format!(
            "worker_processes 1; pid {t}/nginx.pid; error_log {t}/error.log;\n\
             events {{}}\n\
             http {{\n\
               access_log {t}/access.log;\n\
               client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; fastcgi_temp_path {t}/fastcgi;\n\
               uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;\n\
               server {{\n\
                 listen {listen};\n\
                 root {data};\n\
                 client_max_body_size 0;\n\
                 {server}\
                 location / {{ dav_methods PUT; create_full_put_path on; dav_access user:rw group:rw all:rw; }}\n\
               }}\n\
             }}\n",
            data = data.display()
        );
        std::fs::write(d.join("nginx.conf"), conf).expect("nginx.conf");
        let child = Command::new("nginx")
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx; tools/install-test-deps does)");
        let nginx = Nginx { child, dir, port };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT/cache` (or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.dir.path().join("cert.pem").exists() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/cache", self.port)
    }

    /// The directory the cache's files live in: `ac/<sha256>` and `cas/<sha256>`.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("data").join("cache")
    }

    /// The request lines nginx has logged so far (`GET /cache/cas/… HTTP/1.1`, ...).
    pub fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines().filter_map(|l| Some(l.split_once('"')?.1.split_once('"')?.0.to_string())).collect()
    }

    /// The self-signed CA that signed a TLS server's certificate.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Stops the server (a "remote that went down"). SIGTERM, not SIGKILL: the master then
    /// takes its worker down with it instead of leaving it listening.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = self.child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A self-signed CA (`ca.pem`) and a server certificate for 127.0.0.1 it signed (`cert.pem`,
/// `key.pem`): rustls refuses a CA certificate used as the server's own.
fn self_signed(dir: &Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl (apt-get install openssl)");
        assert!(status.success(), "openssl {args:?} failed");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dbuild test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("leaf.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
}

mod execution;

/// Where `tools/install-test-deps` puts BuildGrid's virtual environment; `DBUILD_TEST_BGD`
/// names another `bgd`.
pub const BGD: &str = "/opt/dbuild-test-deps/buildgrid/bin/bgd";

/// A running BuildGrid (the REAPI reference server, from PyPI) with a cache-only, in-memory
/// configuration: action cache, CAS and ByteStream under one instance name.
pub struct BuildGrid {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    pub instance: String,
    /// The scheduler's database, for a server with the execution service; stopped after it.
    _database: Option<execution::Postgres>,
}

impl BuildGrid {
    pub fn start(instance: &str) -> BuildGrid {
        BuildGrid::start_with(instance, false)
    }

    /// With `tls`, the server speaks TLS with a certificate from [`BuildGrid::certificate`]'s CA.
    /// The port is chosen before the server binds it, so another process can take it in
    /// between: a server that exits while starting is tried again on another port.
    pub fn start_with(instance: &str, tls: bool) -> BuildGrid {
        let mut last = String::new();
        for _ in 0..3 {
            match BuildGrid::try_start(instance, tls, None) {
                Ok(bg) => return bg,
                Err(log) => last = log,
            }
        }
        panic!("BuildGrid did not start (3 tries); the last one's log:\n{last}");
    }

    /// One start; `Err(log)` when the server exited before it listened. A server still silent
    /// after three minutes (Python starting on a saturated machine is slow) is a failure.
    fn try_start(instance: &str, tls: bool, database: Option<execution::Postgres>) -> Result<BuildGrid, String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let channel = if tls {
            self_signed(dir.path());
            format!(
                "    insecure-mode: false\n    credentials:\n      tls-server-key: {}\n      tls-server-cert: {}\n",
                dir.path().join("key.pem").display(),
                dir.path().join("cert.pem").display()
            )
        } else {
            "    insecure-mode: true\n".to_string()
        };
        let (scheduler, execution) = match &database {
            Some(db) => (execution::scheduler_config(&db.url()), "      - !execution\n        scheduler: *sched\n"),
            None => (String::new(), ""),
        };
        let conf = format!(
            "server:\n  - !channel\n    address: \"127.0.0.1:{port}\"\n{channel}\
             storages:\n  - !lru-storage &cas\n    size: 1GB\n\
             caches:\n  - !lru-action-cache &ac\n    storage: *cas\n    max-cached-refs: 100000\n    \
             allow-updates: true\n    cache-failed-actions: false\n\
             {scheduler}\
             instances:\n  - name: \"{instance}\"\n    services:\n      - !action-cache\n        cache: *ac\n      \
             - !cas\n        storage: *cas\n      - !bytestream\n        storage: *cas\n{execution}"
        );
        std::fs::write(dir.path().join("buildgrid.yml"), conf).expect("buildgrid.yml");
        let bgd = std::env::var("DBUILD_TEST_BGD").unwrap_or_else(|_| BGD.to_string());
        let log = std::fs::File::create(dir.path().join("bgd.log")).expect("bgd.log");
        let child = Command::new(&bgd)
            .args(["server", "start"])
            .arg(dir.path().join("buildgrid.yml"))
            .stdout(log.try_clone().expect("bgd.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{bgd}: {e} (tools/install-test-deps installs BuildGrid 0.4.4)"));
        let mut bg = BuildGrid { child, dir, port, instance: instance.to_string(), _database: database };
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let exited = matches!(bg.child.try_wait(), Ok(Some(_)));
            if !exited && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(bg);
            }
            let log = || std::fs::read_to_string(bg.dir.path().join("bgd.log")).unwrap_or_default();
            if exited {
                return Err(log());
            }
            if Instant::now() > deadline {
                let log = log();
                bg.stop();
                panic!("BuildGrid did not listen within 3 minutes:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `grpc://127.0.0.1:PORT` (`grpcs://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.dir.path().join("cert.pem").exists() { "grpcs" } else { "grpc" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The self-signed CA that signed a TLS server's certificate.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.stop();
    }
}
