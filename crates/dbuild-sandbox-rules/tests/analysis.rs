//! `ctx.actions.run`, `run_shell`, `args` and `genrule` analyzed into Run actions: the command
//! line with Files as their paths, the complete environment, the toolchain among the inputs,
//! and genrule's `$(...)` expansion with errors that name the target.

use std::sync::Arc;

use dbuild_core::BuildSettings;
use dbuild_deb_rules::{DebSession, PinMode};
use dbuild_lang::testing::{fixture as bare_fixture, pats, Fixture};
use dbuild_lang::{Analysis, AnalysisOptions, ExtensionState, LangError};
use dbuild_sandbox::run::RunSpec;

// Debian too: genrule's default toolchain is a deb_rootfs of the embedded @dbuild repository.
static EXTENSIONS: [dbuild_lang::LangExtension; 2] = [dbuild_sandbox_rules::EXTENSION, dbuild_deb_rules::EXTENSION];

fn fixture(files: &[(&str, &str)]) -> Fixture {
    dbuild_lang::install_extensions(&EXTENSIONS).unwrap();
    bare_fixture(files)
}

/// Analyzes as a build does: with a Debian session over the locks (the embedded ones here).
fn run(f: &Fixture, ps: &[&str]) -> Result<Analysis, LangError> {
    let mut extensions = ExtensionState::default();
    extensions.insert(Arc::new(DebSession::from_locks(&f.ws, PinMode::Build)));
    let options = AnalysisOptions { extensions, missing_sources_ok: false, memo: None };
    dbuild_lang::analyze_with(&f.ws, &pats(ps), BuildSettings { source_date_epoch: 1_700_000_000 }, &options)
}

fn err(f: &Fixture, ps: &[&str]) -> String {
    match run(f, ps) {
        Ok(a) => panic!("expected an error, got {:?}", a.graph.targets),
        Err(e) => e.to_string(),
    }
}

/// A rule that makes a directory output standing for a toolchain root (never built here).
const RULES: &str = r#"
def _root_impl(ctx):
    d = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run(outputs = [d], executable = "/bin/true", mnemonic = "MakeRoot")
    return [DefaultInfo(files = [d])]

root = rule(implementation = _root_impl)

def _compile_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".o")
    args = ctx.actions.args()
    args.add("-c")
    args.add_all(ctx.files.srcs)
    args.add("-o", out)
    args.add_all("-I", ["inc", "gen"], before_each = "-I", omit_if_empty = True)
    args.add_joined("--defs", ["A=1", "B=2"], join_with = ",", format_each = "-D%s")
    args.add(7, format = "--level=%s")
    ctx.actions.run(
        outputs = [out],
        inputs = ctx.files.srcs,
        executable = "/usr/bin/gcc",
        arguments = [args, "-O2"],
        env = {"CCACHE": "0", "LANG": "C"},
        toolchain = ctx.file.toolchain,
        mnemonic = "CppCompile",
        progress_message = "Compiling %{label}",
        execution_requirements = {"timeout": "30"},
    )
    return [DefaultInfo(files = [out])]

compile = rule(
    implementation = _compile_impl,
    attrs = {"srcs": attr.label_list(allow_files = True), "toolchain": attr.label(allow_single_file = True)},
)
"#;

fn run_spec(a: &dbuild_lang::Analysis, owner: &str) -> (dbuild_action::Action, RunSpec) {
    let action = a.graph.actions.iter().find(|x| x.owner.to_string() == owner && x.mnemonic == "Run").unwrap().clone();
    let spec = action.spec::<RunSpec>().unwrap();
    (action, spec)
}

#[test]
fn run_builds_the_command_line_environment_and_inputs() {
    let f = fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/c.star", RULES),
        (
            "p/BUILD.star",
            "load(\"//rules:c.star\", \"compile\", \"root\")\nroot(name = \"tc\")\ncompile(name = \"x\", srcs = [\"x.c\"], toolchain = \":tc\")\n",
        ),
        ("p/x.c", "int x;"),
    ]);
    let a = run(&f, &["//p:x"]).unwrap();
    let (action, spec) = run_spec(&a, "//p:x");
    assert_eq!(
        spec.argv,
        [
            "/usr/bin/gcc",
            "-c",
            "p/x.c",
            "-o",
            "dbuild-out/p/x.o",
            "-I",
            "-I",
            "inc",
            "-I",
            "gen",
            "--defs",
            "-DA=1,-DB=2",
            "--level=7",
            "-O2"
        ]
    );
    assert_eq!(spec.env["SOURCE_DATE_EPOCH"], "1700000000");
    assert_eq!(spec.env["LANG"], "C", "the rule's env is laid over the fixed one");
    assert_eq!(spec.env["TZ"], "UTC");
    assert_eq!(spec.env["CCACHE"], "0");
    assert_eq!(spec.mnemonic, "CppCompile");
    assert_eq!(spec.timeout_secs, 30);
    assert!(!spec.no_sandbox);
    let root = dbuild_core::Artifact::derived_dir("p/tc");
    assert_eq!(spec.toolchain.as_ref(), Some(&root));
    assert!(action.inputs.contains(&root) && action.inputs.contains(&dbuild_core::Artifact::source("p/x.c")));
    assert_eq!(action.describe(), "Compiling //p:x (//p:x)");
    let failure = action.failure("exited with code 1");
    assert!(
        failure
            .starts_with("Compiling //p:x (//p:x) failed: exited with code 1\n  (//p:x is declared at p/BUILD.star:3"),
        "{failure}"
    );
}

