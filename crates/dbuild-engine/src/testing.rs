//! Helpers for end-to-end tests of actions through the real engine: a workspace and cache in a
//! temporary directory, and the shortest way to declare targets and write actions. Used by
//! this crate's tests and, with the `testing` feature, by the domain crates' tests of their
//! executors.

use std::fs;
use std::path::{Path, PathBuf};

use dbuild_action::{Action, BuildGraph, ConfiguredTarget, ExecutorRegistry, WriteSpec};
use dbuild_core::{Artifact, Label};

use crate::{build, BuildOutcome, EngineOptions, NullReporter};

pub use crate::store::hashed_on_ingest;

/// A workspace root and a cache directory, removed on drop.
pub struct Ws {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub cache: PathBuf,
    /// The executors `opts` builds with: the built-ins unless a test adds its domain's.
    pub executors: ExecutorRegistry,
}

pub fn ws() -> Ws {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("ws");
    let cache = dir.path().join("cache");
    fs::create_dir_all(&root).expect("the workspace directory");
    Ws { _dir: dir, root, cache, executors: ExecutorRegistry::with_builtins() }
}

impl Ws {
    pub fn opts(&self) -> EngineOptions {
        EngineOptions {
            workspace_root: self.root.clone(),
            cache_dir: self.cache.clone(),
            jobs: 2,
            keep_going: false,
            executors: self.executors.clone(),
            remote: None,
            explain: false,
            partial: false,
        }
    }

    /// Writes a source file of the workspace.
    pub fn src(&self, path: &str, content: &str) {
        let p = self.root.join(path);
        fs::create_dir_all(p.parent().expect("a relative path")).expect("the source's directory");
        fs::write(p, content).expect("the source file");
    }

    /// The text of `dbuild-out/<path>`.
    pub fn out(&self, path: &str) -> String {
        fs::read_to_string(self.root.join("dbuild-out").join(path)).expect("a built output")
    }

    pub fn build(&self, g: &BuildGraph) -> BuildOutcome {
        build(g, &self.opts(), &NullReporter)
    }
}

pub fn label(s: &str) -> Label {
    Label::parse_absolute(s).expect("a valid label")
}

/// A write action of `owner` producing `out` with `content`.
pub fn write(owner: &str, out: &str, content: &str, inputs: Vec<Artifact>) -> Action {
    let spec = WriteSpec { content: content.into(), executable: false };
    Action::new(label(owner), &spec, inputs, vec![Artifact::derived(out)])
}

/// A target of kind `test_rule` standing for the derived files `outs`.
pub fn target(l: &str, outs: &[&str]) -> ConfiguredTarget {
    ConfiguredTarget {
        label: label(l),
        kind: "test_rule".into(),
        outputs: outs.iter().map(|o| Artifact::derived(*o)).collect(),
    }
}

/// How many files lie under `p` (0 if it does not exist): what a failed build left in the store.
pub fn files_under(p: &Path) -> usize {
    let Ok(rd) = fs::read_dir(p) else { return 0 };
    rd.map(|e| {
        let e = e.expect("a directory entry");
        if e.file_type().expect("a file type").is_dir() {
            files_under(&e.path())
        } else {
            1
        }
    })
    .sum()
}
