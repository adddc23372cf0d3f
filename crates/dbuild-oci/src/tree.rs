//! The file tree of one layer before it is written: paths normalized, later entries replacing
//! earlier ones, missing parents added, and hard-link groups arranged so that every link's
//! target comes earlier in the sorted archive.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dbuild_core::Artifact;
use dbuild_tar::{Absolute, ImagePath, PathError};

use crate::layer::LayerError;

/// Where a regular file's bytes come from.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// An input file, stat'ed and read when the entry is written.
    Input { path: PathBuf, src: Artifact },
    /// `size` bytes at `offset` in merged tar number `tar` (see `merge::MergedTars`).
    Merged { tar: usize, offset: u64, size: u64 },
}

#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    File(Content),
    Dir,
    Symlink(String),
    /// A hard link to another (normalized) path of the same layer.
    Hardlink(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// Permission bits, at most `0o7777`.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Where the entry came from, for error messages ("the layer's entries", "merged layer x").
    pub origin: String,
}

/// Normalizes a path inside the image with dbuild-tar's rules ([`ImagePath`]): no leading
/// `/` or `./`, no empty or `.` components, no trailing `/`; `..` and NUL are refused. The
/// root itself normalizes to `""`.
pub(crate) fn normalize_path(raw: &str, origin: &str) -> Result<String, LayerError> {
    ImagePath::normalize_str(raw, Absolute::Allow).map_err(|e| LayerError::BadPath {
        path: raw.to_string(),
        origin: origin.to_string(),
        reason: match e {
            PathError::Nul => "contains a NUL byte",
            PathError::DotDot => "contains a '..' component",
            PathError::Absolute => "is absolute",
        },
    })
}

