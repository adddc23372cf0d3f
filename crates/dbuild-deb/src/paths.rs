//! Path rules for package contents: normalizing archive names, refusing names that escape the
//! root, and the usr-merge rewrite (debian13).

use dbuild_tar::{Absolute, ImagePath};

/// Top-level directories that a merged-/usr system aliases into `usr/`.
pub const MERGED_DIRS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// A name that would land outside the root (absolute, or with a `..` component).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EscapesRoot;

/// Normalizes a tar member name (`./usr/bin/x`, `usr/bin/x/`) to `usr/bin/x` with
/// dbuild-tar's [`ImagePath`] rules, refusing absolute names and `..` (and NUL bytes).
/// `Ok(None)` is the root itself.
pub fn normalize(raw: &str) -> Result<Option<String>, EscapesRoot> {
    let p = ImagePath::normalize_str(raw, Absolute::Refuse).map_err(|_| EscapesRoot)?;
    Ok((!p.is_empty()).then_some(p))
}

/// The merged-/usr location of `path`, or `None` when it does not move. The bare alias
/// (`bin`) itself moves too: as a directory it becomes `usr/bin`; callers keep a *symlink*
/// at the alias path in place (that is the alias, shipped by trixie's base-files).
pub fn usr_merged(path: &str) -> Option<String> {
    let first = path.split('/').next().unwrap_or("");
    MERGED_DIRS.contains(&first).then(|| format!("usr/{path}"))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Lexically resolves a relative symlink `target` found at `link_path` to a root-relative
/// path (`..` at the root stays at the root, as the kernel does).
pub fn resolve_relative(link_path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = parent(link_path).split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// The relative path from the directory containing `from` to `to` (both root-relative).
pub fn relative_to(from: &str, to: &str) -> String {
    let base: Vec<&str> = parent(from).split('/').filter(|c| !c.is_empty()).collect();
    let dest: Vec<&str> = to.split('/').filter(|c| !c.is_empty()).collect();
    let common = base.iter().zip(&dest).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = std::iter::repeat_n("..", base.len() - common).collect();
    out.extend(&dest[common..]);
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

/// A relative symlink that moved from `old` to `new` keeps pointing at the same file:
/// resolve it from the old place, apply the merge to the result, relativize from the new
/// place. Absolute targets are left alone (the aliases make them work).
pub fn retarget_moved_symlink(old: &str, new: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let resolved = resolve_relative(old, target);
    let merged = usr_merged(&resolved).unwrap_or(resolved);
    relative_to(new, &merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_escapes() {
        assert_eq!(normalize("./usr/bin/x"), Ok(Some("usr/bin/x".into())));
        assert_eq!(normalize("./usr/share/"), Ok(Some("usr/share".into())));
        assert_eq!(normalize("./"), Ok(None));
        assert_eq!(normalize("./usr/../../etc"), Err(EscapesRoot));
        assert_eq!(normalize("/etc/passwd"), Err(EscapesRoot));
    }

    #[test]
    fn usr_merge_and_symlink_retargeting() {
        assert_eq!(usr_merged("bin/sh").as_deref(), Some("usr/bin/sh"));
        assert_eq!(usr_merged("lib64").as_deref(), Some("usr/lib64"));
        assert_eq!(usr_merged("usr/bin/sh"), None);
        assert_eq!(usr_merged("libexec/x"), None);
        // /bin/x -> ../usr/lib/y must still reach /usr/lib/y from /usr/bin/x.
        assert_eq!(retarget_moved_symlink("bin/x", "usr/bin/x", "../usr/lib/y"), "../lib/y");
        // /lib/x -> ../lib/z (i.e. /lib/z) becomes /usr/lib/z.
        assert_eq!(retarget_moved_symlink("lib/x", "usr/lib/x", "../lib/z"), "z");
        assert_eq!(retarget_moved_symlink("sbin/x", "usr/sbin/x", "/bin/y"), "/bin/y");
        assert_eq!(relative_to("a/b/c", "a/d"), "../d");
        assert_eq!(resolve_relative("a/b", "../../../x"), "x");
    }
}
