//! The executor interface: how the engine asks a domain to run one action.
//!
//! The engine picks the paths: each output gets a fresh temp file (or an empty directory for a
//! directory output) inside the store, so ingesting it is a rename. Executors are pure
//! functions of their arguments and declared inputs: no clock, no environment, no user names;
//! the only mode bit an output carries is "executable", set explicitly so the umask does not
//! matter.
//!
//! - [`Inputs`]: a readable path per declared input, and the [`InputFacts`] the engine already
//!   recorded for derived file inputs (blob id, layer diff_id), so executors never re-hash them.
//! - [`OutputFacts`] per declared output: the blob id (and diff_id) if computed while writing,
//!   and for a directory output its *by-reference* entries: "this directory also holds
//!   `path`, with the same bytes as the input blob `blob`". The executor does not write those
//!   files; the engine records the tree entry with the existing blob id (after checking it is
//!   the blob of a declared input, so it is in the store and verified). That is how an OCI
//!   layout lists gigabytes of layers without copying or hashing them again.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use dbuild_core::{Artifact, BlobId, Sha256};

use crate::action::{Action, ActionSpec};

/// Whatever an executor fails with. The engine shows it with its sources, under the action's
/// description; domains keep their own error types.
pub type ExecError = Box<dyn std::error::Error + Send + Sync>;

/// Problems every domain meets, named once.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },

    #[error("output dbuild-out/{path} has the wrong kind: {reason}")]
    OutputKind { path: String, reason: &'static str },

    #[error("the action has no path for its declared input {artifact}")]
    UnresolvedInput { artifact: String },

    #[error("{artifact}: {reason}")]
    Input { artifact: String, reason: String },

    #[error("the arguments of this {mnemonic} action cannot be read: {reason}")]
    BadArgs { mnemonic: String, reason: String },
}

impl ActionError {
    /// Shorthand for "an I/O call on this path failed".
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ActionError {
        let path = path.into();
        move |source| ActionError::Io { op, path, source }
    }
}

/// What the engine knows about a derived file input without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputFacts {
    pub blob: BlobId,
    /// Recorded by the layer executors for the layers they wrote.
    pub diff_id: Option<Sha256>,
    /// The input's executable bit. The store keeps every blob non-executable, so an executor
    /// that runs an input must make an executable copy.
    pub executable: bool,
}

/// How an executor reaches its declared inputs. Both answer `None` for anything undeclared;
/// `facts` also answers `None` for source files and directory inputs. `note` takes what the
/// executor has to tell the engine besides the outputs.
pub struct Inputs<'a> {
    pub path: &'a dyn Fn(&Artifact) -> Option<PathBuf>,
    pub facts: &'a dyn Fn(&Artifact) -> Option<InputFacts>,
    pub note: &'a dyn Fn(ExecutorNote),
}

/// What an executor tells the engine while it runs an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutorNote {
    /// The action ran on a remote executor, not on this machine (counted apart in the
    /// build's summary).
    RanRemotely,
    /// Something the user should know that does not fail the action (one sentence).
    Warning(String),
}

impl Inputs<'_> {
    /// The readable path of a declared input, or an error naming it.
    pub fn require(&self, art: &Artifact) -> Result<PathBuf, ActionError> {
        (self.path)(art).ok_or_else(|| ActionError::UnresolvedInput { artifact: art.workspace_path() })
    }
}

/// What an executor tells the engine about one declared output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputFacts {
    /// The file's blob id, if computed while writing it (saves reading it back).
    pub blob: Option<BlobId>,
    /// For a layer: sha256 of its uncompressed tar.
    pub diff_id: Option<Sha256>,
    /// For a directory: entries (relative path, input blob) not written but placed by reference.
    pub by_reference: Vec<(String, BlobId)>,
}

/// Runs one kind of action. Implement [`SpecExecutor`] instead unless the arguments need no
/// decoding.
pub trait Executor: Send + Sync {
    /// The kind of action this runs ([`Action::mnemonic`]).
    fn mnemonic(&self) -> &'static str;

    /// The bytes that stand for the arguments in the action key, when something narrower than
    /// the whole spec determines the result (a fetch is fully determined by the pinned digest,
    /// not by the mirror or suite it names). `None`: the canonical arguments.
    fn key_args(&self, _action: &Action) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(None)
    }

    /// Writes output `i` of `action` to `outs[i]` (a file path, or an existing empty directory
    /// for a directory output) and returns one [`OutputFacts`] per declared output.
    fn execute(&self, action: &Action, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>, ExecError>;
}

/// An executor over one [`ActionSpec`]: the spec is decoded for it.
pub trait SpecExecutor: Send + Sync + 'static {
    type Spec: ActionSpec;

    /// Whether [`Self::key_args`] is overridden. Keys are computed for every action of every
    /// build, cached ones included, and decoding a spec only to learn that the whole of it is
    /// the key was a fifth of a no-op build's time.
    const NARROW_KEY: bool = false;

    /// See [`Executor::key_args`]; only called when [`Self::NARROW_KEY`] is set.
    fn key_args(&self, _spec: &Self::Spec) -> Option<Vec<u8>> {
        None
    }

    /// See [`Executor::execute`].
    fn execute(
        &self,
        spec: &Self::Spec,
        action: &Action,
        outs: &[PathBuf],
        inputs: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError>;
}

struct Typed<E>(E);

impl<E: SpecExecutor> Executor for Typed<E> {
    fn mnemonic(&self) -> &'static str {
        E::Spec::MNEMONIC
    }

    fn key_args(&self, action: &Action) -> Result<Option<Vec<u8>>, ExecError> {
        if !E::NARROW_KEY {
            return Ok(None);
        }
        Ok(self.0.key_args(&action.spec::<E::Spec>()?))
    }

    fn execute(&self, action: &Action, outs: &[PathBuf], inputs: &Inputs) -> Result<Vec<OutputFacts>, ExecError> {
        self.0.execute(&action.spec::<E::Spec>()?, action, outs, inputs)
    }
}

/// The executors of one build, by mnemonic. The binary assembles it from every domain.
#[derive(Clone, Default)]
pub struct ExecutorRegistry {
    executors: HashMap<&'static str, Arc<dyn Executor>>,
}

impl std::fmt::Debug for ExecutorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&&str> = self.executors.keys().collect();
        names.sort();
        f.debug_struct("ExecutorRegistry").field("mnemonics", &names).finish()
    }
}

impl ExecutorRegistry {
    /// A registry with the kinds every build has (`Write`).
    pub fn with_builtins() -> ExecutorRegistry {
        let mut r = ExecutorRegistry::default();
        r.register(crate::WriteExecutor);
        r
    }

    /// Adds the executor of `E::Spec`, replacing an earlier one for the same mnemonic.
    pub fn register<E: SpecExecutor>(&mut self, executor: E) -> &mut Self {
        self.register_dyn(Arc::new(Typed(executor)))
    }

    /// Adds an executor that decodes its arguments itself.
    pub fn register_dyn(&mut self, executor: Arc<dyn Executor>) -> &mut Self {
        self.executors.insert(executor.mnemonic(), executor);
        self
    }

    pub fn get(&self, mnemonic: &str) -> Option<&dyn Executor> {
        self.executors.get(mnemonic).map(|e| e.as_ref())
    }

    /// Every registered mnemonic, sorted.
    pub fn mnemonics(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.executors.keys().copied().collect();
        v.sort_unstable();
        v
    }
}
