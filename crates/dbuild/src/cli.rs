//! The command-line grammar: clap definitions and the `dbuild PATTERN…` shorthand.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  dbuild //images:static                 Build one target (shorthand for `dbuild build`)
  dbuild build //app/... -j 2 --json     Build every target under //app, two at a time,
                                         and print a JSON summary on stdout
  dbuild build :layer                    Build a target of the package you stand in
  dbuild query //app:image --deps        List a target and everything it depends on
  dbuild load //app:image --tag app:dev  Build an image and load it into podman (or docker)
  dbuild sbom //app:image                Print the image's SPDX 2.3 SBOM
  dbuild push //app:push                 Push an image, its SBOM and its tags (oci_push)
  dbuild clean                           Remove dbuild-out/ (add --cache for the cache too)
  dbuild clean --cache --max-size 10G --max-age 30d
                                         Trim the cache, least recently used first
  dbuild lock                            Pin the Debian packages every target asks for
  dbuild lock --check                    Check offline that the lock files cover the build
  dbuild //images/... --remote_cache=http://cache:8080/dbuild
                                         Share results with other machines (Bazel's HTTP
                                         cache protocol, or grpc:// for REAPI); `.dbuildrc`
                                         can set it once

Patterns: //pkg:name, //pkg (= //pkg:pkg), :name, //pkg:all, //pkg/..., //...
Outputs land in dbuild-out/<package>/. The cache lives in $XDG_CACHE_HOME/dbuild
unless --cache-dir or DBUILD_CACHE_DIR says otherwise. SOURCE_DATE_EPOCH, when set,
becomes the timestamp of every file in every layer. Debian mirrors come from
DBUILD_DEBIAN_MIRROR, DBUILD_DEBIAN_SECURITY_MIRROR and DBUILD_DEBIAN_SNAPSHOT, else from
debian_archive() in WORKSPACE.star, else from the host's apt sources.

Diagnostics: -v, -vv, -vvv print more on stderr; DBUILD_LOG (else RUST_LOG) takes a
tracing filter instead (`DBUILD_LOG=debug`, `DBUILD_LOG=dbuild_engine=trace,warn`).
`--profile build.json` writes a Chrome trace of the build, one event per action (cached
ones too) with its mnemonic, label and cache hit or miss, plus loading and analysis.";

/// Hermetic, Bazel-style builds of minimal container images.
#[derive(Parser, Debug)]
#[command(
    name = "dbuild",
    version,
    about = "Hermetic, Bazel-style builds of minimal, reproducible container images",
    after_help = EXAMPLES,
    arg_required_else_help = true,
    // `.dbuildrc` options come first; the command line overrides them.
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Run at most N actions at once; 0 means one per core [default: number of cores]
    #[arg(short = 'j', long = "jobs", value_name = "N", global = true)]
    pub jobs: Option<usize>,
    /// Where the content-addressed cache lives
    #[arg(long, value_name = "DIR", env = "DBUILD_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Keep building what does not depend on a failed action
    #[arg(short = 'k', long, global = true)]
    pub keep_going: bool,
    /// Say more: every action, cached or not, and diagnostics on stderr: -v phases and totals
    /// (info), -vv one line per action with its cache hit or miss (debug), -vvv everything
    /// (trace). DBUILD_LOG (else RUST_LOG) overrides the level, e.g. DBUILD_LOG=dbuild_engine=debug
    #[arg(short = 'v', long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Write a Chrome trace of the run to FILE (open it in https://ui.perfetto.dev or
    /// chrome://tracing): loading, analysis and every action, cached ones included, with its
    /// mnemonic, target and cache hit or miss
    #[arg(long, value_name = "FILE", global = true)]
    pub profile: Option<PathBuf>,
    /// Never use the network: Debian packages must already be in the cache
    #[arg(long, global = true)]
    pub offline: bool,
    /// Print each sandboxed command (the bubblewrap command line: mounts, environment, argv)
    /// before it runs, so it can be reproduced by hand
    #[arg(short = 's', long, global = true)]
    pub subcommands: bool,
    /// Say why each action that runs missed the cache: which part of its key material (inputs,
    /// arguments, version) differs from its last recorded run. On stderr, or in FILE
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, global = true)]
    pub explain: Option<Option<PathBuf>>,
    /// Keep the cache under SIZE (e.g. 10G; K, M, G, T are powers of 1024), removing the least
    /// recently used blobs after each build that finds no other build running. Usually set
    /// once in `.dbuildrc` or DBUILD_CACHE_MAX_SIZE
    #[arg(long, value_name = "SIZE", env = "DBUILD_CACHE_MAX_SIZE", value_parser = crate::settings::parse_size, global = true)]
    pub cache_max_size: Option<u64>,
    /// After each build, remove from the cache what no build has used for AGE (e.g. 30d; s, m,
    /// h, d, w). Usually set once in `.dbuildrc` or DBUILD_CACHE_MAX_AGE
    #[arg(long, value_name = "AGE", env = "DBUILD_CACHE_MAX_AGE", value_parser = crate::settings::parse_age, global = true)]
    pub cache_max_age: Option<std::time::Duration>,
    /// The memory Starlark evaluation (BUILD and .star files, rule implementations) may hold,
    /// e.g. 1G, 512M; a file that takes more fails at its file and line
    #[arg(long, value_name = "SIZE", env = "DBUILD_EVAL_MEMORY_LIMIT", default_value = "1G", value_parser = crate::settings::parse_memory_limit, global = true)]
    pub eval_memory_limit: usize,
    /// Reuse the last loading and analysis of the same targets while nothing it read has
    /// changed (WORKSPACE.star, BUILD and .star files, lock files, the directories that globs
    /// and `...` listed, the source files labels name): such a build runs no Starlark.
    /// `--analysis_cache=false` loads and analyzes every time
    #[arg(
        long = "analysis_cache",
        visible_alias = "analysis-cache",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        env = "DBUILD_ANALYSIS_CACHE",
        global = true
    )]
    pub analysis_cache: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// The remote cache and executor, with Bazel's flag names (kebab-case spellings are aliases). Settable once
