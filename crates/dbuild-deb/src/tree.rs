//! A package's file tree, normalized: read from data.tar in one streaming pass (file bytes
//! spooled to an unlinked scratch file, only metadata in memory), usr-merged if asked,
//! completed with status.d entries and implied parent directories, and sorted by path.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::deb::{visit_deb, ControlInfo, DebError};
use crate::paths::{normalize, retarget_moved_symlink, usr_merged, MERGED_DIRS};

/// One entry of the tree. `File` data lives in the spool at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub kind: TreeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeKind {
    File {
        offset: u64,
        size: u64,
    },
    Dir,
    Symlink(String),
    /// A hard link to another path of the tree, which comes earlier in sorted order.
    Hardlink(String),
}

/// How to shape the tree.
#[derive(Clone, Debug, Default)]
pub struct TreeOptions {
    /// Rewrite `bin sbin lib lib32 lib64 libx32` into `usr/` (debian13).
    pub usr_merge: bool,
    /// Add `var/lib/dpkg/status.d/<name>` and `<name>.md5sums`.
    pub status_d: bool,
    /// Where the spool file goes; the system temp dir if `None`.
    pub scratch_dir: Option<PathBuf>,
}

/// An entry added to a trimmed tree by [`PackageTree::retain_and_add_entries`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewEntry {
    /// A regular file holding `bytes`.
    File { path: String, bytes: Vec<u8>, mode: u32 },
    /// A symbolic link (mode 0777).
    Symlink { path: String, target: String },
    /// The bytes of the package's regular file `from`, placed at `path` with `mode`.
    CopyOf { path: String, from: String, mode: u32 },
}

/// A normalized package tree.
pub struct PackageTree {
    pub control: ControlInfo,
    /// Sorted by path (byte order), parents before children, no duplicates.
    pub entries: Vec<TreeEntry>,
    spool: File,
}

static SPOOL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An anonymous scratch file: created, then unlinked at once, so it vanishes with the handle
/// even if the process dies.
fn spool_file(dir: &Path) -> std::io::Result<File> {
    let n = SPOOL_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".dbuild-deb-spool.{}.{n}", std::process::id()));
    let f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

/// A reader of one spooled file's bytes.
pub struct SpoolReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// An entry as read, before merging: where it came from matters for collisions.
struct Raw {
    entry: TreeEntry,
    /// Whether usr-merge moved it (the canonical /usr copy wins over a moved one).
    moved: bool,
}

