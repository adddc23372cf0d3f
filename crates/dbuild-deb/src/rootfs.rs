//! Toolchain roots: the data.tar of every package of a locked closure, extracted into one
//! directory that a sandbox mounts read-only as its `/`.
//!
//! The content rules are those of image layers ([`crate::tree`]): names are normalized and
//! nothing may land outside the root, nothing of a package lies below its own links or files,
//! device nodes and FIFOs are refused, usr-merge moves `bin sbin lib…` into `usr/` when the
//! archive is merged, and no maintainer script runs. Across packages, extraction never writes
//! through a symbolic link either: an entry below a path that is a link in the root is an
//! error naming both packages, and a link or file replacing an earlier one is removed first,
//! never opened.
//!
//! What maintainer scripts would have done is declared instead: the usr-merge aliases
//! (`bin -> usr/bin`, …, for each merged directory the root has) and the user's `links`
//! (`usr/bin/cc -> gcc-14`, update-alternatives' work). Packages are extracted in the order
//! given (the spec sorts them by name); a later package's file replaces an earlier one's at
//! the same path, as dpkg's `Replaces` would, and a file against a directory is an error.
//!
//! The engine records only content and the executable bit of each file, so ownership, mtimes
//! and other mode bits never reach the stored tree: the root is deterministic by construction.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::deb::DebError;
use crate::paths::{normalize, MERGED_DIRS};
use crate::tree::{PackageTree, TreeKind, TreeOptions};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(transparent)]
    Deb(#[from] DebError),
    #[error("{package}: entry {path:?} lies below {link:?}, a symbolic link from {link_owner}; a root is never written through a link")]
    BelowLink { package: String, path: String, link: String, link_owner: String },
    #[error("{package}: entry {path:?} is a {kind}, but {owner} made it a directory")]
    NotADirectory { package: String, path: String, kind: &'static str, owner: String },
    #[error("{package}: entry {path:?} is a directory, but {owner} made it a {kind}")]
    DirectoryOverOther { package: String, path: String, kind: &'static str, owner: String },
    #[error("{package}: hard link {path:?} names {target:?}, which is not a file of the root")]
    BadHardlink { package: String, path: String, target: String },
    #[error("links: {path:?} is not a path inside the root")]
    BadLinkPath { path: String },
    #[error("links: the target of {path:?} is empty")]
    EmptyLinkTarget { path: String },
    #[error("cannot {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Io { op, path: path.to_path_buf(), source }
}

/// What a path of the root is; beside it in the map, who put it there (`package gcc`,
/// `usr-merge`, `links`).
#[derive(Clone, Debug)]
enum Node {
    Dir,
    File,
    Link,
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Dir => "directory",
            Node::File => "file",
            Node::Link => "symbolic link",
        }
    }
}

/// Counts of what a root holds, for reports and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootfsStats {
    pub packages: usize,
    pub files: usize,
    pub links: usize,
}

/// The root being written under `dir`, with what each path is.
struct Root<'a> {
    dir: &'a Path,
    nodes: BTreeMap<String, (Node, String)>,
    stats: RootfsStats,
}

