//! Registry credentials, found where podman and docker users keep them: `$REGISTRY_AUTH_FILE`,
//! `${XDG_RUNTIME_DIR}/containers/auth.json`, `~/.docker/config.json` (the first file that has
//! an entry for the registry wins), or `DBUILD_REGISTRY_AUTH=user:password` for CI, which
//! overrides them. Credentials are never printed: their `Debug` hides the password.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The environment variable CI sets: `user:password`.
pub const AUTH_ENV: &str = "DBUILD_REGISTRY_AUTH";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

impl Credentials {
    /// `Basic base64(user:password)`.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }

    fn from_user_password(text: &str) -> Option<Credentials> {
        let (u, p) = text.split_once(':')?;
        Some(Credentials { username: u.to_string(), password: p.to_string() })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{var} must be user:password")]
    BadEnv { var: &'static str },
    #[error("the auth file {path} cannot be read: {reason}")]
    BadFile { path: PathBuf, reason: String },
}

/// Where credentials are looked for, in order; `env` reads a variable (the process
/// environment, or a map in tests).
pub fn auth_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE").filter(|s| !s.is_empty()) {
        files.push(PathBuf::from(f));
    }
    if let Some(d) = env("XDG_RUNTIME_DIR").filter(|s| !s.is_empty()) {
        files.push(Path::new(&d).join("containers/auth.json"));
    }
    if let Some(h) = env("HOME").filter(|s| !s.is_empty()) {
        files.push(Path::new(&h).join(".docker/config.json"));
    }
    files
}

/// The key of an `auths` entry as a registry (and optional repository path) without scheme.
fn normalize_key(key: &str) -> &str {
    let k = key.trim_start_matches("https://").trim_start_matches("http://");
    let k = k.strip_suffix("/v1/").or_else(|| k.strip_suffix("/v2/")).unwrap_or(k);
    k.trim_end_matches('/')
}

/// The credentials one auth file holds for `registry`/`name`: the entry for the longest
/// matching `registry[/path]` key.
fn from_file(path: &Path, registry: &str, name: &str) -> Result<Option<Credentials>, AuthError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuthError::BadFile { path: path.to_path_buf(), reason: e.to_string() }),
    };
    let bad = |reason: String| AuthError::BadFile { path: path.to_path_buf(), reason };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Some(auths) = v["auths"].as_object() else { return Ok(None) };
    let full = format!("{registry}/{name}");
    let mut best: Option<(usize, &serde_json::Value)> = None;
    for (key, entry) in auths {
        let k = normalize_key(key);
        let matches = k == registry || full == k || full.starts_with(&format!("{k}/"));
        if matches && best.is_none_or(|(len, _)| k.len() > len) {
            best = Some((k.len(), entry));
        }
    }
    let Some((_, entry)) = best else { return Ok(None) };
    if let Some(auth) = entry["auth"].as_str() {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad(format!("the auth entry of {registry} is not base64")))?;
        let text = String::from_utf8(raw).map_err(|_| bad(format!("the auth entry of {registry} is not UTF-8")))?;
        return Credentials::from_user_password(&text)
            .map(Some)
            .ok_or_else(|| bad(format!("the auth entry of {registry} is not user:password")));
    }
    match (entry["username"].as_str(), entry["password"].as_str()) {
        (Some(u), Some(p)) => Ok(Some(Credentials { username: u.into(), password: p.into() })),
        _ => Ok(None),
    }
}

/// The credentials for `registry`/`name`, if any source has them.
pub fn find_credentials(
    registry: &str,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, AuthError> {
    if let Some(v) = env(AUTH_ENV).filter(|s| !s.is_empty()) {
        return Credentials::from_user_password(&v).map(Some).ok_or(AuthError::BadEnv { var: AUTH_ENV });
    }
    for f in auth_files(env) {
        if let Some(c) = from_file(&f, registry, name)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn files_in_order_and_the_longest_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let podman = dir.path().join("auth.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &podman,
            format!(
                r#"{{"auths": {{"127.0.0.1:5000": {{"auth": "{}"}}, "127.0.0.1:5000/team": {{"auth": "{}"}}}}}}"#,
                b64("all:one"),
                b64("team:two")
            ),
        )
        .unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".docker")).unwrap();
        std::fs::write(
            home.join(".docker/config.json"),
            format!(r#"{{"auths": {{"https://other:443/v1/": {{"auth": "{}"}}}}}}"#, b64("d:three")),
        )
        .unwrap();
        let vars: HashMap<&str, String> =
            [("REGISTRY_AUTH_FILE", podman.display().to_string()), ("HOME", home.display().to_string())].into();
        let env = |k: &str| vars.get(k).cloned();
        let c = find_credentials("127.0.0.1:5000", "team/app", &env).unwrap().unwrap();
        assert_eq!(c.username, "team");
        let c = find_credentials("127.0.0.1:5000", "x", &env).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("all", "one"));
        let c = find_credentials("other:443", "x", &env).unwrap().unwrap();
        assert_eq!(c.username, "d");
        assert!(find_credentials("nowhere:1", "x", &env).unwrap().is_none());
        assert!(!format!("{c:?}").contains("three"), "Debug must hide the password");
        let ci = |k: &str| (k == AUTH_ENV).then(|| "ci:secret".to_string());
        assert_eq!(find_credentials("x:1", "y", &ci).unwrap().unwrap().username, "ci");
        let broken = |k: &str| (k == AUTH_ENV).then(|| "nocolon".to_string());
        assert!(matches!(find_credentials("x:1", "y", &broken), Err(AuthError::BadEnv { .. })));
    }
}