#[test]
fn run_refuses_a_toolchain_that_is_not_a_directory_and_bad_requirements() {
    let rules = r#"
def _i(ctx):
    out = ctx.actions.declare_file("o")
    ctx.actions.run(outputs = [out], executable = "/bin/true", toolchain = ctx.file.tc, execution_requirements = ctx.attr.req)
    return [DefaultInfo(files = [out])]
r = rule(implementation = _i, attrs = {"tc": attr.label(allow_single_file = True), "req": attr.string_dict()})
"#;
    let f = fixture(&[
        ("rules/BUILD.star", ""),
        ("rules/r.star", rules),
        (
            "p/BUILD.star",
            "load(\"//rules:r.star\", \"r\")\nr(name = \"a\", tc = \"f.txt\")\nr(name = \"b\", req = {\"timeout\": \"soon\"})\n",
        ),
        ("p/f.txt", ""),
    ]);
    let e = err(&f, &["//p:a"]);
    assert!(e.contains("//p:a: ctx.actions.run: toolchain must be a directory") && e.contains("p/f.txt"), "{e}");
    let e = err(&f, &["//p:b"]);
    assert!(e.contains("execution_requirements[\"timeout\"] must be a whole number of seconds, got \"soon\""), "{e}");
}

const GENRULES: &str = r#"
genrule(name = "tc", outs = ["root.txt"], cmd = "true", toolchain = None)
genrule(
    name = "g",
    srcs = ["a.txt", "b.txt"],
    outs = ["out.txt", "log.txt"],
    cmd = "cat $(SRCS) > $(location out.txt); echo $$HOME $(RULEDIR) > $(execpath :log.txt); ls $(locations :b.txt)",
)
genrule(name = "one", srcs = ["a.txt"], outs = ["one.txt"], cmd = "tr a-z A-Z < $< > $@")
"#;

#[test]
fn genrule_needs_no_load_and_expands_make_variables() {
    let f = fixture(&[("p/BUILD.star", GENRULES), ("p/a.txt", "a"), ("p/b.txt", "b")]);
    let a = run(&f, &["//p:g", "//p:one", "//p:tc"]).unwrap();
    let (_, g) = run_spec(&a, "//p:g");
    assert_eq!(&g.argv[..2], ["/bin/sh", "-c"]);
    assert_eq!(
        g.argv[2],
        "cat p/a.txt p/b.txt > dbuild-out/p/out.txt; echo $HOME dbuild-out/p > dbuild-out/p/log.txt; ls p/b.txt"
    );
    assert_eq!(g.mnemonic, "Genrule");
    let (action, one) = run_spec(&a, "//p:one");
    assert_eq!(one.argv[2], "tr a-z A-Z < p/a.txt > dbuild-out/p/one.txt");
    assert_eq!(action.describe(), "Executing genrule //p:one (//p:one)");

    // No toolchain given: the embedded shell root, made from the embedded lock's pins, under
    // external/ so it never meets a package of this workspace.
    let root = "external/dbuild/toolchains/sh";
    assert!(action.inputs.iter().any(|i| i.path == root && i.directory), "{:?}", action.inputs);
    let rootfs = a.graph.actions.iter().find(|x| x.outputs.iter().any(|o| o.path == root)).unwrap();
    assert_eq!((rootfs.mnemonic.as_str(), rootfs.owner.to_string().as_str()), ("DebRootfs", "@dbuild//toolchains:sh"));
    let fetches: Vec<&str> = rootfs.inputs.iter().map(|i| i.path.as_str()).collect();
    assert!(fetches.iter().any(|p| p.starts_with("_debian/dbuild~debian13/bash/")), "{fetches:?}");
    // toolchain = None is the default, as None is for any attribute in Bazel.
    let (action, _) = run_spec(&a, "//p:tc");
    assert!(action.inputs.iter().any(|i| i.path == root), "{:?}", action.inputs);
}

#[test]
fn genrule_errors_name_the_target_and_the_variable() {
    let cases = [
        ("cmd = \"echo $(FOO) > $@\"", "cmd uses $(FOO), which genrule does not define"),
        ("cmd = \"echo $HOME > $@\"", "cmd has a lone $ before \"H\" (write $$ for a literal $)"),
        (
            "cmd = \"cat $(location :nope) > $@\"",
            "$(location :nope) names :nope, which is not among srcs, tools or outs",
        ),
        ("srcs = [\"a.txt\", \"b.txt\"], cmd = \"cat $< > $@\"", "$< stands for 2 files, not one"),
        ("cmd = \"echo $(SRCS > $@\"", "cmd has an unclosed $("),
    ];
    for (attrs, want) in cases {
        let build = format!("genrule(name = \"g\", outs = [\"o.txt\"], {attrs})\n");
        let f = fixture(&[("p/BUILD.star", &build), ("p/a.txt", "a"), ("p/b.txt", "b")]);
        let e = err(&f, &["//p:g"]);
        assert!(e.contains("//p:g") && e.contains(want), "{attrs}: {e}");
    }
}
