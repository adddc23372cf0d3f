//! How to reach a cache server: its URL, instance name, extra headers, timeout and CA.

use std::path::PathBuf;
use std::time::Duration;

/// Settings for [`crate::open`].
#[derive(Clone)]
pub struct RemoteOptions {
    /// `http://[user:password@]host[:port][/prefix]`, `https://…`, `grpc://host:port`,
    /// `grpcs://…`.
    pub url: String,
    /// The REAPI instance name (gRPC only: an HTTP cache's URL prefix plays that part).
    pub instance_name: String,
    /// Sent with every request (`Authorization`, say). Never printed.
    pub headers: Vec<(String, String)>,
    /// Bound on one exchange, connection included.
    pub timeout: Duration,
    /// PEM file with the CA certificates to trust instead of the built-in roots.
    pub ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for RemoteOptions {
    // Headers carry credentials: a debug print shows their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("url", &redact_url(&self.url))
            .field("instance_name", &self.instance_name)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl RemoteOptions {
    pub fn new(url: impl Into<String>) -> RemoteOptions {
        RemoteOptions {
            url: url.into(),
            instance_name: String::new(),
            headers: Vec::new(),
            timeout: Duration::from_secs(60),
            ca_cert: None,
        }
    }
}

/// `scheme://user:pass@host/x` → `scheme://host/x`: the form every message uses.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match scheme {
        Some(s) => format!("{s}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

/// Splits the credentials out of a URL: (URL without them, `user:password` if any).
pub(crate) fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_string(), None) };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => (format!("{scheme}://{host}{path}"), Some(percent_decode(userinfo))),
        None => (url.to_string(), None),
    }
}

/// `%40` → `@`: user names and passwords with reserved characters come percent-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_shown_url() {
        assert_eq!(redact_url("http://u:p@127.0.0.1:8080/cache"), "http://127.0.0.1:8080/cache");
        assert_eq!(redact_url("https://tok@h/a@b"), "https://h/a@b");
        assert_eq!(redact_url("grpc://h:1"), "grpc://h:1");
        let (url, user) = split_userinfo("http://me:p%40ss@h:1/x");
        assert_eq!(url, "http://h:1/x");
        assert_eq!(user.as_deref(), Some("me:p@ss"));
        assert_eq!(split_userinfo("http://h/x@y"), ("http://h/x@y".to_string(), None));
        let dbg = format!(
            "{:?}",
            RemoteOptions {
                headers: vec![("Authorization".into(), "Bearer s3cret".into())],
                ..RemoteOptions::new("http://u:pw@h/")
            }
        );
        assert!(!dbg.contains("s3cret") && !dbg.contains("pw"), "{dbg}");
    }
}
