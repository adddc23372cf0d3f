//! Where the Debian archive lives: mirror base URIs from the environment, the workspace, or the
//! host's apt sources (deb822 `.sources` files and one-line `sources.list` entries).
//!
//! Nothing here names a mirror: the URIs always come from configuration at run time.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the URI serving the plain suites (bookworm, trixie, …).
pub const ENV_MIRROR: &str = "DBUILD_DEBIAN_MIRROR";
/// Environment variable that overrides the URI serving the `*-security` suites.
pub const ENV_SECURITY_MIRROR: &str = "DBUILD_DEBIAN_SECURITY_MIRROR";
/// Environment variable naming the snapshot service base (`<base>/archive/debian/<time>/…`).
pub const ENV_SNAPSHOT: &str = "DBUILD_DEBIAN_SNAPSHOT";

#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error(
        "no Debian mirror configured for suite {suite:?}: set {env} (or declare it in WORKSPACE.star), \
         or list the suite in the host's apt sources (/etc/apt/sources.list.d/*.sources)"
    )]
    NoMirror { suite: String, env: &'static str },
    #[error("reading apt sources {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// Mirror URIs as given explicitly (e.g. by WORKSPACE.star). `None` means "not given here".
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExplicitMirrors {
    pub debian: Option<String>,
    pub security: Option<String>,
    pub snapshot: Option<String>,
}

/// The resolved mirrors. URIs carry no trailing `/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorConfig {
    /// Serves the plain suites and their `-updates`/`-backports` companions.
    pub debian: Option<String>,
    /// Serves the `*-security` suites.
    pub security: Option<String>,
    /// Snapshot service base, used only when the mirror no longer has a pinned file.
    pub snapshot: Option<String>,
}

/// One `deb` entry of the apt sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// The keyring the entry trusts, if it names one (`Signed-By`).
    pub signed_by: Option<String>,
}

fn trim_uri(u: &str) -> String {
    u.trim().trim_end_matches('/').to_string()
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| trim_uri(&s)).filter(|s| !s.is_empty())
}

impl MirrorConfig {
    /// Resolves mirrors with precedence environment > explicit > host apt sources.
    ///
    /// `env` is a lookup function (not `std::env` directly) so tests and the CLI decide what
    /// the environment is; `apt_root` is normally `/`.
    pub fn resolve(
        explicit: &ExplicitMirrors,
        env: &dyn Fn(&str) -> Option<String>,
        apt_root: &Path,
    ) -> Result<MirrorConfig, SourcesError> {
        let host = host_mirrors(&read_apt_sources(apt_root)?);
        Ok(MirrorConfig {
            debian: non_empty(env(ENV_MIRROR)).or_else(|| non_empty(explicit.debian.clone())).or(host.debian),
            security: non_empty(env(ENV_SECURITY_MIRROR))
                .or_else(|| non_empty(explicit.security.clone()))
                .or(host.security),
            snapshot: non_empty(env(ENV_SNAPSHOT)).or_else(|| non_empty(explicit.snapshot.clone())),
        })
    }

    /// Resolves from the process environment and the host's `/etc/apt`.
    pub fn from_host(explicit: &ExplicitMirrors) -> Result<MirrorConfig, SourcesError> {
        Self::resolve(explicit, &|k| std::env::var(k).ok(), Path::new("/"))
    }

    /// The base URI serving `suite` (security suites come from the security mirror).
    pub fn base_for_suite(&self, suite: &str) -> Result<&str, SourcesError> {
        let (uri, env) =
            if is_security_suite(suite) { (&self.security, ENV_SECURITY_MIRROR) } else { (&self.debian, ENV_MIRROR) };
        uri.as_deref().ok_or_else(|| SourcesError::NoMirror { suite: suite.to_string(), env })
    }
}

/// `trixie-security`, `bookworm-security`, and the old `bullseye/updates` style.
pub fn is_security_suite(suite: &str) -> bool {
    suite.ends_with("-security") || suite.ends_with("/updates")
}

/// Picks the plain and the security mirror from apt entries. Entries trusting Debian's archive
/// keyring are preferred, so third-party repositories (which also call their component `main`)
/// are not mistaken for the Debian mirror.
pub fn host_mirrors(entries: &[AptSource]) -> MirrorConfig {
    let debianish = |e: &&AptSource| e.signed_by.as_deref().is_some_and(|k| k.contains("debian-archive"));
    let pick = |want_security: bool| -> Option<String> {
        let matches = |e: &&AptSource| e.suites.iter().any(|s| is_security_suite(s) == want_security);
        entries
            .iter()
            .filter(matches)
            .find(debianish)
            .or_else(|| entries.iter().filter(matches).find(|e| e.components.iter().any(|c| c == "main")))
            .map(|e| trim_uri(&e.uri))
    };
    MirrorConfig { debian: pick(false), security: pick(true), snapshot: None }
}

