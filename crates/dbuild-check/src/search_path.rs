//! Where the dynamic loader looks for a DT_NEEDED library: the object's DT_RPATH (and its
//! loaders' when it has no DT_RUNPATH), `LD_LIBRARY_PATH`, its DT_RUNPATH, the directories
//! of `/etc/ld.so.conf` (standing in for `/etc/ld.so.cache`, which is built from it), and
//! the built-in defaults. Paths here are image paths without the leading `/`.

use std::collections::BTreeSet;

use dbuild_core::fs_tree::{FsKind, ImageFs};

use crate::arch::Arch;
use crate::elf::ElfInfo;

/// `include` nesting beyond this is a loop in the configuration.
const MAX_INCLUDE_DEPTH: usize = 8;

/// The directories searched after the multiarch ones, by the loader and by ldconfig alike.
pub(crate) const BUILTIN_DIRS: [&str; 2] = ["lib", "usr/lib"];

/// The directories of `/etc/ld.so.conf` and the files it includes, in order, each once.
pub(crate) fn conf_dirs(fs: &ImageFs) -> Vec<String> {
    let mut dirs = Vec::new();
    read_conf(fs, "etc/ld.so.conf", 0, &mut dirs);
    dirs
}

/// The parts of the search path that are the same for every object of the image.
#[derive(Clone, Debug, Default)]
pub struct SearchPath {
    ld_library_path: Vec<String>,
    conf_dirs: Vec<String>,
    default_dirs: Vec<String>,
    /// What `$LIB` expands to in RPATH/RUNPATH entries.
    lib_token: String,
}

impl SearchPath {
    /// `ld_library_path` is the `LD_LIBRARY_PATH` of the image config's `Env`, if set.
    pub fn new(fs: &ImageFs, arch: &Arch, ld_library_path: Option<&str>) -> SearchPath {
        let conf_dirs = conf_dirs(fs);
        let mut default_dirs = Vec::new();
        if let Some(t) = arch.triplet {
            default_dirs.push(format!("lib/{t}"));
            default_dirs.push(format!("usr/lib/{t}"));
        }
        default_dirs.extend(BUILTIN_DIRS.iter().map(|d| d.to_string()));
        if arch.lib64 {
            default_dirs.extend(["lib64".to_string(), "usr/lib64".to_string()]);
        }
        SearchPath {
            ld_library_path: ld_library_path
                .map(|p| p.split(':').filter(|s| !s.is_empty()).map(clean).collect())
                .unwrap_or_default(),
            conf_dirs,
            default_dirs,
            lib_token: arch.triplet.map(|t| format!("lib/{t}")).unwrap_or_else(|| "lib".to_string()),
        }
    }

    /// The directories searched, in order, for a library `info` (loaded from `origin_dir`)
    /// needs. `inherited_rpath` is the DT_RPATH of the objects that loaded it, which the
    /// loader also searches while neither has a DT_RUNPATH.
    pub fn dirs_for(&self, info: &ElfInfo, origin_dir: &str, inherited_rpath: &[String]) -> Vec<String> {
        let mut dirs = Vec::new();
        if info.runpath.is_none() {
            dirs.extend(info.rpath.iter().map(|d| self.expand(d, origin_dir)));
            dirs.extend(inherited_rpath.iter().cloned());
        }
        dirs.extend(self.ld_library_path.iter().cloned());
        if let Some(runpath) = &info.runpath {
            dirs.extend(runpath.iter().map(|d| self.expand(d, origin_dir)));
        }
        dirs.extend(self.conf_dirs.iter().cloned());
        dirs.extend(self.default_dirs.iter().cloned());
        // Searching a directory twice finds nothing new.
        let mut seen = BTreeSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        dirs
    }

    /// The DT_RPATH of `info`, expanded, as it is inherited by the libraries it loads.
    pub fn rpath_of(&self, info: &ElfInfo, origin_dir: &str) -> Vec<String> {
        info.rpath.iter().map(|d| self.expand(d, origin_dir)).collect()
    }

    /// Expands `$ORIGIN` and `$LIB` the way the loader does; a relative result stays
    /// relative to the image root, which is where the loader's working directory usually is.
    fn expand(&self, entry: &str, origin_dir: &str) -> String {
        let origin = format!("/{origin_dir}");
        let expanded = entry
            .replace("${ORIGIN}", &origin)
            .replace("$ORIGIN", &origin)
            .replace("${LIB}", &self.lib_token)
            .replace("$LIB", &self.lib_token);
        clean(&expanded)
    }
}

/// An image path without leading/trailing `/` or `.` components; `..` is kept for
/// [`ImageFs::resolve`] to walk, since it must follow symlinks first.
fn clean(path: &str) -> String {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Appends the directories of the ld.so.conf-format file `path` to `out`, following its
/// `include` lines. A missing or unreadable file adds nothing, as for ldconfig.
fn read_conf(fs: &ImageFs, path: &str, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    let Some(bytes) = fs.read(path) else { return };
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(rest) = line.strip_prefix("include").filter(|r| r.starts_with([' ', '\t'])) {
            for pattern in rest.split_whitespace() {
                // ldconfig reads a relative pattern relative to the including file.
                let pattern = if pattern.starts_with('/') {
                    clean(pattern)
                } else {
                    clean(&format!("{}/{pattern}", parent(path)))
                };
                for file in glob(fs, &pattern) {
                    read_conf(fs, &file, depth + 1, out);
                }
            }
        } else if line.starts_with("hwcap") {
            continue;
        } else {
            // Old-style `dir=TYPE` entries and comma/colon separators are still accepted.
            for entry in line.split([' ', '\t', ',', ':']).filter(|s| !s.is_empty()) {
                let dir = clean(entry.split('=').next().unwrap_or(""));
                if !dir.is_empty() && !out.contains(&dir) {
                    out.push(dir);
                }
            }
        }
    }
}

/// The regular files matching `pattern`, whose last component may hold `*` and `?`,
/// sorted as glob(3) sorts them.
fn glob(fs: &ImageFs, pattern: &str) -> Vec<String> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if !name.contains(['*', '?']) {
        return vec![pattern.to_string()];
    }
    let real_dir = if dir.is_empty() {
        String::new()
    } else {
        match fs.resolve(dir) {
            Some((p, e)) if e.kind == FsKind::Dir => p,
            Some(_) => return Vec::new(),
            // A directory only implied by the files beneath it has no entry of its own.
            None => dir.to_string(),
        }
    };
    let prefix = if real_dir.is_empty() { String::new() } else { format!("{real_dir}/") };
    let mut found: Vec<String> = fs
        .entries()
        .filter_map(|(p, _)| p.strip_prefix(prefix.as_str()))
        .filter(|rest| !rest.contains('/') && wildcard(name.as_bytes(), rest.as_bytes()))
        .map(|rest| format!("{prefix}{rest}"))
        .collect();
    found.sort();
    found
}

/// Shell-style matching of `*` and `?`; no character classes, which ld.so.conf never uses.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| wildcard(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && wildcard(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.conf", b"x86_64-linux-gnu.conf"));
        assert!(!wildcard(b"*.conf", b"x86_64-linux-gnu.conf.bak"));
        assert!(wildcard(b"lib?.conf", b"libc.conf"));
    }
}