impl PackageTree {
    /// Reads a .deb from `deb`. `package` names it in errors.
    pub fn read(package: &str, deb: impl Read, opts: &TreeOptions) -> Result<PackageTree, DebError> {
        let io = |source| DebError::Io { package: package.to_string(), source };
        let dir = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        let spool = spool_file(&dir).map_err(io)?;
        let mut raws: Vec<Raw> = Vec::new();
        let mut spool_len = 0u64;
        let control = visit_deb(package, deb, |_, data| {
            let mut archive = tar::Archive::new(data);
            // Buffered: packages hold thousands of small files.
            let mut writer = std::io::BufWriter::with_capacity(1 << 20, &spool);
            for entry in archive.entries().map_err(io)? {
                let mut entry = entry.map_err(io)?;
                // Paths become `String`s downstream (LayerEntry); a lossy conversion could
                // silently merge two names, so non-UTF-8 names are refused instead.
                let raw_path = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| DebError::BadEntry {
                    package: package.to_string(),
                    path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    reason: "file name is not UTF-8".into(),
                })?;
                let unsafe_path = || DebError::UnsafePath { package: package.to_string(), path: raw_path.clone() };
                let Some(path) = normalize(&raw_path).map_err(|_| unsafe_path())? else { continue };
                let h = entry.header();
                let mode = h.mode().map_err(io)? & 0o7777;
                let uid = h.uid().map_err(io)? as u32;
                let gid = h.gid().map_err(io)? as u32;
                let link = || -> Result<String, DebError> {
                    let bad = |reason: &str| DebError::BadEntry {
                        package: package.to_string(),
                        path: raw_path.clone(),
                        reason: reason.into(),
                    };
                    let bytes = entry.link_name_bytes().ok_or_else(|| bad("link without a target"))?;
                    String::from_utf8(bytes.into_owned()).map_err(|_| bad("link target is not UTF-8"))
                };
                let kind = match h.entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        let offset = spool_len;
                        let size = std::io::copy(&mut entry, &mut writer).map_err(io)?;
                        spool_len += size;
                        TreeKind::File { offset, size }
                    }
                    tar::EntryType::Directory => TreeKind::Dir,
                    tar::EntryType::Symlink => TreeKind::Symlink(link()?),
                    tar::EntryType::Link => {
                        let target = link()?;
                        let t = normalize(&target).ok().flatten().ok_or_else(|| DebError::UnsafePath {
                            package: package.to_string(),
                            path: format!("{raw_path} (hard link to {target})"),
                        })?;
                        TreeKind::Hardlink(t)
                    }
                    special @ (tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo) => {
                        let what = match special {
                            tar::EntryType::Char => "a character device",
                            tar::EntryType::Block => "a block device",
                            _ => "a FIFO",
                        };
                        return Err(DebError::BadEntry {
                            package: package.to_string(),
                            path: raw_path.clone(),
                            reason: format!("is {what}; Debian packages ship no device nodes or FIFOs"),
                        });
                    }
                    other => {
                        return Err(DebError::BadEntry {
                            package: package.to_string(),
                            path: raw_path.clone(),
                            reason: format!("unsupported tar entry type {other:?}"),
                        })
                    }
                };
                raws.push(Raw { entry: TreeEntry { path, kind, mode, uid, gid }, moved: false });
            }
            writer.flush().map_err(io)?;
            Ok(())
        })?;
        let mut tree = PackageTree { control, entries: Vec::new(), spool };
        if opts.usr_merge {
            raws = raws.into_iter().map(merge_entry).collect();
        }
        let mut map: BTreeMap<String, Raw> = BTreeMap::new();
        for r in raws {
            // Collision rule: an entry that was already under usr/ wins over one moved there
            // by usr-merge; otherwise the later archive entry wins, as when unpacking.
            if let Some(old) = map.get(&r.entry.path) {
                if !old.moved && r.moved {
                    continue;
                }
            }
            map.insert(r.entry.path.clone(), r);
        }
        if opts.status_d {
            let name = tree.control.package.clone();
            let mut control = tree.control.control.clone();
            if !control.is_empty() && !control.ends_with(b"\n") {
                control.push(b'\n');
            }
            let md5sums = tree.control.md5sums.clone().unwrap_or_default();
            for (path, bytes) in [
                (format!("var/lib/dpkg/status.d/{name}"), control),
                (format!("var/lib/dpkg/status.d/{name}.md5sums"), md5sums),
            ] {
                (&tree.spool).write_all(&bytes).map_err(io)?;
                let kind = TreeKind::File { offset: spool_len, size: bytes.len() as u64 };
                spool_len += bytes.len() as u64;
                map.insert(
                    path.clone(),
                    Raw { entry: TreeEntry { path, kind, mode: 0o644, uid: 0, gid: 0 }, moved: false },
                );
            }
        }
        refuse_entries_below_non_directories(package, &map)?;
        // Implied parents, 0755 root-owned, as the layer writer would add them.
        let paths: Vec<String> = map.keys().cloned().collect();
        for p in paths {
            let mut cur = p.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                if !map.contains_key(parent) {
                    let entry =
                        TreeEntry { path: parent.to_string(), kind: TreeKind::Dir, mode: 0o755, uid: 0, gid: 0 };
                    map.insert(parent.to_string(), Raw { entry, moved: false });
                }
                cur = parent;
            }
        }
        let mut entries: BTreeMap<String, TreeEntry> = map.into_iter().map(|(k, r)| (k, r.entry)).collect();
        relink_hardlinks(package, &mut entries)?;
        tree.entries = entries.into_values().collect();
        Ok(tree)
    }

    /// Keeps only the entries at `keep` (and their parent directories), then adds `extra`
    /// regular files (0644, root-owned), with their implied parents. A kept hard link whose
    /// target is dropped would dangle, so hard links are refused here.
    pub fn retain_and_add(&mut self, keep: &[String], extra: &[(String, Vec<u8>)]) -> Result<(), DebError> {
        let extra =
            extra.iter().map(|(path, bytes)| NewEntry::File { path: path.clone(), bytes: bytes.clone(), mode: 0o644 });
        self.retain_and_add_entries(keep, extra.collect())
    }

    /// Like [`PackageTree::retain_and_add`], with any kind of [`NewEntry`] added (root-owned).
    /// A [`NewEntry::CopyOf`] names an entry of the tree as read, kept or not. An added path
    /// replaces a kept entry at the same path.
    pub fn retain_and_add_entries(&mut self, keep: &[String], extra: Vec<NewEntry>) -> Result<(), DebError> {
        let package = self.control.package.clone();
        let io = |source| DebError::Io { package: package.clone(), source };
        let bad = |path: &str, reason: String| DebError::BadEntry {
            package: package.clone(),
            path: path.to_string(),
            reason,
        };
        let mut map: BTreeMap<String, TreeEntry> = BTreeMap::new();
        for e in self.entries.iter().filter(|e| keep.contains(&e.path)) {
            if let TreeKind::Hardlink(t) = &e.kind {
                return Err(bad(&e.path, format!("hard link to {t}: cannot be kept without its target")));
            }
            map.insert(e.path.clone(), e.clone());
        }
        let mut end = self.spool.metadata().map_err(io)?.len();
        for new in extra {
            let (path, kind, mode) = match new {
                NewEntry::File { path, bytes, mode } => {
                    self.spool.write_all_at(&bytes, end).map_err(io)?;
                    let kind = TreeKind::File { offset: end, size: bytes.len() as u64 };
                    end += bytes.len() as u64;
                    (path, kind, mode)
                }
                NewEntry::Symlink { path, target } => (path, TreeKind::Symlink(target), 0o777),
                NewEntry::CopyOf { path, from, mode } => {
                    // The spool is shared, so a copy only points at the same bytes.
                    let kind =
                        self.file_kind(&from).ok_or_else(|| bad(&from, "not a regular file of the package".into()))?;
                    (path, kind, mode)
                }
            };
            // Callers build these paths; a malformed one would otherwise reach the tar as is.
            if normalize(&path) != Ok(Some(path.clone())) {
                return Err(bad(&path, "added entry path is not a normalized relative path".into()));
            }
            map.insert(path.clone(), TreeEntry { path, kind, mode, uid: 0, gid: 0 });
        }
        // Parents keep their package metadata when the package has them, else 0755 root.
        let old: BTreeMap<&str, &TreeEntry> = self.entries.iter().map(|e| (e.path.as_str(), e)).collect();
        let paths: Vec<String> = map.keys().cloned().collect();
        for p in paths {
            let mut cur = p.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                if let Some(e) = map.get(parent) {
                    if e.kind != TreeKind::Dir {
                        return Err(bad(&p, format!("parent {parent} is not a directory")));
                    }
                } else {
                    let entry = match old.get(parent) {
                        Some(e) if e.kind == TreeKind::Dir => (*e).clone(),
                        _ => TreeEntry { path: parent.to_string(), kind: TreeKind::Dir, mode: 0o755, uid: 0, gid: 0 },
                    };
                    map.insert(parent.to_string(), entry);
                }
                cur = parent;
            }
        }
        self.entries = map.into_values().collect();
        Ok(())
    }

    /// The `File` kind (spool location) behind `path`, following a hard link to its data.
    fn file_kind(&self, path: &str) -> Option<TreeKind> {
        let find = |p: &str| self.entries.binary_search_by(|e| e.path.as_str().cmp(p)).ok().map(|i| &self.entries[i]);
        match &find(path)?.kind {
            k @ TreeKind::File { .. } => Some(k.clone()),
            TreeKind::Hardlink(t) => match &find(t)?.kind {
                k @ TreeKind::File { .. } => Some(k.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The bytes of a `File` entry.
    pub fn open(&self, entry: &TreeEntry) -> SpoolReader<'_> {
        let (pos, end) = match entry.kind {
            TreeKind::File { offset, size } => (offset, offset + size),
            _ => (0, 0),
        };
        SpoolReader { file: &self.spool, pos, end }
    }
}

/// Nothing of a package may be written through a symbolic link or under a file: an entry
/// whose parent the package itself made a link (`escape -> /etc`, then `escape/passwd`) or a
/// non-directory (`a`, then `a/b`) is refused, whichever layer or root it was going into, so
/// a per-package layer, a merged layer and a toolchain root all hold the same contents.
/// Parents the package does not ship become directories later, so they cannot be links.
fn refuse_entries_below_non_directories(package: &str, map: &BTreeMap<String, Raw>) -> Result<(), DebError> {
    for path in map.keys() {
        let mut cur = path.as_str();
        while let Some((parent, _)) = cur.rsplit_once('/') {
            let what = match map.get(parent).map(|r| &r.entry.kind) {
                None | Some(TreeKind::Dir) => None,
                Some(TreeKind::Symlink(t)) => {
                    Some(format!("a symbolic link to {t:?}; nothing is written through a link"))
                }
                Some(TreeKind::File { .. } | TreeKind::Hardlink(_)) => {
                    Some("a regular file, not a directory".to_string())
                }
            };
            if let Some(what) = what {
                return Err(DebError::BadEntry {
                    package: package.to_string(),
                    path: path.clone(),
                    reason: format!("lies below {parent:?}, which the package makes {what}"),
                });
            }
            cur = parent;
        }
    }
    Ok(())
}

/// Applies usr-merge to one entry. A symlink at the alias itself (`bin -> usr/bin`) stays.
fn merge_entry(mut r: Raw) -> Raw {
    let is_alias_link = MERGED_DIRS.contains(&r.entry.path.as_str()) && matches!(r.entry.kind, TreeKind::Symlink(_));
    if is_alias_link {
        return r;
    }
    if let Some(new) = usr_merged(&r.entry.path) {
        if let TreeKind::Symlink(t) = &r.entry.kind {
            r.entry.kind = TreeKind::Symlink(retarget_moved_symlink(&r.entry.path, &new, t));
        }
        r.entry.path = new;
        r.moved = true;
    }
    if let TreeKind::Hardlink(t) = &r.entry.kind {
        if let Some(nt) = usr_merged(t) {
            r.entry.kind = TreeKind::Hardlink(nt);
        }
    }
    r
}

/// Sorting can put a hard link before the file it names, which extractors cannot follow.
/// So each group of hard-linked paths is re-rooted: the first path in sorted order carries
/// the data and the others link to it.
fn relink_hardlinks(package: &str, entries: &mut BTreeMap<String, TreeEntry>) -> Result<(), DebError> {
    let links: Vec<(String, String)> = entries
        .iter()
        .filter_map(|(p, e)| match &e.kind {
            TreeKind::Hardlink(t) => Some((p.clone(), t.clone())),
            _ => None,
        })
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    // Follow chains to the data-bearing file.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, target) in &links {
        let mut t = target.clone();
        let mut hops = 0;
        let data = loop {
            match entries.get(&t).map(|e| &e.kind) {
                Some(TreeKind::Hardlink(next)) if hops < 64 => {
                    t = next.clone();
                    hops += 1;
                }
                Some(TreeKind::File { .. }) => break t,
                _ => {
                    return Err(DebError::BadEntry {
                        package: package.to_string(),
                        path: path.clone(),
                        reason: format!("hard link to {target}, which is not a regular file of the package"),
                    })
                }
            }
        };
        groups.entry(data).or_default().push(path.clone());
    }
    for (data, mut members) in groups {
        members.push(data.clone());
        members.sort();
        let first = members[0].clone();
        let Some(source) = entries.get(&data).cloned() else { continue };
        for m in &members {
            let Some(e) = entries.get_mut(m) else { continue };
            e.mode = source.mode;
            e.uid = source.uid;
            e.gid = source.gid;
            e.kind = if *m == first { source.kind.clone() } else { TreeKind::Hardlink(first.clone()) };
        }
    }
    Ok(())
}
