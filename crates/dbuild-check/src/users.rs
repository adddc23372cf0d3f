//! The config's `User` as the runtime resolves it: a user name (and group name) must be
//! defined in `/etc/passwd` (and `/etc/group`) or the container does not start, and the
//! user's home directory is where `$HOME` will point.

use dbuild_core::fs_tree::{FsKind, ImageFs};

use crate::report::Finding;

/// The conventional home of system users that have none; nothing expects it to exist.
const NO_HOME: &str = "/nonexistent";

/// One line of `/etc/passwd`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: Option<u64>,
    home: String,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let field = |i: usize| fields.get(i).copied().unwrap_or("");
            PasswdEntry { name: field(0).to_string(), uid: field(2).parse().ok(), home: field(5).to_string() }
        })
        .collect()
}

/// A file the caller kept ([`crate::keep_for_check`]): `Ok(None)` when it does not exist,
/// `Err(())` when it exists but its bytes were not kept, so nothing can be said about it.
fn text_of(fs: &ImageFs, path: &str) -> Result<Option<String>, ()> {
    match fs.read(path) {
        Some(bytes) => Ok(Some(String::from_utf8_lossy(bytes).into_owned())),
        None if fs.resolve(path).is_some() => Err(()),
        None => Ok(None),
    }
}

/// Appends the findings about the config's `User` (`name`, `uid`, `name:group`, ...).
pub fn check_user(fs: &ImageFs, user: &str, findings: &mut Vec<Finding>) {
    let (user, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if !user.is_empty() {
        check_user_part(fs, user, findings);
    }
    if let Some(group) = group.filter(|g| !g.is_empty() && g.parse::<u64>().is_err()) {
        check_group(fs, group, findings);
    }
}

fn check_user_part(fs: &ImageFs, user: &str, findings: &mut Vec<Finding>) {
    let Ok(passwd) = text_of(fs, "etc/passwd") else { return };
    let entries = passwd.as_deref().map(parse_passwd).unwrap_or_default();
    let entry = match user.parse::<u64>() {
        Ok(uid) => match entries.iter().find(|e| e.uid == Some(uid)) {
            Some(e) => e,
            None => {
                // The runtime starts a numeric uid without an entry; getpwuid() fails later.
                findings.push(Finding::warning(
                    Some("/etc/passwd".into()),
                    format!("uid {uid} has no /etc/passwd entry: programs that look up the current user will fail"),
                ));
                return;
            }
        },
        Err(_) => {
            if passwd.is_none() {
                findings
                    .push(Finding::error(None, format!("User {user:?} is not defined: the image has no /etc/passwd")));
                return;
            }
            match entries.iter().find(|e| e.name == user) {
                Some(e) => e,
                None => {
                    findings.push(Finding::error(
                        Some("/etc/passwd".into()),
                        format!("User {user:?} is not in /etc/passwd"),
                    ));
                    return;
                }
            }
        }
    };
    if entry.home.is_empty() || entry.home == NO_HOME {
        return;
    }
    let problem = match fs.resolve(&entry.home) {
        Some((_, e)) if e.kind == FsKind::Dir => return,
        Some(_) => "is not a directory",
        None => "does not exist",
    };
    findings.push(Finding::error(
        Some(entry.home.clone()),
        format!("the home directory {} of user {:?} {problem}", entry.home, entry.name),
    ));
}

fn check_group(fs: &ImageFs, group: &str, findings: &mut Vec<Finding>) {
    let Ok(text) = text_of(fs, "etc/group") else { return };
    let Some(text) = text else {
        findings.push(Finding::error(None, format!("Group {group:?} is not defined: the image has no /etc/group")));
        return;
    };
    if !text.lines().any(|l| l.split(':').next() == Some(group)) {
        findings.push(Finding::error(Some("/etc/group".into()), format!("Group {group:?} is not in /etc/group")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines() {
        let entries = parse_passwd("root:x:0:0:root:/root:/bin/sh\n\nbad line\napp:x:1000:1000::/home/app:/bin/sh\n");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0], PasswdEntry { name: "root".into(), uid: Some(0), home: "/root".into() });
        assert_eq!(entries[1], PasswdEntry { name: "bad line".into(), uid: None, home: String::new() });
        assert_eq!(entries[2].home, "/home/app");
    }
}
