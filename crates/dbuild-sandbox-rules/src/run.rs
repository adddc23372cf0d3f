//! `ctx.actions.run`, `ctx.actions.run_shell` and `ctx.actions.args`.

// Starlark methods take one Rust parameter per keyword argument, as Bazel's API spells them.
#![allow(clippy::too_many_arguments)]

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use dbuild_core::Artifact;
use dbuild_lang::{ActionsValue, FileValue};
use dbuild_sandbox::run::RunSpec;
use dbuild_sandbox::SANDBOX_VERSION;
use starlark::environment::MethodsBuilder;
use starlark::values::none::NoneType;
use starlark::values::{Heap, Value, ValueLike};
use starlark_derive::starlark_module;

use crate::args::{word, ArgsValue};

/// What every run action's environment starts with; the rule's `env` is laid over it, and
/// `SOURCE_DATE_EPOCH` is the build's.
pub const FIXED_ENV: [(&str, &str); 4] =
    [("PATH", "/usr/local/bin:/usr/bin:/bin"), ("HOME", "/tmp"), ("LANG", "C.UTF-8"), ("TZ", "UTC")];

/// How long a command may run when the rule does not say (`execution_requirements =
/// {"timeout": "600"}`), in seconds.
const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// The Files of a list or depset (or of `None`).
fn files<'v>(v: Value<'v>, heap: Heap<'v>, what: &str) -> Result<Vec<&'v FileValue>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    let iter =
        v.iterate(heap).map_err(|_| anyhow!("{what} must be a list or depset of Files, got {}", v.get_type()))?;
    iter.enumerate().map(|(i, x)| FileValue::arg(x, &format!("{what}[{i}]"))).collect()
}

/// The arguments: a list whose items are strings, Files, ints or Args.
fn command_line<'v>(v: Value<'v>, heap: Heap<'v>) -> Result<Vec<String>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    let iter = v.iterate(heap).map_err(|_| anyhow!("arguments must be a list, got {}", v.get_type()))?;
    let mut out = Vec::new();
    for x in iter {
        match x.downcast_ref::<ArgsValue>() {
            Some(args) => out.extend(args.words()),
            None => out.push(word(x)?),
        }
    }
    Ok(out)
}

/// The toolchain root: a directory File, or a list or depset holding exactly one.
fn toolchain<'v>(v: Value<'v>, heap: Heap<'v>) -> Result<Option<Artifact>> {
    if v.is_none() {
        return Ok(None);
    }
    let file = match v.downcast_ref::<FileValue>() {
        Some(f) => f,
        None => match files(v, heap, "toolchain")?.as_slice() {
            [one] => *one,
            other => {
                bail!("toolchain must be one directory File (a root made with deb_rootfs), got {} files", other.len())
            }
        },
    };
    if !file.artifact.directory {
        bail!("toolchain must be a directory (a root made with deb_rootfs), got the file {}", file.artifact.path);
    }
    Ok(Some(file.artifact.clone()))
}

/// Everything `run` and `run_shell` share, turned into the action.
struct Request<'v> {
    argv: Vec<String>,
    outputs: Value<'v>,
    inputs: Value<'v>,
    tools: Value<'v>,
    executable: Option<&'v FileValue>,
    env: Value<'v>,
    toolchain: Value<'v>,
    mnemonic: Option<String>,
    progress_message: Option<String>,
    execution_requirements: Value<'v>,
}

fn declare<'v>(this: &ActionsValue, method: &str, r: Request<'v>, heap: Heap<'v>) -> Result<NoneType> {
    let owner = this.owner();
    let what = format!("{owner}: ctx.actions.{method}");
    let outputs = files(r.outputs, heap, &format!("{what}: outputs"))?;
    if outputs.is_empty() {
        bail!("{what}: outputs must name at least one declared File");
    }
    let mut inputs: Vec<Artifact> = files(r.inputs, heap, &format!("{what}: inputs"))?
        .into_iter()
        .chain(files(r.tools, heap, &format!("{what}: tools"))?)
        .chain(r.executable)
        .map(|f| f.artifact.clone())
        .collect();
    let toolchain = toolchain(r.toolchain, heap).map_err(|e| anyhow!("{what}: {e}"))?;
    inputs.extend(toolchain.clone());
    let requirements = dbuild_lang::string_dict(r.execution_requirements, &format!("{what}: execution_requirements"))?;
    let timeout_secs = match requirements.get("timeout") {
        None => DEFAULT_TIMEOUT_SECS,
        Some(t) => t.parse::<u64>().ok().filter(|t| *t > 0).ok_or_else(|| {
            anyhow!("{what}: execution_requirements[\"timeout\"] must be a whole number of seconds, got {t:?}")
        })?,
    };
    let mut env: BTreeMap<String, String> = FIXED_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("SOURCE_DATE_EPOCH".into(), this.epoch().to_string());
    env.extend(dbuild_lang::string_dict(r.env, &format!("{what}: env"))?);
    let mnemonic = r.mnemonic.clone().unwrap_or_else(|| if method == "run" { "Action" } else { "Genrule" }.to_string());
    if mnemonic.is_empty() || !mnemonic.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("{what}: mnemonic {mnemonic:?} must be letters, digits and '_'");
    }
    let claimed = this.claim_outputs(&outputs, &format!("ctx.actions.{method}"))?;
    let main = claimed[0].workspace_path();
    let message = match r.progress_message.as_deref() {
        Some(m) => m.replace("%{label}", &owner.to_string()).replace("%{output}", &main),
        None => format!("{mnemonic} {main}"),
    };
    let kind = mnemonic.clone();
    let spec = RunSpec {
        argv: r.argv,
        env,
        toolchain,
        mnemonic,
        progress_message: r.progress_message,
        timeout_secs,
        no_sandbox: requirements.contains_key("no-sandbox"),
        sandbox_version: SANDBOX_VERSION,
    };
    this.add_described(&spec, inputs, claimed, message, kind);
    Ok(NoneType)
}