/// per workspace in `.dbuildrc`.
#[derive(Args, Debug, Clone)]
pub struct RemoteArgs {
    /// A second-level cache shared between machines: http://[user:pass@]host[:port][/prefix]
    /// or https://… (Bazel's HTTP cache protocol), grpc://host:port or grpcs://… (REAPI v2)
    #[arg(long = "remote_cache", visible_alias = "remote-cache", value_name = "URL", global = true)]
    pub remote_cache: Option<String>,
    /// The REAPI instance name on the remote server
    #[arg(long = "remote_instance_name", visible_alias = "remote-instance-name", value_name = "NAME", global = true)]
    pub remote_instance_name: Option<String>,
    /// A header sent with every remote request (repeatable), e.g. `Authorization=Bearer …`;
    /// also DBUILD_REMOTE_HEADER (one `Name=Value` a line). Never printed
    #[arg(long = "remote_header", visible_alias = "remote-header", value_name = "NAME=VALUE", global = true)]
    pub remote_header: Vec<String>,
    /// A file of `Name=Value` header lines sent with every remote request (credentials)
    #[arg(long = "remote_credentials", visible_alias = "remote-credentials", value_name = "FILE", global = true)]
    pub remote_credentials: Option<PathBuf>,
    /// Seconds one remote exchange may take before the build goes on without the remote
    #[arg(
        long = "remote_timeout",
        visible_alias = "remote-timeout",
        value_name = "SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub remote_timeout: u64,
    /// Upload the results of actions run here to the remote cache
    #[arg(
        long = "remote_upload_local_results",
        visible_alias = "remote-upload-local-results",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        global = true
    )]
    pub remote_upload_local_results: bool,
    /// Run sandboxed actions (compiles, genrules) on a REAPI execution service:
    /// grpc://host:port or grpcs://… Layers and images still run here
    #[arg(long = "remote_executor", visible_alias = "remote-executor", value_name = "URL", global = true)]
    pub remote_executor: Option<String>,
    /// When the remote executor cannot be reached, warn once and run actions here; with
    /// =false the build fails instead
    #[arg(
        long = "remote_local_fallback",
        visible_alias = "remote-local-fallback",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        global = true
    )]
    pub remote_local_fallback: bool,
    /// PEM file of the CA certificates to trust for an https:// remote (instead of the
    /// built-in roots)
    #[arg(long = "tls_certificate", visible_alias = "tls-certificate", value_name = "FILE", global = true)]
    pub tls_certificate: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build targets and place their outputs in dbuild-out/
    #[command(after_help = EXAMPLES)]
    Build(BuildArgs),
    /// Print the targets a pattern matches, optionally with their dependencies
    Query(QueryArgs),
    /// Remove dbuild-out/, and with --cache dbuild's local cache
    Clean(CleanArgs),
    /// Build an image target and copy it into podman's store (docker's when a daemon answers)
    Load(LoadArgs),
    /// Pin every Debian package the targets ask for into the archives' lock files
    Lock(LockArgs),
    /// Build an image and report what would break when it runs: missing libraries, glibc
    /// versions, users, /tmp, the entrypoint
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Build an image's (or index's) SPDX 2.3 SBOM and print it on stdout
    Sbom(SbomArgs),
    /// Build an image or index and push it, with its SBOMs, to a registry
    #[command(after_help = PUSH_HELP)]
    Push(PushArgs),
    /// Show the documentation of a rule module: its rules, their attributes, its macros
    #[command(after_help = DOC_EXAMPLES)]
    Doc(DocArgs),
    /// Run actions for a REAPI scheduler (Remote Workers API), each in the sandbox with its
    /// input root as its whole filesystem
    Worker(WorkerArgs),
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The scheduler's Bots service: grpc://host:port (its CAS is on the same server)
    #[arg(long, value_name = "URL")]
    pub bots: String,
    /// Where input blobs and trees are kept between actions [default: <cache dir>/worker]
    #[arg(long = "cache-dir", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The name this bot gives the scheduler [default: dbuild-<host>-<pid>]
    #[arg(long = "bot-id", value_name = "ID")]
    pub bot_id: Option<String>,
}