impl Root<'_> {
    /// Refuses `path` when one of its parents is a link; creates the missing parents.
    fn parents(&mut self, owner: &str, path: &str) -> Result<(), RootfsError> {
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match self.nodes.get(&prefix) {
                Some((Node::Dir, _)) => {}
                Some((Node::Link, link_owner)) => {
                    return Err(RootfsError::BelowLink {
                        package: owner.to_string(),
                        path: path.to_string(),
                        link: prefix.clone(),
                        link_owner: link_owner.clone(),
                    })
                }
                Some((n, o)) => {
                    return Err(RootfsError::NotADirectory {
                        package: owner.to_string(),
                        path: prefix.clone(),
                        kind: n.kind(),
                        owner: o.clone(),
                    })
                }
                None => {
                    let full = self.dir.join(&prefix);
                    fs::create_dir(&full).map_err(io("create the directory", &full))?;
                    self.nodes.insert(prefix.clone(), (Node::Dir, owner.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Makes room for a non-directory at `path`: an earlier file or link there is removed
    /// (a later package replaces it); a directory there is an error.
    fn replace(&mut self, owner: &str, path: &str, kind: &'static str) -> Result<(), RootfsError> {
        self.parents(owner, path)?;
        match self.nodes.get(path) {
            None => Ok(()),
            Some((Node::Dir, o)) => Err(RootfsError::NotADirectory {
                package: owner.to_string(),
                path: path.to_string(),
                kind,
                owner: o.clone(),
            }),
            Some(_) => {
                let full = self.dir.join(path);
                fs::remove_file(&full).map_err(io("remove", &full))?;
                Ok(())
            }
        }
    }

    fn dir(&mut self, owner: &str, path: &str) -> Result<(), RootfsError> {
        self.parents(owner, path)?;
        match self.nodes.get(path) {
            Some((Node::Dir, _)) => Ok(()),
            Some((n, o)) => Err(RootfsError::DirectoryOverOther {
                package: owner.to_string(),
                path: path.to_string(),
                kind: n.kind(),
                owner: o.clone(),
            }),
            None => {
                let full = self.dir.join(path);
                fs::create_dir(&full).map_err(io("create the directory", &full))?;
                self.nodes.insert(path.to_string(), (Node::Dir, owner.to_string()));
                Ok(())
            }
        }
    }

    fn file(&mut self, owner: &str, path: &str, mode: u32, data: &mut dyn Read) -> Result<(), RootfsError> {
        self.replace(owner, path, "file")?;
        let full = self.dir.join(path);
        let f = fs::File::create(&full).map_err(io("create", &full))?;
        let mut w = BufWriter::with_capacity(256 * 1024, f);
        std::io::copy(data, &mut w).map_err(io("write", &full))?;
        w.flush().map_err(io("write", &full))?;
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        fs::set_permissions(&full, fs::Permissions::from_mode(mode)).map_err(io("set permissions of", &full))?;
        self.nodes.insert(path.to_string(), (Node::File, owner.to_string()));
        self.stats.files += 1;
        Ok(())
    }

    fn link(&mut self, owner: &str, path: &str, target: &str) -> Result<(), RootfsError> {
        self.replace(owner, path, "symbolic link")?;
        let full = self.dir.join(path);
        std::os::unix::fs::symlink(target, &full).map_err(io("create the link", &full))?;
        if !matches!(self.nodes.insert(path.to_string(), (Node::Link, owner.to_string())), Some((Node::Link, _))) {
            self.stats.links += 1;
        }
        Ok(())
    }

    fn hardlink(&mut self, owner: &str, path: &str, target: &str, mode: u32) -> Result<(), RootfsError> {
        if !matches!(self.nodes.get(target), Some((Node::File, _))) {
            return Err(RootfsError::BadHardlink {
                package: owner.to_string(),
                path: path.to_string(),
                target: target.to_string(),
            });
        }
        // A copy, not a link: every path of the root is its own file.
        let from = self.dir.join(target);
        let mut src = fs::File::open(&from).map_err(io("read", &from))?;
        self.file(owner, path, mode, &mut src)
    }
}

/// One package to extract: its name (for errors and ownership) and its .deb.
pub struct RootfsPackage<R> {
    pub name: String,
    pub deb: R,
}

/// Extracts `packages` into the empty directory `dir`, adds the usr-merge aliases when
/// `usr_merge`, then `links` (path in the root -> link target). `scratch` holds each package's
/// spool while it is read.
pub fn build_rootfs<R: Read>(
    packages: impl IntoIterator<Item = RootfsPackage<R>>,
    usr_merge: bool,
    links: &BTreeMap<String, String>,
    dir: &Path,
    scratch: Option<PathBuf>,
) -> Result<RootfsStats, RootfsError> {
    let mut root = Root { dir, nodes: BTreeMap::new(), stats: RootfsStats::default() };
    let opts = TreeOptions { usr_merge, status_d: false, scratch_dir: scratch };
    for p in packages {
        let tree = PackageTree::read(&p.name, p.deb, &opts)?;
        let owner = format!("package {}", p.name);
        for e in &tree.entries {
            match &e.kind {
                TreeKind::Dir => root.dir(&owner, &e.path)?,
                TreeKind::File { .. } => root.file(&owner, &e.path, e.mode, &mut tree.open(e))?,
                TreeKind::Symlink(t) => root.link(&owner, &e.path, t)?,
                TreeKind::Hardlink(t) => root.hardlink(&owner, &e.path, t, e.mode)?,
            }
        }
        root.stats.packages += 1;
    }
    if usr_merge {
        let present: BTreeSet<&str> = MERGED_DIRS
            .iter()
            .copied()
            .filter(|d| matches!(root.nodes.get(&format!("usr/{d}")), Some((Node::Dir, _))))
            .collect();
        for d in present {
            if !root.nodes.contains_key(d) {
                root.link("usr-merge", d, &format!("usr/{d}"))?;
            }
        }
    }
    for (raw, target) in links {
        let path = match normalize(raw.trim_start_matches('/')) {
            Ok(Some(p)) => p,
            _ => return Err(RootfsError::BadLinkPath { path: raw.clone() }),
        };
        if target.is_empty() || target.contains('\0') {
            return Err(RootfsError::EmptyLinkTarget { path: raw.clone() });
        }
        root.link("links", &path, target)?;
    }
    Ok(root.stats)
}
