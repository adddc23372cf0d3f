//! Run actions through the real engine on a toolchain root that is itself a directory output
//! (the host's static busybox), for the tests of the run executor.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use dbuild_action::{Action, BuildGraph, ExecError, Inputs, OutputFacts, SpecExecutor};
use dbuild_core::Artifact;
use dbuild_engine::testing::{label, target, Ws};
use dbuild_sandbox::run::{RunOptions, RunSpec};
use dbuild_sandbox::SANDBOX_VERSION;

/// A root made of the host's static busybox: `usr/bin/busybox` and nothing else.
#[derive(serde::Serialize, serde::Deserialize)]
struct BusyboxRoot;

impl dbuild_action::ActionSpec for BusyboxRoot {
    const MNEMONIC: &'static str = "TestBusyboxRoot";
    const VERSION: u32 = 1;
}

struct BusyboxRootExecutor;

impl SpecExecutor for BusyboxRootExecutor {
    type Spec = BusyboxRoot;
    fn execute(
        &self,
        _: &BusyboxRoot,
        a: &Action,
        outs: &[PathBuf],
        _: &Inputs,
    ) -> Result<Vec<OutputFacts>, ExecError> {
        let bin = outs[0].join("usr/bin");
        fs::create_dir_all(&bin)?;
        fs::copy("/bin/busybox", bin.join("busybox")).map_err(|e| format!("/bin/busybox (busybox-static): {e}"))?;
        Ok(vec![OutputFacts::default(); a.outputs.len()])
    }
}

pub const ROOT: &str = "tc/root";

pub fn ws() -> Ws {
    let mut w = dbuild_engine::testing::ws();
    w.executors.register(BusyboxRootExecutor);
    dbuild_sandbox::run::register(&mut w.executors, RunOptions::default());
    w
}

pub fn env() -> BTreeMap<String, String> {
    [("PATH", "/usr/bin"), ("HOME", "/tmp"), ("LANG", "C.UTF-8"), ("TZ", "UTC"), ("SOURCE_DATE_EPOCH", "0")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `busybox sh -c script`, as target `owner`, over `inputs`, producing `outputs`.
pub fn run(owner: &str, script: &str, inputs: Vec<Artifact>, outputs: Vec<Artifact>) -> Action {
    let spec = RunSpec {
        argv: vec!["/usr/bin/busybox".into(), "sh".into(), "-c".into(), script.into()],
        env: env(),
        toolchain: Some(Artifact::derived_dir(ROOT)),
        mnemonic: "TestRun".into(),
        progress_message: None,
        timeout_secs: 30,
        no_sandbox: false,
        sandbox_version: SANDBOX_VERSION,
    };
    let mut all = inputs;
    all.push(Artifact::derived_dir(ROOT));
    Action::new(label(owner), &spec, all, outputs)
}

pub fn graph(actions: Vec<Action>, outs: &[&str]) -> BuildGraph {
    let mut all = vec![Action::new(label("//tc:root"), &BusyboxRoot, vec![], vec![Artifact::derived_dir(ROOT)])];
    all.extend(actions);
    BuildGraph { targets: vec![target("//p:t", outs)], actions: all }
}
