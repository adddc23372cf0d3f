//! `ctx.actions`: declaring outputs and the actions that produce them.
//!
//! State lives in plain Rust behind a mutex so that, once the implementation returns, the
//! analysis driver takes the declared actions without touching Starlark again.

use std::fmt;
use std::sync::{Arc, Mutex};

use allocative::Allocative;
use dbuild_core::{Action, ActionKind, Artifact, ArtifactRoot, Compression, Label, LayerSpec};
use starlark::any::ProvidesStaticType;
use starlark::environment::{Methods, MethodsBuilder};
use starlark::starlark_simple_value;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneType;
use starlark::values::{Heap, NoSerialize, StarlarkValue, Value, ValueLike};
use starlark_derive::{starlark_module, starlark_value, StarlarkPagablePanic};

use crate::file::FileValue;
use crate::layer_entry::parse_entry;

/// Everything one target's implementation declared.
#[derive(Debug)]
pub(crate) struct ActionState {
    pub owner: Label,
    pub epoch: u64,
    pub declared: Vec<Artifact>,
    pub produced: Vec<Artifact>,
    pub actions: Vec<Action>,
    /// The analysis-wide Debian session (pins, requests), for `ctx.actions.deb_package`.
    pub deb: Option<Arc<crate::debian::DebSession>>,
}

impl ActionState {
    pub(crate) fn new(owner: Label, epoch: u64) -> ActionState {
        ActionState { owner, epoch, declared: Vec::new(), produced: Vec::new(), actions: Vec::new(), deb: None }
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

    fn push(&mut self, kind: ActionKind, inputs: Vec<Artifact>, output: Artifact) {
        self.push_many(kind, inputs, vec![output]);
    }

    fn push_many(&mut self, kind: ActionKind, mut inputs: Vec<Artifact>, outputs: Vec<Artifact>) {
        inputs.sort();
        inputs.dedup();
        self.actions.push(Action { owner: self.owner.clone(), kind, inputs, outputs });
    }

    /// Declares `<package>/<name>` as a file or directory output of this target.
    fn declare(&mut self, name: &str, directory: bool) -> anyhow::Result<FileValue> {
        let call = if directory { "declare_directory" } else { "declare_file" };
        if !valid_output_name(name) {
            anyhow::bail!(
                "{}: {call}({name:?}): the name must be a relative path without '.' or '..' parts",
                self.owner
            );
        }
        let path =
            if self.owner.package.is_empty() { name.to_owned() } else { format!("{}/{name}", self.owner.package) };
        let artifact = Artifact { root: ArtifactRoot::Derived, path, directory };
        if self.declared.iter().any(|a| a.path == artifact.path) {
            anyhow::bail!("{}: {call}({name:?}): that output was already declared by this target", self.owner);
        }
        self.declared.push(artifact.clone());
        Ok(FileValue { artifact, owner: Some(self.owner.clone()) })
    }
}

#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct ActionsValue {
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
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn owner(&self) -> Label {
        self.state().owner.clone()
    }

    /// SOURCE_DATE_EPOCH, fixed by the CLI for the whole build.
    pub(crate) fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// Claims several declared outputs for one action, in the order given.
    pub(crate) fn claim_outputs(&self, outputs: &[&FileValue], what: &str) -> anyhow::Result<Vec<Artifact>> {
        let mut st = self.state();
        outputs.iter().map(|f| st.claim_output(f, what)).collect()
    }

    pub(crate) fn push(&self, kind: ActionKind, inputs: Vec<Artifact>, outputs: Vec<Artifact>) {
        self.state().push_many(kind, inputs, outputs);
    }

    pub(crate) fn deb_session(&self) -> Option<Arc<crate::debian::DebSession>> {
        self.state().deb.clone()
    }
}

/// `ctx.actions`' methods: the generic ones here and the OCI and Debian ones beside them.
fn all_actions_methods(builder: &mut MethodsBuilder) {
    actions_methods(builder);
    crate::oci_actions::oci_actions_methods(builder);
    crate::deb_actions::deb_actions_methods(builder);
}

starlark::methods_static!(ACTIONS_METHODS = all_actions_methods);

#[starlark_value(type = "actions")]
impl<'v> StarlarkValue<'v> for ActionsValue {
    fn get_methods() -> Option<&'static Methods> {
        Some(ACTIONS_METHODS.methods())
    }
}

fn file_arg<'v>(v: Value<'v>, what: &str) -> anyhow::Result<&'v FileValue> {
    v.downcast_ref::<FileValue>().ok_or_else(|| anyhow::anyhow!("{what} must be a File, got {}", v.get_type()))
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
        let output = file_arg(output, "ctx.actions.write: output")?;
        if output.artifact.directory {
            anyhow::bail!(
                "{}: ctx.actions.write: output {} is a directory; use declare_file",
                this.owner(),
                output.artifact.path
            );
        }
        let mut st = this.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = st.claim_output(output, "ctx.actions.write")?;
        st.push(ActionKind::Write { content: content.to_owned(), executable: is_executable }, Vec::new(), out);
        Ok(NoneType)
    }

    /// Builds one deterministic tar layer from `entries` on top of the layers in `merge`.
    fn layer<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] output: Value<'v>,
        #[starlark(require = named)] entries: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named)] merge: Option<UnpackListOrTuple<Value<'v>>>,
        #[starlark(require = named, default = "gzip")] compression: &str,
    ) -> anyhow::Result<NoneType> {
        let output = file_arg(output, "ctx.actions.layer: output")?;
        if output.artifact.directory {
            anyhow::bail!(
                "{}: ctx.actions.layer: output {} is a directory; use declare_file",
                this.owner(),
                output.artifact.path
            );
        }
        let mut st = this.state.lock().unwrap_or_else(|p| p.into_inner());
        let owner = st.owner.clone();
        let compression = match compression {
            "gzip" => Compression::Gzip,
            "zstd" => Compression::Zstd,
            "none" => Compression::None,
            other => anyhow::bail!(
                "{owner}: ctx.actions.layer: compression must be \"gzip\", \"zstd\" or \"none\", got {other:?}"
            ),
        };
        let mut inputs = Vec::new();
        let mut layer_entries = Vec::new();
        for (i, e) in entries.map(|e| e.items).unwrap_or_default().into_iter().enumerate() {
            let (entry, input) =
                parse_entry(e).map_err(|m| anyhow::anyhow!("{owner}: ctx.actions.layer: entries[{i}]: {m}"))?;
            inputs.extend(input);
            layer_entries.push(entry);
        }
        let mut merged = Vec::new();
        for (i, m) in merge.map(|m| m.items).unwrap_or_default().into_iter().enumerate() {
            let f = file_arg(m, &format!("{owner}: ctx.actions.layer: merge[{i}]"))?;
            merged.push(f.artifact.clone());
            inputs.push(f.artifact.clone());
        }
        let out = st.claim_output(output, "ctx.actions.layer")?;
        let spec = LayerSpec { entries: layer_entries, merge: merged, compression, mtime: st.epoch };
        st.push(ActionKind::Layer(spec), inputs, out);
        Ok(NoneType)
    }
}
