//! Where an image goes: `registry[:port]/path/name`, and whether plain HTTP is allowed there.

use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error(
        "repository {0:?} names no registry: write it as host[:port]/name (e.g. 127.0.0.1:5000/distroless/static)"
    )]
    NoRegistry(String),
    #[error("repository {repo:?}: {reason}")]
    BadName { repo: String, reason: String },
    #[error("tag {0:?} is not a valid tag (1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)")]
    BadTag(String),
}

/// A repository on a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// `host[:port]` as written.
    pub registry: String,
    /// The path in the registry (`distroless/static`).
    pub name: String,
}

impl Repository {
    pub fn parse(text: &str) -> Result<Repository, ReferenceError> {
        let (registry, name) = text.split_once('/').ok_or_else(|| ReferenceError::NoRegistry(text.to_string()))?;
        // As docker does: the first component is a registry only if it looks like a host.
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost" || registry.starts_with('[')) {
            return Err(ReferenceError::NoRegistry(text.to_string()));
        }
        let bad = |reason: &str| ReferenceError::BadName { repo: text.to_string(), reason: reason.to_string() };
        if name.is_empty() {
            return Err(bad("the name after the registry is empty"));
        }
        for comp in name.split('/') {
            let ok = !comp.is_empty()
                && comp.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                && comp.starts_with(|c: char| c.is_ascii_alphanumeric())
                && comp.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !ok {
                return Err(bad("each path component must be lowercase letters, digits and . _ -, starting and ending with a letter or digit"));
            }
        }
        Ok(Repository { registry: registry.to_string(), name: name.to_string() })
    }

    /// The host without the port (brackets of an IPv6 address removed).
    pub fn host(&self) -> &str {
        let r = self.registry.as_str();
        if let Some(rest) = r.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        r.rsplit_once(':').map(|(h, _)| h).unwrap_or(r)
    }

    /// A registry on this machine: 127.0.0.0/8, ::1 or localhost. Plain HTTP is allowed there
    /// without `--insecure`, as docker and podman allow it.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// Checks a tag against the distribution spec's grammar.
pub fn check_tag(tag: &str) -> Result<(), ReferenceError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::BadTag(tag.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_loopback() {
        let r = Repository::parse("127.0.0.1:5000/distroless/static").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.name.as_str(), r.host()),
            ("127.0.0.1:5000", "distroless/static", "127.0.0.1")
        );
        assert!(r.is_loopback());
        assert!(Repository::parse("localhost/x").unwrap().is_loopback());
        assert!(Repository::parse("[::1]:5000/x").unwrap().is_loopback());
        assert!(!Repository::parse("registry.internal/distroless/static").unwrap().is_loopback());
        assert!(matches!(Repository::parse("distroless/static"), Err(ReferenceError::NoRegistry(_))));
        assert!(matches!(Repository::parse("127.0.0.1:5000/Static"), Err(ReferenceError::BadName { .. })));
        assert!(check_tag("latest").is_ok() && check_tag("debian13.1_x-y").is_ok());
        assert!(check_tag("-x").is_err() && check_tag("a:b").is_err() && check_tag("").is_err());
    }
}
