//! `ctx.actions`: declaring outputs and the actions that produce them.
//!
//! State lives in plain Rust behind a mutex so that, once the implementation returns, the
//! analysis driver takes the declared actions without touching Starlark again. The methods
//! here are the generic ones (`declare_file`, `declare_directory`, `write`); the domains add
//! theirs through [`LangExtension`](crate::LangExtension), using [`ActionsValue`]'s public API.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use allocative::Allocative;
use dbuild_action::{Action, ActionSpec, WriteSpec};
use dbuild_core::{Artifact, ArtifactRoot, Label};
use starlark::any::ProvidesStaticType;
use starlark::environment::{Methods, MethodsBuilder};
use starlark::starlark_simple_value;
use starlark::values::none::NoneType;
use starlark::values::{Heap, NoSerialize, StarlarkValue, Value};
use starlark_derive::{starlark_module, starlark_value, StarlarkPagablePanic};

use crate::extension::ExtensionState;
use crate::file::FileValue;

/// Everything one target's implementation declared.
#[derive(Debug)]
pub(crate) struct ActionState {
    pub owner: Label,
    pub epoch: u64,
    pub declared: Vec<Artifact>,
    pub produced: Vec<Artifact>,
    pub actions: Vec<Action>,
    /// The domains' per-analysis state.
    pub extensions: ExtensionState,
    /// Where the target is declared, for the actions' failure messages.
    pub location: Option<String>,
    /// Whether the implementation asked for domain state ([`ActionsValue::extension`]).
    pub used_extensions: bool,
    /// Content `ctx.actions.write` took from the memory budget (see `memory.rs`).
    pub written: u64,
}

impl ActionState {
    pub(crate) fn new(owner: Label, epoch: u64, extensions: ExtensionState) -> ActionState {
        ActionState {
            owner,
            epoch,
            declared: Vec::new(),
            produced: Vec::new(),
            actions: Vec::new(),
            extensions,
            location: None,
            used_extensions: false,
            written: 0,
        }
    }

    fn claim_output(&mut self, file: &FileValue, what: &str) -> anyhow::Result<Artifact> {
        let a = &file.artifact;
        if a.root != ArtifactRoot::Derived || !self.declared.contains(a) {
            anyhow::bail!(
                "{}: {what}: output {} was not declared by this target (use ctx.actions.declare_file)",
                self.owner,
                a.path
            );
        }
        if self.produced.contains(a) {
            anyhow::bail!("{}: {what}: output {} is already produced by another action", self.owner, a.path);
        }
        self.produced.push(a.clone());
        Ok(a.clone())
    }

    fn push<S: ActionSpec>(&mut self, spec: &S, inputs: Vec<Artifact>, outputs: Vec<Artifact>) {
        let mut action = Action::new(self.owner.clone(), spec, inputs, outputs);
        action.declared_at = self.location.clone();
        self.actions.push(action);
    }

    /// Declares `<package>/<name>` (under `external/<repo>/` for another repository) as a file
    /// or directory output of this target.
    fn declare(&mut self, name: &str, directory: bool) -> anyhow::Result<FileValue> {
        let call = if directory { "declare_directory" } else { "declare_file" };
        if !valid_output_name(name) {
            anyhow::bail!(
                "{}: {call}({name:?}): the name must be a relative path without '.' or '..' parts",
                self.owner
            );
        }
        let dir = self.owner.output_dir();
        let path = if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
        let artifact = Artifact { root: ArtifactRoot::Derived, path, directory };
        if self.declared.iter().any(|a| a.path == artifact.path) {
            anyhow::bail!("{}: {call}({name:?}): that output was already declared by this target", self.owner);
        }
        self.declared.push(artifact.clone());
        Ok(FileValue { artifact, owner: Some(self.owner.clone()) })
    }
}

/// `ctx.actions`. Domains' method fragments take it as `this` and declare actions through its
/// public methods.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub struct ActionsValue {
    #[allocative(skip)]
    pub(crate) state: Arc<Mutex<ActionState>>,
}

impl fmt::Display for ActionsValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ctx.actions>")
    }
}

starlark_simple_value!(ActionsValue);

