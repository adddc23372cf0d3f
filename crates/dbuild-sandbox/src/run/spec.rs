use std::collections::BTreeMap;

use dbuild_action::ActionSpec;
use dbuild_core::Artifact;
use serde::{Deserialize, Serialize};

/// Where the command runs, inside the sandbox: inputs and outputs keep their workspace paths
/// below it.
pub const EXECROOT: &str = "/work";

/// `ctx.actions.run` / `run_shell`: everything that determines what the command produces.
///
/// The environment is complete (analysis adds the fixed `PATH`, `HOME`, `LANG`, `TZ` and
/// `SOURCE_DATE_EPOCH` to the declared variables), so the key covers every variable the
/// command sees; the sandbox's own version is part of it too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The program and its arguments; the program is a path in the root (`/usr/bin/gcc`), a
    /// name looked up on `PATH`, or an input's execution-root path (`dbuild-out/tools/gen`).
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// The directory output that is the command's whole filesystem; `None` runs it on an empty
    /// root (only a static program among the inputs can run there).
    pub toolchain: Option<Artifact>,
    /// What the rule calls this kind of work (`GoCompile`), for progress and errors.
    pub mnemonic: String,
    /// Shown while it runs, if the rule gave one.
    pub progress_message: Option<String>,
    pub timeout_secs: u64,
    /// Run on the host, without the sandbox: only when the rule asked for it
    /// (`execution_requirements = {"no-sandbox": "1"}`). Not hermetic.
    pub no_sandbox: bool,
    /// [`crate::SANDBOX_VERSION`] when the action was declared.
    pub sandbox_version: u32,
}

impl ActionSpec for RunSpec {
    const MNEMONIC: &'static str = "Run";
    const VERSION: u32 = 1;
}