/// The layer's entries keyed by normalized path. `String`'s ordering is byte order, which is
/// exactly the archive order dbuild promises.
#[derive(Default)]
pub(crate) struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    /// Adds an entry; a later entry at the same path replaces the earlier one entirely.
    pub fn insert(&mut self, path: String, node: Node) {
        self.nodes.insert(path, node);
    }

    /// Adds missing parents, checks that every parent is a directory and arranges hard links;
    /// returns the entries in archive order.
    pub fn finish(mut self) -> Result<Vec<(String, Node)>, LayerError> {
        if let Some(root) = self.nodes.get("") {
            if !matches!(root.kind, NodeKind::Dir) {
                return Err(LayerError::BadPath {
                    path: "/".into(),
                    origin: root.origin.clone(),
                    reason: "the root can only be a directory",
                });
            }
        }
        self.add_parents()?;
        self.arrange_hardlinks()?;
        Ok(self.nodes.into_iter().collect())
    }

    fn add_parents(&mut self) -> Result<(), LayerError> {
        let mut missing: BTreeMap<String, String> = BTreeMap::new();
        for (path, _) in self.nodes.iter() {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                let parent = &path[..end + i];
                end += i + 1;
                match self.nodes.get(parent) {
                    Some(Node { kind: NodeKind::Dir, .. }) => {}
                    Some(other) => {
                        return Err(LayerError::ParentNotDirectory {
                            path: path.clone(),
                            parent: parent.to_string(),
                            parent_origin: other.origin.clone(),
                        })
                    }
                    None => {
                        missing.entry(parent.to_string()).or_insert_with(|| path.clone());
                    }
                }
            }
        }
        for (parent, child) in missing {
            let origin = format!("implicit parent of {child}");
            self.nodes.insert(parent, Node { kind: NodeKind::Dir, mode: 0o755, uid: 0, gid: 0, origin });
        }
        Ok(())
    }

    /// Tar readers create a hard link by linking to a member they have already extracted, so
    /// the member carrying the content must sort first in its link group. Each group (a
    /// non-link entry and every link that resolves to it, through chains of links) is
    /// rewritten so that its earliest path holds the content and metadata and every other
    /// member is a link straight to it.
    fn arrange_hardlinks(&mut self) -> Result<(), LayerError> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, node) in self.nodes.iter() {
            let NodeKind::Hardlink(first) = &node.kind else { continue };
            let mut target = first.clone();
            let mut steps = 0;
            loop {
                let Some(t) = self.nodes.get(&target) else {
                    return Err(LayerError::HardlinkTargetMissing {
                        link: path.clone(),
                        target,
                        origin: node.origin.clone(),
                    });
                };
                match &t.kind {
                    NodeKind::Hardlink(next) => {
                        steps += 1;
                        if steps > self.nodes.len() {
                            return Err(LayerError::HardlinkCycle { link: path.clone(), origin: node.origin.clone() });
                        }
                        target = next.clone();
                    }
                    NodeKind::Dir => {
                        return Err(LayerError::HardlinkToDirectory {
                            link: path.clone(),
                            target,
                            origin: node.origin.clone(),
                        })
                    }
                    NodeKind::File(_) | NodeKind::Symlink(_) => break,
                }
            }
            groups.entry(target).or_default().push(path.clone());
        }
        for (holder, links) in groups {
            // `links` were collected in sorted order, so its first element is its smallest.
            let first = links[0].clone();
            let head = if first < holder { first } else { holder.clone() };
            if head != holder {
                let old = self.nodes.get(&holder).cloned().expect("holder was found above");
                let new_head = self.nodes.get_mut(&head).expect("link was found above");
                let origin = std::mem::take(&mut new_head.origin);
                *new_head = Node { origin, ..old };
            }
            let content = self.nodes.get(&head).cloned().expect("head exists");
            for member in links.iter().chain(std::iter::once(&holder)) {
                if *member == head {
                    continue;
                }
                let node = self.nodes.get_mut(member).expect("member exists");
                node.kind = NodeKind::Hardlink(head.clone());
                node.mode = content.mode;
                node.uid = content.uid;
                node.gid = content.gid;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeKind) -> Node {
        Node { kind, mode: 0o644, uid: 1, gid: 2, origin: "test".into() }
    }

    #[test]
    fn normalizes_and_refuses_dotdot() {
        assert_eq!(normalize_path("/a//b/./c/", "t").unwrap(), "a/b/c");
        assert_eq!(normalize_path("./usr/bin", "t").unwrap(), "usr/bin");
        assert_eq!(normalize_path("./", "t").unwrap(), "");
        assert!(matches!(normalize_path("a/../../etc", "t"), Err(LayerError::BadPath { .. })));
        assert!(matches!(normalize_path("a\0b", "t"), Err(LayerError::BadPath { .. })));
    }

    #[test]
    fn root_must_be_a_directory() {
        let mut t = Tree::default();
        t.insert("".into(), node(NodeKind::Symlink("x".into())));
        assert!(matches!(t.finish(), Err(LayerError::BadPath { .. })));
    }

    #[test]
    fn parent_must_be_a_directory() {
        let mut t = Tree::default();
        t.insert("lib".into(), node(NodeKind::Symlink("usr/lib".into())));
        t.insert("lib/x".into(), node(NodeKind::Dir));
        let err = t.finish().unwrap_err();
        assert!(matches!(err, LayerError::ParentNotDirectory { ref parent, .. } if parent == "lib"), "{err}");
    }

    #[test]
    fn hardlink_chain_is_flattened_to_the_earliest_member() {
        let mut t = Tree::default();
        t.insert("z".into(), node(NodeKind::Symlink("somewhere".into())));
        t.insert("m".into(), node(NodeKind::Hardlink("z".into())));
        t.insert("a".into(), node(NodeKind::Hardlink("m".into())));
        let out = t.finish().unwrap();
        let kinds: Vec<_> = out.iter().map(|(p, n)| format!("{p}:{:?}", n.kind)).collect();
        assert_eq!(kinds, ["a:Symlink(\"somewhere\")", "m:Hardlink(\"a\")", "z:Hardlink(\"a\")"]);
    }

    #[test]
    fn hardlink_errors() {
        let mut t = Tree::default();
        t.insert("a".into(), node(NodeKind::Hardlink("b".into())));
        t.insert("b".into(), node(NodeKind::Hardlink("a".into())));
        assert!(matches!(t.finish(), Err(LayerError::HardlinkCycle { .. })));
        let mut t = Tree::default();
        t.insert("a".into(), node(NodeKind::Hardlink("nope".into())));
        assert!(matches!(t.finish(), Err(LayerError::HardlinkTargetMissing { .. })));
        let mut t = Tree::default();
        t.insert("d".into(), node(NodeKind::Dir));
        t.insert("a".into(), node(NodeKind::Hardlink("d".into())));
        assert!(matches!(t.finish(), Err(LayerError::HardlinkToDirectory { .. })));
    }
}
