//! HTTP GET with bounded retries and exponential backoff, and downloads that are verified
//! (size and sha256) while they stream, landing under their final name only when verified.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dbuild_core::{BlobId, DualHasher, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("GET {url}: not found (404)")]
    NotFound { url: String },
    #[error("GET {url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: {reason} (after {attempts} attempts)")]
    Transport { url: String, reason: String, attempts: u32 },
    #[error("GET {url}: {what}: truncated download: got {got} of {expected} bytes")]
    Truncated { url: String, what: String, got: u64, expected: u64 },
    #[error("GET {url}: {what}: larger than the expected {expected} bytes")]
    TooLarge { url: String, what: String, expected: u64 },
    #[error("GET {url}: {what}: sha256 mismatch: expected {expected}, got {actual}")]
    Mismatch { url: String, what: String, expected: Sha256, actual: Sha256 },
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl HttpError {
    /// Worth another attempt: the network or the server had a bad moment.
    fn transient(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            HttpError::Transport { .. } | HttpError::Truncated { .. } => true,
            _ => false,
        }
    }
}

/// How hard to try.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total attempts, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time, capped at `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A whole request (connect + body) may take at most this long.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            // 0.5 + 1 + 2 + 4 + 8 s of waiting: a mirror or proxy restarting under a build of
            // thousands of fetches gets a quarter of a minute, not three seconds.
            attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            timeout: Duration::from_secs(600),
        }
    }
}

#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
    policy: RetryPolicy,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Http {
    pub fn new(policy: RetryPolicy) -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(policy.timeout))
            .user_agent("dbuild")
            .build();
        Http { agent: ureq::Agent::new_with_config(config), policy }
    }

    fn with_retries<T>(&self, mut once: impl FnMut() -> Result<T, HttpError>) -> Result<T, HttpError> {
        let attempts = self.policy.attempts.max(1);
        let mut delay = self.policy.base_delay;
        let mut attempt = 1;
        loop {
            match once() {
                Err(e) if e.transient() && attempt < attempts => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(self.policy.max_delay);
                    attempt += 1;
                }
                Err(HttpError::Transport { url, reason, .. }) => {
                    return Err(HttpError::Transport { url, reason, attempts: attempt })
                }
                other => return other,
            }
        }
    }

    fn open(&self, url: &str) -> Result<ureq::Body, HttpError> {
        let resp = self.agent.get(url).call().map_err(|e| HttpError::Transport {
            url: url.to_string(),
            reason: e.to_string(),
            attempts: 1,
        })?;
        match resp.status().as_u16() {
            200 => Ok(resp.into_body()),
            404 | 410 => Err(HttpError::NotFound { url: url.to_string() }),
            status => Err(HttpError::Status { url: url.to_string(), status }),
        }
    }

    /// GETs a small document (InRelease, Packages index) into memory, refusing more than
    /// `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
        self.with_retries(|| {
            let body = self.open(url)?;
            let mut out = Vec::new();
            body.into_with_config()
                .limit(u64::MAX)
                .reader()
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| HttpError::Transport { url: url.to_string(), reason: e.to_string(), attempts: 1 })?;
            if out.len() as u64 > limit {
                return Err(HttpError::TooLarge { url: url.to_string(), what: "document".into(), expected: limit });
            }
            Ok(out)
        })
    }

    /// Downloads `url` to `dest`, verifying `size` and `sha256` while streaming. The bytes go
    /// to a temporary file next to `dest`, renamed into place only when they verified, so a
    /// reader never sees a partial or wrong file under the final name. `what` (e.g. the
    /// package) is named in errors.
    pub fn download_verified(
        &self,
        url: &str,
        what: &str,
        size: u64,
        sha256: Sha256,
        dest: &Path,
    ) -> Result<BlobId, HttpError> {
        self.with_retries(|| self.download_once(url, what, size, sha256, dest))
    }

    fn download_once(
        &self,
        url: &str,
        what: &str,
        size: u64,
        sha256: Sha256,
        dest: &Path,
    ) -> Result<BlobId, HttpError> {
        let body = self.open(url)?;
        let tmp = temp_path(dest);
        let io = |source| HttpError::Io { path: tmp.clone(), source };
        let result = (|| {
            let mut file = File::create(&tmp).map_err(io)?;
            let mut reader = body.into_with_config().limit(u64::MAX).reader();
            let mut hasher = DualHasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut got = 0u64;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // A connection closed before Content-Length arrived is a truncation.
                    Err(_) => {
                        return Err(HttpError::Truncated {
                            url: url.to_string(),
                            what: what.to_string(),
                            got,
                            expected: size,
                        })
                    }
                };
                got += n as u64;
                if got > size {
                    return Err(HttpError::TooLarge { url: url.to_string(), what: what.to_string(), expected: size });
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).map_err(io)?;
            }
            if got < size {
                return Err(HttpError::Truncated { url: url.to_string(), what: what.to_string(), got, expected: size });
            }
            let id = hasher.finish();
            if id.sha256 != sha256 {
                return Err(HttpError::Mismatch {
                    url: url.to_string(),
                    what: what.to_string(),
                    expected: sha256,
                    actual: id.sha256,
                });
            }
            file.sync_all().map_err(io)?;
            std::fs::rename(&tmp, dest).map_err(|source| HttpError::Io { path: dest.to_path_buf(), source })?;
            Ok(id)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

fn temp_path(dest: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()))
}
