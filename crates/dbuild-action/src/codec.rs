//! A compact binary form of a [`BuildGraph`], for the analysis cache, which reads one back on
//! every no-op build. Not serde: an [`Artifact`]'s and an [`Action`]'s JSON forms leave out
//! default fields (the action key hashes that JSON, so it stays as it is), which binary serde
//! formats cannot express.
//!
//! ```text
//! u32 n, n × target: label, str kind, artifacts outputs
//! u32 n, n × action: label owner, str mnemonic, u32 version, str args, artifacts inputs,
//!                    artifacts outputs, opt progress_message, opt declared_at, opt kind
//! label = opt repo (absent for the main repository), str package, str name
//! artifacts = u32 n, n × (u8 root: 0 source | 1 derived, str path, u8 directory)
//! opt = u8 0 | u8 1, str;  str = u32 length + UTF-8. Integers little-endian.
//! ```
//!
//! Labels are stored as their parts and not parsed again: a record is only read back after its
//! checksum matched, so they are the labels analysis checked when it wrote them, and parsing
//! 40,000 of them was a sixth of a large no-op's decoding time.
//!
//! Whoever adds a field to these types adds it here: the round-trip test compares whole
//! graphs.

use dbuild_core::{Artifact, ArtifactRoot, Label, Repo};

use crate::{Action, BuildGraph, ConfiguredTarget};

/// Encodes `graph`; [`decode`] gives it back.
pub fn encode(graph: &BuildGraph) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(1 << 16));
    w.u32(graph.targets.len() as u32);
    for t in &graph.targets {
        w.label(&t.label);
        w.str(&t.kind);
        w.artifacts(&t.outputs);
    }
    w.u32(graph.actions.len() as u32);
    for a in &graph.actions {
        w.label(&a.owner);
        w.str(&a.mnemonic);
        w.u32(a.version);
        w.str(&a.args);
        w.artifacts(&a.inputs);
        w.artifacts(&a.outputs);
        for o in [&a.progress_message, &a.declared_at, &a.kind] {
            w.opt(o.as_deref());
        }
    }
    w.0
}

/// The graph [`encode`] wrote, or `None` for bytes it did not write (cut short, trailing
/// bytes, text that is not UTF-8).
pub fn decode(bytes: &[u8]) -> Option<BuildGraph> {
    let mut r = Reader { bytes };
    let mut graph = BuildGraph::default();
    for _ in 0..r.u32()? {
        let label = r.label()?;
        graph.targets.push(ConfiguredTarget { label, kind: r.str()?.to_owned(), outputs: r.artifacts()? });
    }
    for _ in 0..r.u32()? {
        graph.actions.push(Action {
            owner: r.label()?,
            mnemonic: r.str()?.to_owned(),
            version: r.u32()?,
            args: r.str()?.to_owned(),
            inputs: r.artifacts()?,
            outputs: r.artifacts()?,
            progress_message: r.opt()?,
            declared_at: r.opt()?,
            kind: r.opt()?,
        });
    }
    r.bytes.is_empty().then_some(graph)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt(&mut self, o: Option<&str>) {
        match o {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }
    fn label(&mut self, l: &Label) {
        self.opt(match &l.repo {
            Repo::Main => None,
            Repo::Named(name) => Some(name),
        });
        self.str(&l.package);
        self.str(&l.name);
    }
    fn artifacts(&mut self, arts: &[Artifact]) {
        self.u32(arts.len() as u32);
        for a in arts {
            self.0.push(match a.root {
                ArtifactRoot::Source => 0,
                ArtifactRoot::Derived => 1,
            });
            self.str(&a.path);
            self.0.push(u8::from(a.directory));
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn opt(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?.to_owned())),
            _ => None,
        }
    }
    fn label(&mut self) -> Option<Label> {
        let repo = match self.opt()? {
            None => Repo::Main,
            Some(name) => Repo::Named(name),
        };
        Some(Label { repo, package: self.str()?.to_owned(), name: self.str()?.to_owned() })
    }
    fn artifacts(&mut self) -> Option<Vec<Artifact>> {
        let n = self.u32()? as usize;
        // Each artifact takes at least 6 bytes: a count beyond what is left is damage.
        if n > self.bytes.len() / 6 {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let root = match self.u8()? {
                0 => ArtifactRoot::Source,
                1 => ArtifactRoot::Derived,
                _ => return None,
            };
            let path = self.str()?.to_owned();
            let directory = match self.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            out.push(Artifact { root, path, directory });
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteSpec;

    fn graph() -> BuildGraph {
        let owner = Label::parse_absolute("@dbuild//toolchains:sh").unwrap();
        let spec = WriteSpec { content: "é\n".into(), executable: true };
        let mut a = Action::new(
            owner.clone(),
            &spec,
            vec![Artifact::source("p/in.txt")],
            vec![Artifact::derived("p/out"), Artifact::derived_dir("p/tree")],
        );
        a.declared_at = Some("p/BUILD.star:3:1-12".into());
        a.kind = Some("Genrule".into());
        let b = Action::new(Label::parse_absolute("//p:b").unwrap(), &spec, vec![], vec![Artifact::derived("p/b")]);
        BuildGraph {
            targets: vec![ConfiguredTarget { label: owner, kind: "sh_toolchain".into(), outputs: a.outputs.clone() }],
            actions: vec![a, b],
        }
    }

    #[test]
    fn a_graph_reads_back_whole() {
        let g = graph();
        let back = decode(&encode(&g)).unwrap();
        assert_eq!(back.targets, g.targets);
        assert_eq!(back.actions, g.actions);
        // `Action`'s equality leaves out what is not its work: compare those fields too.
        for (x, y) in back.actions.iter().zip(&g.actions) {
            assert_eq!((&x.progress_message, &x.declared_at, &x.kind), (&y.progress_message, &y.declared_at, &y.kind));
            assert_eq!(x.owner, y.owner);
        }
    }

    #[test]
    fn bytes_it_did_not_write_are_refused() {
        let bytes = encode(&graph());
        for cut in [0, 1, 4, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
        assert!(decode(&[0xff; 64]).is_none());
    }
}