const CHECK_HELP: &str = "What is checked, in the image's final filesystem (all layers applied):
  - every ELF program and the libraries it loads: the program interpreter exists, every
    DT_NEEDED library is on the search path (RUNPATH/RPATH, ld.so.conf, the multiarch
    directories), every required symbol version (GLIBC_2.x…) is provided
  - a User given by name is in /etc/passwd, its home directory exists
  - /tmp exists with mode 1777
  - the entrypoint (or command) exists and is executable
Errors exit with status 1; warnings do not. `oci_image(check = True)` runs the same checks
during the build.

Examples:
  dbuild check //images:python3               both platforms of an index
  dbuild check //app:image-amd64";

const DOC_EXAMPLES: &str = "Examples:
  dbuild doc                                 native rules and the standard modules
  dbuild doc @dbuild//rules:oci.star         oci_image, oci_image_index
  dbuild doc //tools:my_rules.star           a module of this workspace
  dbuild doc :greeting.star                  a module of the package you stand in";

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The oci_image or oci_image_index target; every image of an index is checked
    #[arg(value_name = "LABEL")]
    pub label: String,
}

const PUSH_HELP: &str = "Credentials come from DBUILD_REGISTRY_AUTH=user:password, else the first of
$REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json and ~/.docker/config.json that has
an entry for the registry; they are never printed. Plain HTTP is used for loopback registries
(127.0.0.0/8, ::1, localhost) unless --ca-cert is given, and elsewhere only with --insecure.
-j N pushes N images at once, each uploading N blobs at once (default 4).

Examples:
  dbuild push //images:push                                    an oci_push target
  dbuild push //images:static --repository 127.0.0.1:5000/distroless/static --tag latest
  dbuild push //app:image --repository reg.internal/app --ca-cert ca.pem --json
  dbuild push //images/... --repository 127.0.0.1:5000/distroless   every image, one repository each";

#[derive(Args, Debug)]
pub struct PushArgs {
    /// An oci_push target; or with --repository, image and index targets (a pattern such as
    /// //images/... pushes each of its images to a repository of its own)
    #[arg(value_name = "LABEL")]
    pub label: String,
    /// Push to this repository (host[:port]/path) instead of an oci_push target's; when the
    /// pattern names several images, each goes to REPOSITORY/<target name>
    #[arg(long, value_name = "REPOSITORY")]
    pub repository: Option<String>,
    /// A tag to apply (repeatable), besides the oci_push target's remote_tags
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Use plain HTTP for a registry that is not on this machine
    #[arg(long)]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) besides the system's (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// A repository of the same registry to mount missing blobs from (blobs pushed earlier by
    /// the same command are mounted from where they went without it)
    #[arg(long = "mount-from", value_name = "NAME")]
    pub mount_from: Option<String>,
    /// Send blobs larger than BYTES in PATCH chunks of BYTES (for registries or proxies that
    /// limit request sizes)
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20)]
    pub chunk_size: u64,
    /// Print the pushed references and digests as JSON on stdout, one object (line) per
    /// pushed image or index
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SbomArgs {
    /// The oci_image or oci_image_index target
    #[arg(value_name = "LABEL")]
    pub label: String,
}

