//! The one error type of this crate. Every variant reads as a sentence a user can act on and
//! says where the problem is (a file, a label, or a rendered Starlark diagnostic).

use std::path::PathBuf;

use dbuild_core::{LabelError, PatternError};

#[derive(Debug, thiserror::Error)]
pub enum LangError {
    #[error("not inside a dbuild workspace: no WORKSPACE.star in {} or any parent directory", .0.display())]
    NoWorkspace(PathBuf),

    #[error("cannot read {}: {message}", path.display())]
    Io { path: PathBuf, message: String },

    /// A Starlark parse or evaluation error. `rendered` keeps starlark's own
    /// `file:line:col` + source excerpt rendering, so users see exactly where it happened.
    #[error("{context}:\n{rendered}")]
    Starlark { context: String, rendered: String },

    #[error(transparent)]
    Label(#[from] LabelError),

    #[error(transparent)]
    Pattern(#[from] PatternError),

    /// A label or pattern that names nothing (the message carries the did-you-mean hint).
    #[error("{0}")]
    NotFound(String),

    /// A dependency cycle between targets or `load()`ed files; the message prints the path.
    #[error("{0}")]
    Cycle(String),

    /// A rule implementation broke a rule of analysis (duplicate outputs, files never produced, ...).
    #[error("{0}")]
    Analysis(String),
}

impl LangError {
    pub(crate) fn starlark(context: impl Into<String>, err: &starlark::Error) -> LangError {
        LangError::Starlark { context: context.into(), rendered: shorten_traceback(&format!("{err}")) }
    }

    /// Parses `source` after the nesting guard, so a hostile file is an error, not a crash.
    pub(crate) fn parse(
        display: &str,
        source: String,
        dialect: &starlark::syntax::Dialect,
        context: impl Into<String>,
    ) -> Result<starlark::syntax::AstModule, LangError> {
        if let Err((line, why)) = crate::nesting::check(&source) {
            return Err(LangError::Starlark {
                context: context.into(),
                rendered: format!("{display}:{line}: {why}; split it into smaller pieces"),
            });
        }
        starlark::syntax::AstModule::parse(display, source, dialect).map_err(|e| LangError::starlark(context, &e))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> LangError {
        LangError::Io { path: path.into(), message: err.to_string() }
    }
}

/// The longest cycle of frames (f calling g calling f…) recognized as recursion.
const LONGEST_CYCLE: usize = 4;

/// Shortens starlark's `Traceback (most recent call last):` block (each frame a
/// `  * file:line, in f` line and its indented source lines) where frames repeat: a run of
/// three or more repetitions of the same one to [`LONGEST_CYCLE`] frames (a recursion error's
/// hundreds of identical frames) keeps its first and last repetition and says how many frames
/// were left out between them. A long traceback without repetition is every call that led to
/// the error, and stays whole.
fn shorten_traceback(rendered: &str) -> String {
    let lines: Vec<&str> = rendered.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("Traceback (most recent call last):")) else {
        return rendered.to_string();
    };
    let mut frames: Vec<Vec<&str>> = Vec::new();
    let mut end = start + 1;
    while end < lines.len() && lines[end].starts_with("  ") {
        match frames.last_mut() {
            Some(f) if !lines[end].starts_with("  * ") => f.push(lines[end]),
            _ => frames.push(vec![lines[end]]),
        }
        end += 1;
    }
    let mut kept: Vec<String> = Vec::new();
    let mut shortened = false;
    let mut i = 0;
    while i < frames.len() {
        // The shortest cycle starting here that repeats at least three times, and its run's end.
        let run = (1..=LONGEST_CYCLE).find_map(|p| {
            let mut j = i + p;
            while j < frames.len() && frames[j] == frames[j - p] {
                j += 1;
            }
            (j - i >= 3 * p).then_some((p, j))
        });
        match run {
            Some((p, j)) => {
                kept.extend(frames[i..i + p].iter().flatten().map(|l| l.to_string()));
                let cycle = if p == 1 { "the frame above".to_string() } else { format!("the {p} frames above") };
                kept.push(format!("  ... {} more frames, {cycle} repeated ...", j - i - 2 * p));
                kept.extend(frames[j - p..j].iter().flatten().map(|l| l.to_string()));
                shortened = true;
                i = j;
            }
            None => {
                kept.extend(frames[i].iter().map(|l| l.to_string()));
                i += 1;
            }
        }
    }
    if !shortened {
        return rendered.to_string();
    }
    let mut out: Vec<String> = lines[..=start].iter().map(|l| l.to_string()).collect();
    out.extend(kept);
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    out.join("\n")
}

/// Closest candidates by edit distance, for "did you mean" hints.
pub(crate) fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), c))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real recursion error from the interpreter, with dbuild's call-stack limit.
    fn recursion_error() -> starlark::Error {
        use starlark::environment::{Globals, Module};
        use starlark::eval::Evaluator;
        use starlark::syntax::{AstModule, Dialect};
        let src = "def f(n):\n    return f(n + 1)\n\nf(0)\n";
        let ast = AstModule::parse("deep.star", src.to_owned(), &Dialect::Standard).unwrap();
        Module::with_temp_heap(|module| {
            let mut eval = Evaluator::new(&module);
            crate::context::apply_limits(&mut eval);
            eval.eval_module(ast, &Globals::standard()).unwrap_err()
        })
    }

    #[test]
    fn a_recursion_error_shows_the_ends_of_its_traceback() {
        let full = format!("{}", recursion_error());
        assert!(full.lines().count() > 300, "the interpreter's own rendering is long:\n{full}");
        let short = shorten_traceback(&full);
        assert!(short.lines().count() < 20, "{short}");
        assert!(short.starts_with("Traceback (most recent call last):"), "{short}");
        assert!(short.contains("deep.star:4, in <module>"), "the first frame stays:\n{short}");
        assert!(short.contains("more frames, the frame above repeated ..."), "{short}");
        // The error itself and where it happened, after the last frame.
        let last_full = full.lines().rev().take(6).collect::<Vec<_>>();
        let last_short = short.lines().rev().take(6).collect::<Vec<_>>();
        assert_eq!(last_short, last_full);
    }

    #[test]
    fn a_long_traceback_without_repetition_is_left_whole() {
        let mut text = "Traceback (most recent call last):\n".to_string();
        for i in 0..12 {
            text.push_str(&format!("  * a.star:{i}, in f{i}\n    f{}()\n", i + 1));
        }
        text.push_str("error: boom\n");
        assert_eq!(shorten_traceback(&text), text);
    }

    #[test]
    fn a_short_traceback_is_left_alone() {
        let text = "Traceback (most recent call last):\n  * a.star:1, in <module>\n    f()\nerror: boom\n";
        assert_eq!(shorten_traceback(text), text);
        assert_eq!(shorten_traceback("error: no traceback"), "error: no traceback");
    }
}
