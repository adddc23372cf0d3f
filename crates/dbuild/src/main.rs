//! The `dbuild` binary: parses the command line and hands each command to the crates that
//! do the work. It owns the terminal: progress, summaries and exit codes live here.

mod build;
mod check;
mod claims;
mod clean;
mod cli;
mod debian;
mod delta;
mod doc;
mod domains;
mod load;
mod lock;
mod logging;
mod needed;
mod profile;
mod progress;
mod push;
mod query;
mod receipt;
mod remote;
mod sbom;
mod settings;
mod summary;
mod worker;

use std::process::ExitCode;

use clap::Parser;

// The no-op build is dominated by small allocations (Starlark values, labels, paths);
// mimalloc makes them markedly cheaper than glibc's malloc. The wrapper counts what Starlark
// evaluation holds, to bound it (dbuild-lang's memory.rs).
#[global_allocator]
static ALLOCATOR: dbuild_lang::memory::Counting<mimalloc::MiMalloc> = dbuild_lang::memory::Counting(mimalloc::MiMalloc);

use cli::{Cli, Command};

fn main() -> ExitCode {
    // Starlark evaluation recurses once per nesting level of the file being read. The files it
    // accepts are bounded (see dbuild-lang's nesting guard); the stack those bounds need is
    // given to every thread that may evaluate: this one and rayon's.
    let stack = dbuild_lang::EVAL_STACK_BYTES;
    let pool = rayon::ThreadPoolBuilder::new().stack_size(stack).build_global();
    let worker = std::thread::Builder::new().name("dbuild".into()).stack_size(stack).spawn(move || {
        if let Err(e) = pool {
            eprintln!("error: cannot start worker threads: {e}");
            return ExitCode::from(1);
        }
        run()
    });
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => {
            eprintln!("error: cannot start a thread: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> ExitCode {
    domains::install_language();
    let mut args = cli::expand_shorthand(std::env::args_os().collect());
    // `.dbuildrc` options go first so that the command line overrides them.
    let rc = std::env::current_dir().map_err(anyhow::Error::from).and_then(|cwd| remote::rc_args(&cwd));
    match rc {
        Ok(rc) => {
            let at = 1.min(args.len());
            args.splice(at..at, rc);
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // A tool that asked for JSON gets its one object even when the command line is
            // wrong (help and version are not errors and print as usual).
            if e.use_stderr() && args.iter().any(|a| a == "--json") {
                let first = e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
                let summary = summary::Summary { errors: vec![first], ..Default::default() };
                println!("{}", summary.to_json());
            }
            e.exit()
        }
    };
    let profile = match logging::init(cli.global.verbose, cli.global.profile.clone()) {
        Ok(p) => p,
        Err(e) => {
            if args.iter().any(|a| a == "--json") {
                let summary = summary::Summary { errors: vec![e.to_string()], ..Default::default() };
                println!("{}", summary.to_json());
            }
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    dbuild_lang::memory::set_memory_limit(cli.global.eval_memory_limit);
    let mut code = match &cli.command {
        Command::Build(args) => build::run(&cli.global, args),
        Command::Query(args) => report(query::run(args)),
        Command::Clean(args) => report(clean::run(&cli.global, args)),
        Command::Load(args) => report(load::run(&cli.global, args)),
        Command::Lock(args) => report(lock::run(&cli.global, args)),
        Command::Doc(args) => report(doc::run(args)),
        Command::Worker(args) => report(worker::run(&cli.global, args)),
        Command::Sbom(args) => report(sbom::run(&cli.global, args)),
        Command::Push(args) => report(push::run(&cli.global, args)),
        Command::Check(args) => match check::run(&cli.global, args) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => report(Err(e)),
        },
    };
    if let Some(profile) = profile {
        if let Err(e) = profile.write() {
            eprintln!("error: {e}");
            code = code.max(1);
        }
    }
    ExitCode::from(code as u8)
}

/// Prints a command's error as one sentence plus its causes, and picks the exit code.
fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