#[derive(Args, Debug)]
pub struct DocArgs {
    /// The .star module, as a label; without it, the native rules and the standard modules
    #[arg(value_name = "MODULE")]
    pub module: Option<String>,
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// Targets whose Debian packages are locked [default: //...]
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Do not touch the network: fail if a lock file is malformed or misses a requested package
    #[arg(long)]
    pub check: bool,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Targets to build: //pkg:name, //pkg/..., //...
    #[arg(required = true, value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Print exactly one JSON object describing the build on stdout, also on failure
    #[arg(long)]
    pub json: bool,
    /// List each target's outputs and digest when at most N targets were built
    /// (`--show_results=N`, default 10); without `=N`, always. `-v` lists them all unless N is given
    #[arg(
        long = "show_results",
        visible_alias = "show-results",
        alias = "show_result",
        value_name = "N",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "18446744073709551615",
        hide_default_value = true
    )]
    pub show_results: Option<usize>,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[arg(required = true, value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Include every target the matched ones depend on, transitively
    #[arg(long)]
    pub deps: bool,
    /// Print JSON instead of one `label (kind)` line per target
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The oci_image or oci_image_index target; for an index, the host's platform is loaded
    #[arg(value_name = "LABEL")]
    pub label: String,
    /// Name and tag to load it as [default: <package>/<target>:latest]
    #[arg(long, value_name = "NAME:TAG")]
    pub tag: Option<String>,
}

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// Also delete dbuild's local cache (shared by every workspace that uses it); with
    /// --max-size or --max-age, only trim it (dbuild-out/ is then left alone). Waits for
    /// builds using the cache to finish; builds starting meanwhile wait for the clean
    #[arg(long)]
    pub cache: bool,
    /// With --cache: remove the least recently used blobs until the cache holds at most SIZE
    /// (e.g. 10G; K, M, G, T are powers of 1024)
    #[arg(long, value_name = "SIZE", requires = "cache", value_parser = crate::settings::parse_size)]
    pub max_size: Option<u64>,
    /// With --cache: remove what no build has used for AGE (e.g. 30d; s, m, h, d, w)
    #[arg(long, value_name = "AGE", requires = "cache", value_parser = crate::settings::parse_age)]
    pub max_age: Option<std::time::Duration>,
}

const SUBCOMMANDS: &[&str] =
    &["build", "query", "clean", "load", "lock", "doc", "check", "sbom", "push", "worker", "help"];
/// Global options that take a separate value, so the shorthand scan can skip that value.
const OPTIONS_WITH_VALUE: &[&str] = &[
    "-j",
    "--jobs",
    "--cache-dir",
    "--profile",
    "--remote_cache",
    "--remote-cache",
    "--remote_instance_name",
    "--remote-instance-name",
    "--remote_header",
    "--remote-header",
    "--remote_credentials",
    "--remote-credentials",
    "--remote_timeout",
    "--remote-timeout",
    "--tls_certificate",
    "--tls-certificate",
];