#[starlark_module]
pub(crate) fn run_actions_methods(builder: &mut MethodsBuilder) {
    /// Runs `executable` (a File among the inputs, or a path in the toolchain root such as
    /// `/usr/bin/gcc`) with `arguments` in the sandbox: the toolchain root as `/`, the inputs
    /// and tools read-only at their paths below the working directory, `outputs` collected when
    /// it exits 0. The environment is `PATH`, `HOME`, `LANG=C.UTF-8`, `TZ=UTC` and
    /// `SOURCE_DATE_EPOCH`, with `env` laid over it. `execution_requirements` may hold
    /// `"timeout"` (seconds, default 600) and `"no-sandbox"` (run on the host: not hermetic).
    fn run<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] outputs: Value<'v>,
        #[starlark(require = named)] executable: Value<'v>,
        #[starlark(require = named, default = NoneType)] arguments: Value<'v>,
        #[starlark(require = named, default = NoneType)] inputs: Value<'v>,
        #[starlark(require = named, default = NoneType)] tools: Value<'v>,
        #[starlark(require = named, default = NoneType)] env: Value<'v>,
        #[starlark(require = named, default = NoneType)] toolchain: Value<'v>,
        #[starlark(require = named)] mnemonic: Option<&str>,
        #[starlark(require = named)] progress_message: Option<&str>,
        #[starlark(require = named, default = NoneType)] execution_requirements: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let exe_file = executable.downcast_ref::<FileValue>();
        let program = match (exe_file, executable.unpack_str()) {
            (Some(f), _) => f.artifact.workspace_path(),
            (None, Some(s)) if !s.is_empty() => s.to_string(),
            _ => bail!(
                "{}: ctx.actions.run: executable must be a File or a path in the toolchain root, got {}",
                this.owner(),
                executable.to_repr()
            ),
        };
        let mut argv = vec![program];
        argv.extend(command_line(arguments, heap).map_err(|e| anyhow!("{}: ctx.actions.run: {e}", this.owner()))?);
        let request = Request {
            argv,
            outputs,
            inputs,
            tools,
            executable: exe_file,
            env,
            toolchain,
            mnemonic: mnemonic.map(str::to_string),
            progress_message: progress_message.map(str::to_string),
            execution_requirements,
        };
        declare(this, "run", request, heap)
    }

    /// Runs `command` with `/bin/sh -c` (the toolchain root must have a shell); `arguments`
    /// become `$1`, `$2`, …. Otherwise the same as `run`.
    fn run_shell<'v>(
        this: &ActionsValue,
        #[starlark(require = named)] outputs: Value<'v>,
        #[starlark(require = named)] command: &str,
        #[starlark(require = named, default = NoneType)] arguments: Value<'v>,
        #[starlark(require = named, default = NoneType)] inputs: Value<'v>,
        #[starlark(require = named, default = NoneType)] tools: Value<'v>,
        #[starlark(require = named, default = NoneType)] env: Value<'v>,
        #[starlark(require = named, default = NoneType)] toolchain: Value<'v>,
        #[starlark(require = named)] mnemonic: Option<&str>,
        #[starlark(require = named)] progress_message: Option<&str>,
        #[starlark(require = named, default = NoneType)] execution_requirements: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<NoneType> {
        let mut argv = vec!["/bin/sh".to_string(), "-c".to_string(), command.to_string(), "sh".to_string()];
        argv.extend(
            command_line(arguments, heap).map_err(|e| anyhow!("{}: ctx.actions.run_shell: {e}", this.owner()))?,
        );
        let request = Request {
            argv,
            outputs,
            inputs,
            tools,
            executable: None,
            env,
            toolchain,
            mnemonic: mnemonic.map(str::to_string),
            progress_message: progress_message.map(str::to_string),
            execution_requirements,
        };
        declare(this, "run_shell", request, heap)
    }

    /// A new, empty command line to fill with `add`, `add_all` and `add_joined`.
    fn args<'v>(#[allow(unused_variables)] this: &ActionsValue) -> anyhow::Result<ArgsValue> {
        Ok(ArgsValue::default())
    }
}