impl ActionsValue {
    fn state(&self) -> std::sync::MutexGuard<'_, ActionState> {
        dbuild_core::sync::lock(&self.state)
    }

    /// The target whose implementation is running.
    pub fn owner(&self) -> Label {
        self.state().owner.clone()
    }

    /// SOURCE_DATE_EPOCH, fixed by the CLI for the whole build (0 when unset).
    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// Claims declared outputs of this target for one action, in the order given; `what`
    /// (`ctx.actions.oci_image`) names the caller in errors.
    pub fn claim_outputs(&self, outputs: &[&FileValue], what: &str) -> anyhow::Result<Vec<Artifact>> {
        let mut st = self.state();
        outputs.iter().map(|f| st.claim_output(f, what)).collect()
    }

    /// Declares an action of kind `S`. Its outputs are normally this target's, claimed with
    /// [`ActionsValue::claim_outputs`]; an action whose output belongs to no target (a pinned
    /// package's fetch, declared by every target that needs the package) may skip the claim:
    /// identical actions are kept once when analysis collects the graph.
    pub fn add<S: ActionSpec>(&self, spec: &S, inputs: Vec<Artifact>, outputs: Vec<Artifact>) {
        self.state().push(spec, inputs, outputs);
    }

    /// [`ActionsValue::add`] for an action that progress lines and errors should describe as
    /// `message` (a rule's `progress_message`, or its own mnemonic and main output), and that
    /// profiles should call `kind` (the rule's mnemonic) instead of its executor's.
    pub fn add_described<S: ActionSpec>(
        &self,
        spec: &S,
        inputs: Vec<Artifact>,
        outputs: Vec<Artifact>,
        message: String,
        kind: String,
    ) {
        let mut st = self.state();
        let mut action = Action::new(st.owner.clone(), spec, inputs, outputs).with_progress_message(message);
        action.declared_at = st.location.clone();
        action.kind = Some(kind);
        st.actions.push(action);
    }

    /// The domain state of type `T` given to this analysis, if any. A domain may record what
    /// one target asked for and read it back in another (a `.deb`'s archive, say), which a
    /// target taken from the memo would not do: a target whose implementation asks for domain
    /// state is never taken from the memo (see `memo.rs`).
    pub fn extension<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let mut state = self.state();
        state.used_extensions = true;
        state.extensions.get::<T>()
    }

    /// [`ActionsValue::extension`] for state that no target changes and that follows from
    /// what loading read (WORKSPACE.star, lock files), which every memo's inputs cover:
    /// reading it keeps the target eligible for the memo.
    pub fn extension_input<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.state().extensions.get::<T>()
    }
}

/// `ctx.actions`' methods: the generic ones here and every installed extension's.
fn actions_method_table() -> &'static Methods {
    static METHODS: OnceLock<Methods> = OnceLock::new();
    METHODS.get_or_init(|| {
        MethodsBuilder::new()
            .with(actions_methods)
            .with(|b| {
                for ext in crate::extension::installed() {
                    (ext.actions_methods)(b);
                }
            })
            .build()
    })
}

#[starlark_value(type = "actions")]
impl<'v> StarlarkValue<'v> for ActionsValue {
    fn get_methods() -> Option<&'static Methods> {
        Some(actions_method_table())
    }
}

/// Checks a file name given to `declare_file`: relative, no `..`, no empty parts.
fn valid_output_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('/') && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

#[starlark_module]
fn actions_methods(builder: &mut MethodsBuilder) {
    /// Declares an output file at `<package>/<filename>`.
    fn declare_file<'v>(
        this: &ActionsValue,
        #[starlark(require = pos)] filename: &str,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        Ok(heap.alloc(this.state().declare(filename, false)?))
    }

    /// Declares an output directory at `<package>/<dirname>` (a tree of files produced as one
    /// output, such as an OCI image layout).
    fn declare_directory<'v>(
        this: &ActionsValue,
        #[starlark(require = pos)] dirname: &str,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        Ok(heap.alloc(this.state().declare(dirname, true)?))
    }

    /// Writes `content` to `output`.
    fn write<'v>(
        this: &ActionsValue,
        output: Value<'v>,
        content: &str,
        #[starlark(require = named, default = false)] is_executable: bool,
    ) -> anyhow::Result<NoneType> {
        let output = FileValue::arg(output, "ctx.actions.write: output")?;
        if output.artifact.directory {
            anyhow::bail!(
                "{}: ctx.actions.write: output {} is a directory; use declare_file",
                this.owner(),
                output.artifact.path
            );
        }
        crate::memory::reserve_written(content.len())
            .map_err(|why| anyhow::anyhow!("{}: ctx.actions.write: {why}", this.owner()))?;
        let mut st = dbuild_core::sync::lock(&this.state);
        st.written += content.len() as u64;
        let out = st.claim_output(output, "ctx.actions.write")?;
        st.push(&WriteSpec { content: content.to_owned(), executable: is_executable }, Vec::new(), vec![out]);
        Ok(NoneType)
    }
}