/// Reads `etc/apt/sources.list` and `etc/apt/sources.list.d/*.{list,sources}` under `root`,
/// in file-name order. Missing files are not an error (the host may have no apt at all).
pub fn read_apt_sources(root: &Path) -> Result<Vec<AptSource>, SourcesError> {
    let mut out = Vec::new();
    let list = root.join("etc/apt/sources.list");
    if let Some(text) = read_optional(&list)? {
        out.extend(parse_one_line(&text));
    }
    let dir = root.join("etc/apt/sources.list.d");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(SourcesError::Read { path: dir, source }),
    };
    files.sort();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".sources") {
            if let Some(text) = read_optional(&f)? {
                out.extend(parse_deb822(&text));
            }
        } else if name.ends_with(".list") {
            if let Some(text) = read_optional(&f)? {
                out.extend(parse_one_line(&text));
            }
        }
    }
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, SourcesError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SourcesError::Read { path: path.to_path_buf(), source }),
    }
}

/// Parses deb822 `.sources` text. Comment lines are dropped first because apt allows them
/// inside a stanza, which the generic deb822 grammar does not.
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let cleaned: String =
        text.lines().filter(|l| !l.trim_start().starts_with('#')).map(|l| format!("{}\n", l.trim_end())).collect();
    let mut out = Vec::new();
    for para in deb822_fast::borrowed::iter_paragraphs_borrowed(&cleaned).flatten() {
        let field = |name: &str| -> Vec<String> {
            para.get(name)
                .map(|lines| lines.iter().flat_map(|l| l.split_whitespace()).map(str::to_string).collect())
                .unwrap_or_default()
        };
        if !field("Types").iter().any(|t| t == "deb") {
            continue;
        }
        if field("Enabled").first().is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            continue;
        }
        let suites = field("Suites");
        let components = field("Components");
        let signed_by = field("Signed-By").first().cloned();
        for uri in field("URIs") {
            out.push(AptSource {
                uri,
                suites: suites.clone(),
                components: components.clone(),
                signed_by: signed_by.clone(),
            });
        }
    }
    out
}

/// Parses one-line `deb [opts] URI suite comps…` entries.
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ").or_else(|| line.strip_prefix("deb\t")) else { continue };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some(end) = opts.find(']') else { continue };
            for opt in opts[..end].split_whitespace() {
                if let Some(v) = opt.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
            rest = opts[end + 1..].trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else { continue };
        out.push(AptSource {
            uri: uri.to_string(),
            suites: vec![suite.to_string()],
            components: words.map(str::to_string).collect(),
            signed_by,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = "Types: deb\n# a comment inside the stanza\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security/\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://third.invalid/repo\nSuites: nodistro\nComponents: main\n";

    #[test]
    fn deb822_sources_give_plain_and_security_mirrors() {
        let entries = parse_deb822(SOURCES);
        assert_eq!(entries.len(), 3);
        let m = host_mirrors(&entries);
        assert_eq!(m.debian.as_deref(), Some("http://mirror.invalid/debian"));
        assert_eq!(m.security.as_deref(), Some("http://mirror.invalid/debian-security"));
        // trixie is served by the same URI as bookworm.
        assert_eq!(m.base_for_suite("trixie").unwrap(), "http://mirror.invalid/debian");
        assert_eq!(m.base_for_suite("trixie-security").unwrap(), "http://mirror.invalid/debian-security");
    }

    #[test]
    fn one_line_format_with_options() {
        let e = parse_one_line("# x\ndeb [arch=amd64 signed-by=/k/debian-archive.gpg] http://m.invalid/debian bookworm main contrib\ndeb-src http://m.invalid/debian bookworm main\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].uri, "http://m.invalid/debian");
        assert_eq!(e[0].suites, vec!["bookworm"]);
        assert_eq!(e[0].components, vec!["main", "contrib"]);
        assert_eq!(e[0].signed_by.as_deref(), Some("/k/debian-archive.gpg"));
    }

    #[test]
    fn precedence_env_over_explicit_over_host() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/apt/sources.list.d")).unwrap();
        std::fs::write(dir.path().join("etc/apt/sources.list.d/debian.sources"), SOURCES).unwrap();
        let explicit = ExplicitMirrors { debian: Some("http://explicit.invalid/d/".into()), ..Default::default() };
        let env = |k: &str| (k == ENV_SECURITY_MIRROR).then(|| "http://env.invalid/s".to_string());
        let m = MirrorConfig::resolve(&explicit, &env, dir.path()).unwrap();
        assert_eq!(m.debian.as_deref(), Some("http://explicit.invalid/d"));
        assert_eq!(m.security.as_deref(), Some("http://env.invalid/s"));
        assert_eq!(m.snapshot, None);
    }

    #[test]
    fn missing_mirror_error_names_the_env_var() {
        let dir = tempfile::tempdir().unwrap();
        let m = MirrorConfig::resolve(&ExplicitMirrors::default(), &|_| None, dir.path()).unwrap();
        let err = m.base_for_suite("trixie-security").unwrap_err().to_string();
        assert!(err.contains(ENV_SECURITY_MIRROR), "{err}");
        assert!(err.contains("trixie-security"), "{err}");
    }
}
