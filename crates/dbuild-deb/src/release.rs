//! The fields of a (verified) Release file that dbuild relies on.

use std::collections::BTreeMap;

use dbuild_core::Sha256;

use crate::time::parse_rfc2822;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("Release of suite {suite:?}: {reason}")]
    Malformed { suite: String, reason: String },
    #[error("Release of suite {suite:?} expired at {valid_until} (Valid-Until), now is {now}")]
    Expired { suite: String, valid_until: String, now: String },
    #[error("Release of suite {suite:?} is dated {date}, in the future (now is {now})")]
    FromTheFuture { suite: String, date: String, now: String },
    #[error("Release of suite {requested:?} says it is suite {suite:?} / codename {codename:?}")]
    WrongSuite { requested: String, suite: String, codename: String },
}

/// One line of the Release's `SHA256:` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFile {
    pub sha256: Sha256,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub suite: String,
    pub codename: String,
    /// As written (RFC 2822), and as seconds since the epoch.
    pub date: String,
    pub date_unix: i64,
    pub valid_until: Option<String>,
    pub valid_until_unix: Option<i64>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// Path relative to the `dists/<suite>/` directory → digest and size.
    pub sha256: BTreeMap<String, IndexFile>,
    /// `Acquire-By-Hash: yes`: indices are also served under `by-hash/SHA256/<digest>`,
    /// which cannot change under us while the mirror syncs.
    pub acquire_by_hash: bool,
}

impl Release {
    /// Parses the text of a Release (the signed part of an InRelease). `requested` is the
    /// suite name we asked for, used in errors.
    pub fn parse(requested: &str, text: &str) -> Result<Release, ReleaseError> {
        let bad = |reason: String| ReleaseError::Malformed { suite: requested.to_string(), reason };
        let mut paras = deb822_fast::borrowed::iter_paragraphs_borrowed(text);
        let para = match paras.next() {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(bad(format!("not deb822: {e}"))),
            None => return Err(bad("empty".into())),
        };
        let single = |name: &str| {
            para.get(name).map(|l| l.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" "))
        };
        let words = |name: &str| {
            single(name).map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>()).unwrap_or_default()
        };
        let date = single("Date").ok_or_else(|| bad("no Date field".into()))?;
        let date_unix = parse_rfc2822(&date).ok_or_else(|| bad(format!("unreadable Date {date:?}")))?;
        let valid_until = single("Valid-Until");
        let valid_until_unix = match &valid_until {
            Some(v) => Some(parse_rfc2822(v).ok_or_else(|| bad(format!("unreadable Valid-Until {v:?}")))?),
            None => None,
        };
        let mut sha256 = BTreeMap::new();
        for line in para.get("SHA256").unwrap_or(&[]) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.is_empty() {
                continue;
            }
            let [digest, size, path] = parts[..] else {
                return Err(bad(format!("bad SHA256 line {line:?}")));
            };
            let sha = digest.parse().map_err(|_| bad(format!("bad digest in SHA256 line {line:?}")))?;
            let size = size.parse().map_err(|_| bad(format!("bad size in SHA256 line {line:?}")))?;
            sha256.insert(path.to_string(), IndexFile { sha256: sha, size });
        }
        if sha256.is_empty() {
            return Err(bad("no SHA256 list".into()));
        }
        Ok(Release {
            suite: single("Suite").unwrap_or_default(),
            codename: single("Codename").unwrap_or_default(),
            date,
            date_unix,
            valid_until,
            valid_until_unix,
            architectures: words("Architectures"),
            components: words("Components"),
            sha256,
            acquire_by_hash: single("Acquire-By-Hash").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        })
    }

    /// Refuses a Release that expired (`Valid-Until` before `now`), that claims to be another
    /// suite than the one asked for (a downgrade/substitution attack), or whose Date lies far
    /// in the future (a clock problem we should not paper over).
    pub fn check(&self, requested: &str, now_unix: i64) -> Result<(), ReleaseError> {
        if let Some(v) = self.valid_until_unix {
            if now_unix > v {
                return Err(ReleaseError::Expired {
                    suite: requested.to_string(),
                    valid_until: self.valid_until.clone().unwrap_or_default(),
                    now: crate::time::format_rfc2822(now_unix),
                });
            }
        }
        // Ten minutes of clock skew are tolerated.
        if self.date_unix > now_unix.saturating_add(600) {
            return Err(ReleaseError::FromTheFuture {
                suite: requested.to_string(),
                date: self.date.clone(),
                now: crate::time::format_rfc2822(now_unix),
            });
        }
        if requested != self.suite && requested != self.codename {
            return Err(ReleaseError::WrongSuite {
                requested: requested.to_string(),
                suite: self.suite.clone(),
                codename: self.codename.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 10 May 2025 08:58:03 UTC\nValid-Until: Sat, 17 May 2025 08:58:03 UTC\nArchitectures: amd64 arm64\nComponents: main contrib\nSHA256:\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef   123 main/binary-amd64/Packages.xz\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 45 main/binary-arm64/Packages.gz\n";

    #[test]
    fn parses_fields_and_sha256_list() {
        let r = Release::parse("bookworm", TEXT).unwrap();
        assert_eq!(r.codename, "bookworm");
        assert_eq!(r.architectures, vec!["amd64", "arm64"]);
        assert_eq!(r.sha256["main/binary-amd64/Packages.xz"].size, 123);
        assert_eq!(r.date_unix, 1746867483);
        r.check("bookworm", 1746867483 + 3600).unwrap();
        r.check("stable", 1746867483 + 3600).unwrap();
    }

    #[test]
    fn honours_valid_until_and_suite() {
        let r = Release::parse("bookworm", TEXT).unwrap();
        let err = r.check("bookworm", 1746867483 + 8 * 86400).unwrap_err().to_string();
        assert!(err.contains("expired") && err.contains("bookworm"), "{err}");
        assert!(matches!(r.check("trixie", 1746867483).unwrap_err(), ReleaseError::WrongSuite { .. }));
        assert!(matches!(r.check("bookworm", 1746867483 - 86400).unwrap_err(), ReleaseError::FromTheFuture { .. }));
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        assert!(Release::parse("x", "").is_err());
        assert!(Release::parse("x", "Date: yesterday\n").is_err());
        assert!(Release::parse("x", "Date: Sat, 10 May 2025 08:58:03 UTC\nSHA256:\n zz 1 a\n").is_err());
    }
}
