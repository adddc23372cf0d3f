//! Incremental analysis: an analysis that takes the memo of the last one gives exactly what a
//! fresh analysis gives, after every kind of edit, and runs only the implementations whose
//! inputs changed (and, of their dependents, those that now see other providers).

use std::sync::Arc;

use dbuild_core::BuildSettings;
use dbuild_lang::testing::{pats, write_files};
use dbuild_lang::{analyze_with, Analysis, AnalysisOptions, MemoTable, Workspace};

const RULES: &str = r#"
InfoP = provider(fields = ["names", "count", "table", "meta", "files", "owner", "flag", "nothing", "pair"])

def _leaf_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = out, content = ctx.attr.content)
    print("leaf " + ctx.label.name)
    return [
        DefaultInfo(files = [out]),
        InfoP(
            names = [ctx.label.name],
            count = len(ctx.attr.content),
            table = {"k": ctx.attr.tag},
            meta = struct(tag = ctx.attr.tag, level = 1),
            files = depset([out]),
            owner = ctx.label,
            flag = True,
            nothing = None,
            pair = (ctx.attr.tag, 2),
        ),
    ]

leaf = rule(implementation = _leaf_impl, attrs = {"content": attr.string(), "tag": attr.string(default = "t")})

def _mid_impl(ctx):
    names = []
    files = []
    tags = []
    for d in ctx.attr.deps:
        if InfoP in d:
            i = d[InfoP]
            names.extend(i.names)
            files.extend(i.files.to_list())
            tags.append("%s/%s/%d/%s/%s" % (i.table.get("k", "-"), i.meta.tag, i.count, i.owner.name, i.pair[0]))
        files.extend(d[DefaultInfo].files.to_list())
    out = ctx.actions.declare_file(ctx.label.name + ".list")
    ctx.actions.write(output = out, content = "\n".join(names + tags + [f.path for f in files]))
    return [
        DefaultInfo(files = depset([out] + files)),
        InfoP(names = names + [ctx.label.name], count = len(names), table = {}, meta = struct(tag = "m", level = 2),
              files = depset(files), owner = ctx.label, flag = False, nothing = None, pair = ("m", 1)),
    ]

mid = rule(implementation = _mid_impl, attrs = {"deps": attr.label_list(allow_files = True)})

# A provider holding a function cannot be kept: its dependents always run again.
FnInfo = provider(fields = ["f"])

def _opaque_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".o")
    ctx.actions.write(output = out, content = "o")
    return [DefaultInfo(files = [out]), FnInfo(f = lambda x: x + 1)]

opaque = rule(implementation = _opaque_impl)

def _user_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".u")
    ctx.actions.write(output = out, content = str(ctx.attr.dep[FnInfo].f(1)))
    return [DefaultInfo(files = [out])]

user = rule(implementation = _user_impl, attrs = {"dep": attr.label()})
"#;

const A: &str = r#"
load("//tools:rules.star", "leaf", "mid", "opaque", "user")

leaf(name = "l1", content = "one")
leaf(name = "l2", content = "two", tag = "x")
mid(name = "m", deps = [":l1", ":l2", "data.txt"])
filegroup(name = "fg", srcs = [":m", "data.txt"])
alias(name = "al", actual = ":fg")
opaque(name = "o")
user(name = "u", dep = ":o")
"#;

const B: &str = r#"
load("//tools:rules.star", "leaf", "mid")

leaf(name = "b1", content = "bee")
mid(name = "top", deps = ["//a:al", "//a:m", ":b1"])
"#;

// Loads rule code only through another module, globs, and prints while it is evaluated.
const C: &str = r#"
load("//tools:macros.star", "group")

group(name = "g", pattern = "*.txt")
print("c has", len(glob(["**/*.txt"])), "files")
"#;

const MACROS: &str = r#"
load("//tools:rules.star", "leaf")

def group(name, pattern):
    native.filegroup(name = name, srcs = native.glob([pattern]))
    leaf(name = name + "_leaf", content = "c")
"#;

struct Ws {
    dir: tempfile::TempDir,
    memo: Option<Arc<MemoTable>>,
    /// BUILD files the last [`Ws::step`] evaluated.
    evaluated: usize,
}

