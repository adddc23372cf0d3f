//! One registry repository over HTTP(S): the distribution API calls `dbuild push` needs, with
//! authentication (anonymous, basic, bearer token) and retries with backoff on 5xx, 408, 429
//! and connection failures. Request bodies are re-created for every attempt, so a layer is
//! streamed from its file each time, never held in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::auth::Credentials;
use crate::reference::Repository;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: {reason} (after {attempts} attempts)")]
    Transport { method: &'static str, url: String, reason: String, attempts: u32 },
    /// TLS, name or URL problems: trying again cannot help.
    #[error("{method} {url}: {reason}")]
    Connect { method: &'static str, url: String, reason: String },
    #[error("{method} {url}: HTTP {status}{}", detail(.body))]
    Status { method: &'static str, url: String, status: u16, body: String },
    #[error("the registry {registry} refused the credentials{}: check DBUILD_REGISTRY_AUTH or your auth file", user.as_ref().map(|u| format!(" of user {u:?}")).unwrap_or_default())]
    Unauthorized { registry: String, user: Option<String> },
    #[error("the registry {registry} asks for credentials, and none were found for it (DBUILD_REGISTRY_AUTH, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)")]
    NoCredentials { registry: String },
    #[error("the registry {registry} asks for an authentication scheme dbuild does not speak: {challenge}")]
    Scheme { registry: String, challenge: String },
    #[error("the token endpoint {realm} answered without a token")]
    NoToken { realm: String },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Protocol(String),
}

fn detail(body: &str) -> String {
    let b = body.trim();
    if b.is_empty() {
        String::new()
    } else {
        format!(": {}", b.chars().take(300).collect::<String>())
    }
}

impl RegistryError {
    fn transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

/// A request body, made anew for each attempt.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of the file at `path`, from `offset`.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

impl Body<'_> {
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

/// A response: status, the headers dbuild reads, and a small body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub digest: Option<String>,
    pub content_type: Option<String>,
    pub oci_subject: Option<String>,
    pub body: Vec<u8>,
}

/// How TLS is set up and whether plain HTTP is allowed.
#[derive(Clone, Debug, Default)]
pub struct Transport {
    /// Plain HTTP (allowed for loopback registries, elsewhere only with `--insecure`).
    pub plain_http: bool,
    /// Extra CA certificates (PEM) trusted besides the system's.
    pub ca_certs: Vec<PathBuf>,
}

/// Where the system keeps its CA bundle (Debian's path).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn pem_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Io { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
            out.push(c);
        }
    }
    Ok(out)
}

fn agent(transport: &Transport) -> Result<ureq::Agent, RegistryError> {
    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(600)))
        .user_agent(concat!("dbuild/", env!("CARGO_PKG_VERSION")));
    // The system's CA bundle when it has one (ureq's built-in Mozilla roots otherwise), plus
    // the CAs the user names.
    let system = pem_certs(Path::new(SYSTEM_CA_BUNDLE)).unwrap_or_default();
    if !transport.ca_certs.is_empty() || !system.is_empty() {
        let mut certs = system;
        for p in &transport.ca_certs {
            let extra = pem_certs(p)?;
            if extra.is_empty() {
                return Err(RegistryError::Protocol(format!("--ca-cert {}: no PEM certificate in it", p.display())));
            }
            certs.extend(extra);
        }
        let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build();
        builder = builder.tls_config(tls);
    }
    Ok(ureq::Agent::new_with_config(builder.build()))
}

/// `r` with `headers` and the `Authorization` header, if there is one yet.
fn with_headers<B>(
    mut r: ureq::RequestBuilder<B>,
    headers: &[(&str, String)],
    auth: Option<&str>,
) -> ureq::RequestBuilder<B> {
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    if let Some(a) = auth {
        r = r.header("Authorization", a);
    }
    r
}

/// A client for one repository.
pub struct Client {
    agent: ureq::Agent,
    pub repo: Repository,
    base: String,
    credentials: Option<Credentials>,
    /// The `Authorization` header that worked last (basic, or a bearer token).
    authorization: Mutex<Option<String>>,
    /// Extra repositories the token must allow pulling from (cross-repository mounts).
    pull_scopes: Vec<String>,
    pub attempts: u32,
    pub base_delay: Duration,
}