/// Turns `dbuild [opts] //pkg:x …` into `dbuild build [opts] //pkg:x …`: when the first
/// positional argument is not a subcommand, the command is a build. `build` goes right after
/// the program name so build-only flags such as `--json` work before or after the patterns.
pub fn expand_shorthand(args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else { return args };
        if arg == "--" {
            break;
        }
        if arg.starts_with('-') {
            if OPTIONS_WITH_VALUE.contains(&arg) {
                i += 1;
            }
            i += 1;
            continue;
        }
        if SUBCOMMANDS.contains(&arg) {
            return args;
        }
        let mut out = args;
        out.insert(1, OsString::from("build"));
        return out;
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: &[&str]) -> Vec<String> {
        expand_shorthand(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn shorthand_inserts_build_before_first_pattern() {
        assert_eq!(expand(&["dbuild", "//a:b"]), ["dbuild", "build", "//a:b"]);
        assert_eq!(expand(&["dbuild", "-j", "2", "//a:b"]), ["dbuild", "build", "-j", "2", "//a:b"]);
        assert_eq!(
            expand(&["dbuild", "--cache-dir", "/c", ":x", "-k"]),
            ["dbuild", "build", "--cache-dir", "/c", ":x", "-k"]
        );
        assert_eq!(expand(&["dbuild", "--json", "//a:b"]), ["dbuild", "build", "--json", "//a:b"]);
        assert_eq!(expand(&["dbuild", "query", "//a"]), ["dbuild", "query", "//a"]);
        assert_eq!(expand(&["dbuild", "--help"]), ["dbuild", "--help"]);
        assert_eq!(
            expand(&["dbuild", "--profile", "p.json", "//a:b"]),
            ["dbuild", "build", "--profile", "p.json", "//a:b"]
        );
    }

    #[test]
    fn grammar_parses() {
        let cli = Cli::try_parse_from(expand(&["dbuild", "-j", "3", "//x:y", "--json"])).unwrap();
        assert!(Cli::try_parse_from(expand(&["dbuild", "--json", "-j", "1", "//x:y"])).is_ok());
        assert_eq!(cli.global.jobs, Some(3));
        assert!(matches!(cli.command, Command::Build(BuildArgs { json: true, .. })));
        assert!(Cli::try_parse_from(["dbuild", "build"]).is_err());
        let cli = Cli::try_parse_from(expand(&["dbuild", "-vv", "//x:y", "--profile", "p.json"])).unwrap();
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(cli.global.profile, Some(PathBuf::from("p.json")));
    }

    #[test]
    fn show_results_takes_an_optional_count() {
        let parse = |args: &[&str]| match Cli::try_parse_from(expand(args)).unwrap().command {
            Command::Build(b) => b.show_results,
            _ => panic!("not a build"),
        };
        assert_eq!(parse(&["dbuild", "//x:y"]), None);
        assert_eq!(parse(&["dbuild", "--show_results", "//x:y"]), Some(usize::MAX));
        assert_eq!(parse(&["dbuild", "//x:y", "--show_results=3"]), Some(3));
        assert_eq!(parse(&["dbuild", "--show-results=0", "//x:y"]), Some(0));
    }

    #[test]
    fn remote_flags_take_bazel_and_kebab_spellings() {
        let cli = Cli::try_parse_from(expand(&["dbuild", "--remote_cache", "http://h/c", "//x:y"])).unwrap();
        assert_eq!(cli.global.remote.remote_cache.as_deref(), Some("http://h/c"));
        assert!(cli.global.remote.remote_upload_local_results);
        let cli = Cli::try_parse_from(expand(&[
            "dbuild",
            "--remote-cache=http://a",
            "--remote_cache=http://b",
            "--remote-upload-local-results=false",
            "--remote_header",
            "A=1",
            "--remote-header=B=2",
            "//x:y",
        ]))
        .unwrap();
        // The later setting wins, as a command line after `.dbuildrc` must.
        assert_eq!(cli.global.remote.remote_cache.as_deref(), Some("http://b"));
        assert!(!cli.global.remote.remote_upload_local_results);
        assert_eq!(cli.global.remote.remote_header, ["A=1", "B=2"]);
        // Overriding repeated options does not reset counted ones.
        let cli = Cli::try_parse_from(expand(&["dbuild", "-j", "4", "-v", "-v", "-j", "2", "//x:y"])).unwrap();
        assert_eq!((cli.global.jobs, cli.global.verbose), (Some(2), 2));
        let cli = Cli::try_parse_from(expand(&["dbuild", "--explain", "//x:y"])).unwrap();
        assert_eq!(cli.global.explain, Some(None));
        let cli = Cli::try_parse_from(expand(&["dbuild", "--explain=why.log", "//x:y"])).unwrap();
        assert_eq!(cli.global.explain, Some(Some(PathBuf::from("why.log"))));
        let cli = Cli::try_parse_from(expand(&["dbuild", "--remote_upload_local_results", "//x:y"])).unwrap();
        assert!(cli.global.remote.remote_upload_local_results);
        assert!(matches!(cli.command, Command::Build(_)));
    }
}