fn settings() -> BuildSettings {
    BuildSettings { source_date_epoch: 1_700_000_000 }
}

fn analyze(root: &std::path::Path, memo: Option<Arc<MemoTable>>, settings: BuildSettings) -> Analysis {
    // A workspace is a snapshot of its files: a new one sees the edits.
    let ws = Workspace::discover(root).unwrap();
    let options = AnalysisOptions { memo, ..Default::default() };
    analyze_with(&ws, &pats(&["//..."]), settings, &options).unwrap_or_else(|e| panic!("analysis failed:\n{e}"))
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        write_files(
            dir.path(),
            &[
                ("WORKSPACE.star", ""),
                ("tools/BUILD.star", ""),
                ("tools/rules.star", RULES),
                ("a/BUILD.star", A),
                ("a/data.txt", "data\n"),
                ("b/BUILD.star", B),
                ("c/BUILD.star", C),
                ("c/one.txt", "1"),
                ("c/sub/deep.txt", "2"),
                ("tools/macros.star", MACROS),
            ],
        );
        Ws { dir, memo: None, evaluated: 0 }
    }

    fn write(&self, path: &str, content: &str) {
        write_files(self.dir.path(), &[(path, content)]);
    }

    /// Analyzes with the last memo and checks the result against a fresh analysis; returns
    /// how many implementations ran.
    fn step(&mut self, what: &str) -> usize {
        let fresh = analyze(self.dir.path(), None, settings());
        let incremental = analyze(self.dir.path(), self.memo.take(), settings());
        assert_eq!(incremental.graph.targets, fresh.graph.targets, "{what}: targets");
        assert_eq!(incremental.graph.actions, fresh.graph.actions, "{what}: actions");
        assert_eq!(incremental.messages, fresh.messages, "{what}: print() output");
        assert_eq!(incremental.memo.len(), fresh.memo.len(), "{what}: memos");
        assert_eq!(incremental.memo.packages(), fresh.memo.packages(), "{what}: package memos");
        self.evaluated = incremental.packages_evaluated;
        self.memo = Some(Arc::new(incremental.memo));
        incremental.implementations_run
    }
}