/// `key="value"` parameters of a `WWW-Authenticate` challenge.
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = next;
    }
    out
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Client {
    pub fn new(
        repo: Repository,
        credentials: Option<Credentials>,
        transport: &Transport,
        pull_scopes: Vec<String>,
    ) -> Result<Client, RegistryError> {
        let scheme = if transport.plain_http { "http" } else { "https" };
        Ok(Client {
            agent: agent(transport)?,
            base: format!("{scheme}://{}", repo.registry),
            repo,
            credentials,
            authorization: Mutex::new(None),
            pull_scopes,
            attempts: 5,
            base_delay: Duration::from_millis(200),
        })
    }

    /// `/v2/<name>/<rest>` as a full URL.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repo.name)
    }

    /// A `Location` header made absolute.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    fn once(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Reply, RegistryError> {
        let transport = |e: ureq::Error| {
            // rustls reports a refused certificate as an InvalidData I/O error.
            let permanent = match &e {
                ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
                ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::BadUri(_) | ureq::Error::HostNotFound => {
                    true
                }
                _ => false,
            };
            if permanent {
                RegistryError::Connect { method, url: url.to_string(), reason: e.to_string() }
            } else {
                RegistryError::Transport { method, url: url.to_string(), reason: e.to_string(), attempts: 1 }
            }
        };
        // Credentials go to this registry only, never to a host an upload Location names.
        let auth = if url.starts_with(&format!("{}/", self.base)) {
            dbuild_core::sync::lock(&self.authorization).clone()
        } else {
            None
        };
        let auth = auth.as_deref();
        let resp = match method {
            "GET" => with_headers(self.agent.get(url), headers, auth).call(),
            "HEAD" => with_headers(self.agent.head(url), headers, auth).call(),
            _ => {
                let r = match method {
                    "POST" => self.agent.post(url),
                    "PATCH" => self.agent.patch(url),
                    _ => self.agent.put(url),
                };
                let r = with_headers(r, headers, auth).header("Content-Length", body.len().to_string());
                match body {
                    Body::Empty => r.send_empty(),
                    Body::Bytes(b) => r.send(b),
                    Body::File { path, offset, len } => {
                        let io = |source| RegistryError::Io { path: path.to_path_buf(), source };
                        let mut f = File::open(path).map_err(io)?;
                        f.seek(SeekFrom::Start(offset)).map_err(io)?;
                        let mut limited = f.take(len);
                        r.send(ureq::SendBody::from_reader(&mut limited))
                    }
                }
            }
        }
        .map_err(transport)?;
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let status = resp.status().as_u16();
        let mut reply = Reply {
            status,
            location: header("Location"),
            digest: header("Docker-Content-Digest"),
            content_type: header("Content-Type"),
            oci_subject: header("OCI-Subject"),
            body: Vec::new(),
        };
        if status == 401 {
            reply.body = header("WWW-Authenticate").unwrap_or_default().into_bytes();
            return Ok(reply);
        }
        if method != "HEAD" {
            reply.body = resp.into_body().with_config().limit(64 << 20).read_to_vec().map_err(transport)?;
        }
        Ok(reply)
    }

    /// Sends a request, authenticating on a 401 and retrying transient failures. Statuses
    /// other than 401 are returned for the caller to judge.
    pub fn send(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Reply, RegistryError> {
        let mut delay = self.base_delay;
        let mut attempt = 1;
        let mut authenticated = false;
        loop {
            let result = self.once(method, url, headers, body).and_then(|r| {
                if r.status >= 500 || r.status == 408 || r.status == 429 {
                    Err(RegistryError::Status {
                        method,
                        url: url.to_string(),
                        status: r.status,
                        body: String::from_utf8_lossy(&r.body).into_owned(),
                    })
                } else {
                    Ok(r)
                }
            });
            match result {
                Ok(r) if r.status == 401 => {
                    if authenticated {
                        return Err(self.refused());
                    }
                    self.authenticate(&String::from_utf8_lossy(&r.body))?;
                    authenticated = true;
                }
                Err(e) if e.transient() && attempt < self.attempts => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(RegistryError::Transport { method, url, reason, .. }) => {
                    return Err(RegistryError::Transport { method, url, reason, attempts: attempt })
                }
                other => return other,
            }
        }
    }

    fn refused(&self) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.repo.registry.clone(),
            user: self.credentials.as_ref().map(|c| c.username.clone()),
        }
    }

    /// Answers a `WWW-Authenticate` challenge: basic credentials, or a bearer token fetched
    /// from the realm for this repository's push scope.
    fn authenticate(&self, challenge: &str) -> Result<(), RegistryError> {
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let header = match scheme.to_ascii_lowercase().as_str() {
            "basic" => match &self.credentials {
                Some(c) => c.basic_header(),
                None => return Err(RegistryError::NoCredentials { registry: self.repo.registry.clone() }),
            },
            "bearer" => self.token(&challenge_params(params))?,
            _ => {
                return Err(RegistryError::Scheme {
                    registry: self.repo.registry.clone(),
                    challenge: challenge.to_string(),
                })
            }
        };
        *dbuild_core::sync::lock(&self.authorization) = Some(header);
        Ok(())
    }

    fn token(&self, params: &[(String, String)]) -> Result<String, RegistryError> {
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let realm = get("realm").ok_or_else(|| RegistryError::Protocol("a Bearer challenge without a realm".into()))?;
        let mut url = realm.clone();
        let mut query = Vec::new();
        if let Some(s) = get("service") {
            query.push(format!("service={}", percent(&s)));
        }
        query.push(format!("scope={}", percent(&format!("repository:{}:pull,push", self.repo.name))));
        for other in &self.pull_scopes {
            query.push(format!("scope={}", percent(&format!("repository:{other}:pull"))));
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
        let mut r = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            r = r.header("Authorization", c.basic_header());
        }
        let resp = r.call().map_err(|e| RegistryError::Transport {
            method: "GET",
            url: realm.clone(),
            reason: e.to_string(),
            attempts: 1,
        })?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(self.refused());
        }
        let body = resp.into_body().with_config().limit(1 << 20).read_to_vec().map_err(|e| {
            RegistryError::Transport { method: "GET", url: realm.clone(), reason: e.to_string(), attempts: 1 }
        })?;
        if status != 200 {
            return Err(RegistryError::Status {
                method: "GET",
                url: realm,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = v["token"].as_str().or_else(|| v["access_token"].as_str());
        token.map(|t| format!("Bearer {t}")).ok_or(RegistryError::NoToken { realm })
    }

    /// An error for an unexpected status.
    pub fn unexpected(method: &'static str, url: &str, r: &Reply) -> RegistryError {
        RegistryError::Status {
            method,
            url: url.to_string(),
            status: r.status,
            body: String::from_utf8_lossy(&r.body).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let p = challenge_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
        assert_eq!(challenge_params("realm=x, service=y")[1], ("service".into(), "y".into()));
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A server answering `statuses` in turn, one connection each.
    fn serve(statuses: Vec<u16>) -> (u16, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut served = 0;
            for status in statuses {
                let (mut c, _) = listener.accept().unwrap();
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    line.clear();
                }
                write!(c, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
                served += 1;
            }
            served
        });
        (port, handle)
    }

    fn client(port: u16) -> Client {
        let repo = Repository::parse(&format!("127.0.0.1:{port}/r")).unwrap();
        let mut c = Client::new(repo, None, &Transport { plain_http: true, ca_certs: vec![] }, vec![]).unwrap();
        c.base_delay = Duration::from_millis(1);
        c
    }

    #[test]
    fn server_errors_are_retried_then_reported() {
        let (port, server) = serve(vec![503, 502, 200]);
        let c = client(port);
        let r = c.send("GET", &c.url("tags/list"), &[], Body::Empty).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(server.join().unwrap(), 3);

        let (port, server) = serve(vec![500; 5]);
        let mut c = client(port);
        c.attempts = 5;
        let e = c.send("GET", &c.url("tags/list"), &[], Body::Empty).unwrap_err();
        assert!(matches!(e, RegistryError::Status { status: 500, .. }), "{e}");
        assert_eq!(server.join().unwrap(), 5);
    }

    #[test]
    fn client_errors_are_not_retried() {
        let (port, server) = serve(vec![404]);
        let c = client(port);
        assert_eq!(c.send("HEAD", &c.url("blobs/x"), &[], Body::Empty).unwrap().status, 404);
        assert_eq!(server.join().unwrap(), 1);
    }
}