#[test]
fn incremental_analysis_gives_what_a_fresh_one_gives_and_runs_only_what_changed() {
    let mut ws = Ws::new();
    // Every Starlark target: l1 l2 m o u b1 top g_leaf.
    assert_eq!(ws.step("the first analysis"), 8);
    assert_eq!(ws.evaluated, 4, "every BUILD file");
    // The function-holding provider is never kept: its user always runs again, it too.
    assert_eq!(ws.step("nothing changed"), 2, "only //a:o and //a:u");
    assert_eq!(ws.evaluated, 0, "no BUILD file");

    // A content edit changes l1's action, not what it provides: its dependents are kept.
    ws.write("a/BUILD.star", &A.replace("content = \"one\"", "content = \"uno\""));
    assert_eq!(ws.step("l1's content"), 3, "l1, and o and u");
    assert_eq!(ws.evaluated, 1, "//a only");

    // A tag edit changes what l2 provides, so m runs again; m's own providers do not carry
    // the tag, so top (which sees m directly and through an alias) is kept.
    ws.write("a/BUILD.star", &A.replace("tag = \"x\"", "tag = \"y\""));
    assert_eq!(ws.step("l2's provider"), 5, "l1 (content back), l2, m, o, u");
    // A name change changes what m provides: top runs again.
    ws.write(
        "a/BUILD.star",
        &A.replace("tag = \"x\"", "tag = \"y\"")
            .replace("name = \"l2\"", "name = \"l3\"")
            .replace("\":l2\"", "\":l3\""),
    );
    assert_eq!(ws.step("m's provider"), 5, "l3, m, top, o, u");
    ws.write("a/BUILD.star", &A.replace("tag = \"x\"", "tag = \"y\""));
    assert_eq!(ws.step("l2 back"), 5, "l2, m, top, o, u");

    // Another package's BUILD file: only its own targets.
    ws.write("b/BUILD.star", &B.replace("\"bee\"", "\"bea\""));
    assert_eq!(ws.step("b1's content"), 3, "b1, o, u");

    // A new target, a removed one, a new dependency.
    ws.write("b/BUILD.star", &format!("{B}\nleaf(name = \"b2\", content = \"new\")\n"));
    assert_eq!(ws.step("a new target"), 4, "b1 (content back), b2, o, u");
    ws.write(
        "b/BUILD.star",
        &B.replace("\":b1\"]", "\":b1\", \":b2\"]")
            .replace("leaf(name = \"b1\"", "leaf(name = \"b2\", content = \"x\")\nleaf(name = \"b1\""),
    );
    // b1 moved down a line: where a target is declared is one of its inputs (actions name it).
    assert_eq!(ws.step("a new dependency"), 5, "b1 (moved), b2 (new content), top, o, u");
    ws.write("b/BUILD.star", B);
    assert_eq!(ws.step("a removed target and dependency"), 4, "b1 (moved back), top, o, u");

    // Rule code: everything runs again, and every package that loads it, directly (a, b) or
    // through another module (c), is evaluated again; //tools loads nothing.
    ws.write("tools/rules.star", &format!("{RULES}\n# edited\n"));
    assert_eq!(ws.step("a .star edit"), 8);
    assert_eq!(ws.evaluated, 3, "a, b and c");
    assert_eq!(ws.step("nothing changed again"), 2);
    assert_eq!(ws.evaluated, 0);
    ws.write("tools/macros.star", &MACROS.replace("\"c\"", "\"see\""));
    ws.step("a module only c loads");
    assert_eq!(ws.evaluated, 1, "c only");

    // What c's globs list: a new file, one in a subdirectory, a removed one, a new package
    // that takes a directory away from them.
    ws.write("c/two.txt", "2");
    ws.step("a new file c's glob matches");
    assert_eq!(ws.evaluated, 1);
    ws.write("c/sub/other.txt", "3");
    ws.step("a new file in a subdirectory of c");
    assert_eq!(ws.evaluated, 1);
    std::fs::remove_file(ws.dir.path().join("c/one.txt")).unwrap();
    ws.step("a removed file");
    assert_eq!(ws.evaluated, 1);
    ws.write("c/sub/BUILD.star", "");
    ws.step("a new package under c");
    assert_eq!(ws.evaluated, 2, "c, and the new c/sub");
    ws.write("c/sub/deep.txt", "changed");
    ws.step("a globbed file's content");
    assert_eq!(ws.evaluated, 0);
    // A link c's glob matches: where it leads decides whether it is a source.
    std::os::unix::fs::symlink("../a/data.txt", ws.dir.path().join("c/link.txt")).unwrap();
    ws.step("a link to a file in the workspace");
    assert_eq!(ws.evaluated, 1);
    std::fs::remove_file(ws.dir.path().join("c/link.txt")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", ws.dir.path().join("c/link.txt")).unwrap();
    ws.step("the link now leads out of the workspace");
    assert_eq!(ws.evaluated, 1);

    // The workspace's name decides what `@<name>//` labels mean in every package.
    ws.write("WORKSPACE.star", "workspace(name = \"renamed\")\n");
    ws.step("the workspace renamed");
    assert_eq!(ws.evaluated, 5, "every package: tools, a, b, c and c/sub");

    // A source file's content is the engine's business; its name is analysis's.
    ws.write("a/data.txt", "other\n");
    assert_eq!(ws.step("a source's content"), 2);
}

#[test]
fn another_settings_or_memo_of_other_code_runs_everything() {
    let ws = Ws::new();
    let first = analyze(ws.dir.path(), None, settings());
    let memo = Arc::new(first.memo);
    let later = BuildSettings { source_date_epoch: 1 };
    let fresh = analyze(ws.dir.path(), None, later);
    let other = analyze(ws.dir.path(), Some(memo.clone()), later);
    assert_eq!(other.implementations_run, 8, "SOURCE_DATE_EPOCH is an input of every target");
    assert_eq!(other.packages_evaluated, 0, "loading does not see SOURCE_DATE_EPOCH");
    assert_eq!(other.graph.actions, fresh.graph.actions);

    // The same labels under another rule module: the rule is part of each target's inputs.
    ws.write("tools/other.star", RULES);
    ws.write("a/BUILD.star", &A.replace("//tools:rules.star", "//tools:other.star"));
    let moved = analyze(ws.dir.path(), Some(memo), settings());
    assert_eq!(moved.implementations_run, 8, "{}", moved.implementations_run);
    assert_eq!(moved.packages_evaluated, 1, "//a, whose BUILD file changed");
}

/// Rule code a memo could get wrong: values that contain themselves or grow with every level,
/// one global name taken by two rules or providers, instances compared with `==` and `in`, and
/// rule code kept in a file named BUILD.star.
const TRICKY: &str = r#"
P = provider(fields = ["l"])

def _cycle_impl(ctx):
    l = []
    l.append(l)
    return [P(l = l)]

cycle = rule(implementation = _cycle_impl)

NodeInfo = provider(fields = ["name", "deps"])

def _node_impl(ctx):
    return [NodeInfo(name = ctx.label.name, deps = [d[NodeInfo] for d in ctx.attr.deps])]

node = rule(implementation = _node_impl, attrs = {"deps": attr.label_list()})

def _mk(lang):
    def _impl(ctx):
        o = ctx.actions.declare_file(ctx.label.name + ".txt")
        ctx.actions.write(output = o, content = lang)
        return [DefaultInfo(files = [o])]
    return _impl

LANG_RULES = {}
LANG_INFOS = {}
for lang in ["go", "js"]:
    lang_rule = rule(implementation = _mk(lang))
    LANG_RULES[lang] = lang_rule
    LangInfo = provider(fields = ["lang"])
    LANG_INFOS[lang] = LangInfo

LibInfo = provider(fields = ["deps"])
EMPTY = LibInfo(deps = [])

def _lib_impl(ctx):
    return [EMPTY]

lib = rule(implementation = _lib_impl)

def _bin_impl(ctx):
    seen = []
    for d in ctx.attr.deps:
        i = d[LibInfo]
        if i not in seen:
            seen.append(i)
    o = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = o, content = "%d %s %s" % (len(seen), seen[0] == EMPTY, ctx.attr.suffix))
    return [DefaultInfo(files = [o])]

bin = rule(implementation = _bin_impl, attrs = {"deps": attr.label_list(), "suffix": attr.string()})

def _tagged_impl(ctx):
    return [LANG_INFOS["go"](lang = "go")]

tagged = rule(implementation = _tagged_impl)

def _reader_impl(ctx):
    o = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(output = o, content = str(LANG_INFOS[ctx.attr.lang] in ctx.attr.dep))
    return [DefaultInfo(files = [o])]

reader = rule(implementation = _reader_impl, attrs = {"dep": attr.label(), "lang": attr.string()})
"#;

fn tricky_build(lang: &str, suffix: &str, reader_lang: &str) -> String {
    let mut b = String::from("load(\"//tools:tricky.star\", \"cycle\", \"node\", \"LANG_RULES\", \"lib\", \"bin\", \"tagged\", \"reader\")\n");
    b += "cycle(name = \"c\")\nnode(name = \"n0\")\nnode(name = \"n1\", deps = [\":n0\"])\n";
    for k in 2..27 {
        b += &format!("node(name = \"n{k}\", deps = [\":n{}\", \":n{}\"])\n", k - 1, k - 2);
    }
    b += &format!("LANG_RULES[\"{lang}\"](name = \"x\")\n");
    b += "lib(name = \"l\")\nalias(name = \"a\", actual = \":l\")\n";
    b += &format!("bin(name = \"b\", deps = [\":l\", \":a\"], suffix = \"{suffix}\")\n");
    b += &format!("tagged(name = \"t\")\nreader(name = \"r\", dep = \":t\", lang = \"{reader_lang}\")\n");
    b
}

// Also evaluated as the package //gen, whose dialect has no `def`: a lambda.
const GEN: &str = r#"
gen = rule(implementation = lambda ctx: [
    DefaultInfo(files = [f])
    for f in [ctx.actions.declare_file(ctx.label.name + ".txt")]
    if ctx.actions.write(output = f, content = "v1") == None
])
"#;

#[test]
fn rule_code_that_could_fool_a_memo_still_matches_a_fresh_analysis() {
    let mut ws = Ws::new();
    ws.write("tools/tricky.star", TRICKY);
    ws.write("t/BUILD.star", &tricky_build("go", "1", "go"));
    let all = ws.step("the first analysis");
    // The value that contains itself and the nodes past the recording budget run every time,
    // with whatever depends on them (and //a:o, //a:u).
    let always = ws.step("nothing changed");
    assert!(always < all, "{always} of {all}");
    assert_eq!(ws.evaluated, 1, "//t, which calls a rule by an ambiguous name, and only //t");
    ws.write("t/BUILD.star", &tricky_build("js", "1", "go"));
    ws.step("another rule under the same global name");
    ws.write("t/BUILD.star", &tricky_build("js", "2", "go"));
    ws.step("a dependant of instances compared with == and in");
    ws.write("t/BUILD.star", &tricky_build("js", "2", "js"));
    ws.step("another provider under the same global name");
}

#[test]
fn rule_code_in_a_file_named_build_star_is_rule_code() {
    let mut ws = Ws::new();
    ws.write("gen/BUILD.star", GEN);
    ws.write("t/BUILD.star", "load(\"//gen:BUILD.star\", \"gen\")\ngen(name = \"g\")\n");
    ws.step("the first analysis");
    ws.write("gen/BUILD.star", &GEN.replace("v1", "v2"));
    ws.step("the rule's code");
}

// A provider and a rule no global of a `.star` file names.
const UNNAMED: &str = r#"
INFOS = [provider(fields = ["v"])]

def _impl(ctx):
    return [INFOS[0](v = ctx.attr.v)]

RULES = [rule(implementation = _impl, attrs = {"v": attr.string()})]
r = RULES[0]
"#;

/// Analyzes `//...` afresh and with `memo`, and says how both went.
fn both(ws: &Ws, memo: Option<Arc<MemoTable>>) -> (Result<Analysis, String>, Result<Analysis, String>) {
    let run = |memo| {
        let w = Workspace::discover(ws.dir.path()).unwrap();
        let options = AnalysisOptions { memo, ..Default::default() };
        analyze_with(&w, &pats(&["//..."]), settings(), &options).map_err(|e| e.to_string())
    };
    (run(None), run(memo))
}

#[test]
fn a_build_file_assigning_a_loaded_provider_or_rule_names_nothing() {
    let ws = Ws::new();
    ws.write("tools/unnamed.star", UNNAMED);
    // Were a BUILD file's assignment to name them, whether //n was evaluated or taken from its
    // memo would decide whether //m's target can be analyzed.
    ws.write(
        "n/BUILD.star",
        "load(\"//tools:unnamed.star\", \"INFOS\", \"RULES\")\nNamedInfo = INFOS[0]\nnamed = RULES[0]\n",
    );
    ws.write("m/BUILD.star", "");
    let (first, _) = both(&ws, None);
    let memo = Arc::new(first.unwrap().memo);
    ws.write("m/BUILD.star", "load(\"//tools:unnamed.star\", \"r\")\nr(name = \"x\", v = \"1\")\n");
    let (fresh, incremental) = both(&ws, Some(memo));
    let fresh = fresh.map(|_| ()).expect_err("the provider has no name a .star file gave it");
    assert!(fresh.contains("a provider must be assigned to a global variable of a .star module"), "{fresh}");
    assert_eq!(incremental.map(|_| ()).unwrap_err(), fresh);
    // The rule is named by the module (`r`), never by //n's `named`.
    ws.write("tools/unnamed.star", &UNNAMED.replace("INFOS[0](v = ctx.attr.v)", "DefaultInfo()"));
    let (fresh, _) = both(&ws, None);
    let kinds: Vec<String> = fresh.unwrap().graph.targets.iter().map(|t| t.kind.clone()).collect();
    assert!(kinds.contains(&"r".to_owned()) && !kinds.contains(&"named".to_owned()), "{kinds:?}");
}
