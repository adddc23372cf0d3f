//! A pre-parse guard against files that would exhaust the stack.
//!
//! The starlark compiler and evaluator recurse once per nesting level of an expression or a
//! block, and a stack overflow aborts the process (no error, no JSON summary) instead of
//! unwinding. No real BUILD or .star file nests anywhere near these bounds, so a cheap scan of
//! the text that refuses deeper files turns that crash into an ordinary error naming the file
//! and line.
//!
//! What is bounded is the depth the syntax tree can reach, not a list of constructs: brackets
//! nest at most [`MAX_BRACKETS`] deep and blocks (`def`, `if`, `for`) [`MAX_BLOCKS`]; within
//! an expression, operators (prefix and binary, each one tree level) and postfix steps (calls,
//! indexes, attributes: `f()()`, `x[0][0]`, `a.b.c`) are counted per bracket level, a comma
//! starts a fresh count at its own level only, and a closing bracket hands the deepest count
//! seen inside it to the level around it. So the counts along the open brackets add up to an
//! upper bound of how deep the tree is at that point, and that bound is what is limited.
//!
//! A file at every bound at once evaluates within [`EVAL_STACK_BYTES`] of stack, in a debug
//! build too; the binary runs loading and analysis on threads with that stack.

/// Deepest bracket nesting: `(`, `[`, `{`.
pub(crate) const MAX_BRACKETS: usize = 100;
/// Most operators an expression nests: `1 + 1 + … + 1` and `- - - x` are trees as deep as they
/// are long.
pub(crate) const MAX_OPERATORS: usize = 1000;
/// Longest postfix chain: calls, indexing and attributes applied one after another.
pub(crate) const MAX_POSTFIX: usize = 1000;
/// Deepest block nesting; Python's own limit is 100.
pub(crate) const MAX_BLOCKS: usize = 100;
/// Most `elif`s in one `if` statement: the parser nests each inside the previous one.
pub(crate) const MAX_ELIFS: usize = 1000;
/// Most `lambda`s in one logical line: each body nests inside the previous one, and a
/// lambda's `:` does not end anything the way a comma does.
pub(crate) const MAX_LAMBDAS: usize = 100;

/// The stack that loading and analyzing a file within these bounds needs, with a wide margin
/// (a debug build uses several times the stack of a release one). Threads that evaluate
/// Starlark must have at least this much; it is address space, touched only when used.
pub const EVAL_STACK_BYTES: usize = 256 << 20;

/// Operator and postfix counts at one bracket level: the current run, and the largest run
/// seen at this level (what a closing bracket hands outward).
#[derive(Default, Clone, Copy)]
struct Level {
    ops: usize,
    ops_max: usize,
    postfix: usize,
    postfix_max: usize,
}

impl Level {
    fn op(&mut self) {
        self.ops += 1;
        self.ops_max = self.ops_max.max(self.ops);
        self.postfix = 0;
    }
    fn step(&mut self) {
        self.postfix += 1;
        self.postfix_max = self.postfix_max.max(self.postfix);
    }
    /// A comma: the next element is a sibling, not a child.
    fn comma(&mut self) {
        self.ops = 0;
        self.postfix = 0;
    }
    /// The bracketed expression `inner` ends: it hangs below whatever this level continues with.
    fn close(&mut self, inner: Level) {
        self.ops += inner.ops_max;
        self.ops_max = self.ops_max.max(self.ops);
        self.postfix += inner.postfix_max;
        self.postfix_max = self.postfix_max.max(self.postfix);
    }
}

/// Checks `source`; the error says where and why, for `file:line: …` reporting.
pub(crate) fn check(source: &str) -> Result<(), (usize, String)> {
    let b = source.as_bytes();
    let (mut i, mut line) = (0usize, 1usize);
    // One entry per open bracket, plus the line's own level at the bottom.
    let mut levels = vec![Level::default()];
    // Whether the last token can take a postfix step (a name, a string, a closing bracket).
    let mut after_atom = false;
    // Indentation of the enclosing blocks with the `elif`s seen so far at that indentation,
    // innermost last (the file's own level first), and whether the current logical line's
    // first token is still to come.
    let (mut blocks, mut line_start) = (vec![(0usize, 0usize)], true);
    let mut lambdas = 0usize;
    while i < b.len() {
        let c = b[i];
        if line_start && levels.len() == 1 && !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'#') {
            line_start = false;
            let indent = i - source[..i].rfind('\n').map_or(0, |n| n + 1);
            while blocks.len() > 1 && blocks.last().is_some_and(|&(top, _)| top > indent) {
                blocks.pop();
            }
            if blocks.last().is_some_and(|&(top, _)| top < indent) {
                blocks.push((indent, 0));
            }
            if blocks.len() - 1 > MAX_BLOCKS {
                return Err((line, format!("blocks nest more than {MAX_BLOCKS} deep")));
            }
            let word_end =
                b[i..].iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).map_or(b.len(), |n| i + n);
            let top = blocks.last_mut().expect("the file's own level is never popped");
            match &source[i..word_end] {
                "elif" => top.1 += 1,
                "else" => {}
                _ => top.1 = 0,
            }
            if blocks.iter().map(|&(_, elifs)| elifs).sum::<usize>() > MAX_ELIFS {
                return Err((line, format!("more than {MAX_ELIFS} `elif`s in one `if`")));
            }
        }
        let level = levels.last_mut().expect("the line's own level is never popped");
        let was_atom = std::mem::replace(&mut after_atom, false);
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                after_atom = was_atom;
                continue;
            }
            b'"' | b'\'' => {
                let triple = b.get(i..i + 3).is_some_and(|t| t[0] == c && t[1] == c && t[2] == c);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if b[i] == b'\\' {
                        if b.get(i + 1) == Some(&b'\n') {
                            line += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\n' {
                        line += 1;
                        if !triple {
                            break;
                        }
                    }
                    if b[i] == c && (!triple || b.get(i..i + 3).is_some_and(|t| t[1] == c && t[2] == c)) {
                        i += if triple { 3 } else { 1 };
                        break;
                    }
                    i += 1;
                }
                after_atom = true;
                continue;
            }
            b'(' | b'[' | b'{' => {
                if was_atom {
                    level.step();
                }
                levels.push(Level::default());
                if levels.len() - 1 > MAX_BRACKETS {
                    return Err((line, format!("brackets nest more than {MAX_BRACKETS} deep")));
                }
            }
            b')' | b']' | b'}' => {
                if levels.len() > 1 {
                    let inner = levels.pop().expect("checked above");
                    levels.last_mut().expect("the line's own level").close(inner);
                }
                after_atom = true;
            }
            b'.' if was_atom => level.step(),
            b'\n' => {
                line += 1;
                after_atom = was_atom;
                if levels.len() == 1 {
                    levels[0] = Level::default();
                    after_atom = false;
                    line_start = true;
                    lambdas = 0;
                }
            }
            // A backslash before a newline joins the lines: the expression goes on.
            b'\\' if b.get(i + 1) == Some(&b'\n') || b.get(i + 1..i + 3) == Some(b"\r\n") => {
                after_atom = was_atom;
                line += 1;
                i += if b[i + 1] == b'\r' { 2 } else { 1 };
            }
            b' ' | b'\t' | b'\r' | b'\\' => after_atom = was_atom,
            b',' => level.comma(),
            // `==`, `!=`, `<=`, `>=`: the first character counted the comparison already.
            b'=' if b.get(i + 1) == Some(&b'=') => {
                level.op();
                i += 1;
            }
            b'=' if i > 0 && matches!(b[i - 1], b'!' | b'<' | b'>') => {}
            // Assignment, keyword arguments, dict entries, slices and statement ends: what
            // follows is a sibling of what came before.
            b':' | b'=' | b';' => level.comma(),
            b'-' | b'+' | b'~' | b'*' | b'/' | b'%' | b'|' | b'&' | b'^' | b'<' | b'>' | b'!' | b'@' => level.op(),
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match &source[start..i] {
                    "lambda" => {
                        level.op();
                        lambdas += 1;
                        if lambdas > MAX_LAMBDAS {
                            return Err((line, format!("more than {MAX_LAMBDAS} lambdas in one expression")));
                        }
                    }
                    // The parser reads an f-string's `{…}` as code before refusing f-strings,
                    // and this scan does not look inside strings.
                    word if matches!(b.get(i), Some(b'"' | b'\''))
                        && matches!(word.to_ascii_lowercase().as_str(), "f" | "fr" | "rf") =>
                    {
                        return Err((line, "f-strings are not supported".to_owned()));
                    }
                    "not" | "and" | "or" | "if" | "else" | "in" | "for" => level.op(),
                    // A number's `.` is part of it, not an attribute.
                    word if word.as_bytes()[0].is_ascii_digit() => {
                        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                            i += 1;
                        }
                    }
                    _ => after_atom = true,
                }
            }
            _ => {}
        }
        let (ops, postfix) = levels.iter().fold((0, 0), |(o, p), l| (o + l.ops, p + l.postfix));
        if ops > MAX_OPERATORS {
            return Err((line, format!("an expression nests more than {MAX_OPERATORS} operators")));
        }
        if postfix > MAX_POSTFIX {
            return Err((line, format!("a chain of more than {MAX_POSTFIX} calls, indexes or attributes")));
        }
        if !matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_') {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_code_passes() {
        let src = "load(\"//x:y.star\", \"z\")\n# ((((( in a comment\ns = \"[[[[ in a string\"\nd = {\"a\": [1, 2, (3)]}\nx = -1 + 2 if not False else ~3\ny = 1.5e3 if a != b.c else d[1:2]\n";
        assert_eq!(check(src), Ok(()));
        assert_eq!(check(&format!("x = {}1{}\n", "(".repeat(MAX_BRACKETS), ")".repeat(MAX_BRACKETS))), Ok(()));
        let many_lines = "x = 1 + 1\n".repeat(5000);
        assert_eq!(check(&many_lines), Ok(()), "operators count per logical line");
        let big_list = format!("x = [\n{}]\n", "    struct(a = 1 + 2, b = c.d),\n".repeat(5000));
        assert_eq!(check(&big_list), Ok(()), "operators count per element");
        let rule = "def _impl(ctx):\n    out = ctx.actions.declare_file(ctx.label.name + \".txt\")\n    ctx.actions.write(out, \"\\n\".join([f.path for f in ctx.files.srcs]))\n    return [DefaultInfo(files = depset([out]))]\n";
        assert_eq!(check(&rule.repeat(2000)), Ok(()));
    }

    #[test]
    fn hostile_nesting_is_refused_with_a_line() {
        let deep = format!("a = 1\nx = {}1", "[".repeat(MAX_BRACKETS + 1));
        assert_eq!(check(&deep).unwrap_err().0, 2);
        assert!(check(&format!("x = {}1", "-".repeat(MAX_OPERATORS + 1))).is_err());
        assert!(check(&format!("x = {}True", "not ".repeat(MAX_OPERATORS + 1))).is_err());
        assert!(check(&format!("x = 1{}", "+1".repeat(MAX_OPERATORS + 1))).is_err());
        assert!(check(&format!("x = 1{}", " == 1".repeat(MAX_OPERATORS + 1))).is_err());
        assert!(
            check(&format!("x = [\n{}]", "1 +\n".repeat(MAX_OPERATORS + 1))).is_err(),
            "inside brackets lines continue"
        );
    }

    #[test]
    fn depth_adds_up_across_brackets_and_commas() {
        // 100 levels of 20 operators each: 2,000 deep though no level holds 1,000.
        let mut s = String::from("x = ");
        for _ in 0..MAX_BRACKETS {
            s.push_str(&"-".repeat(20));
            s.push('(');
        }
        assert!(check(&s).is_err(), "prefix operators under brackets");
        // The deep part on the left of a chain: closing hands its depth outward.
        let left = format!("x = {}1{}\n", "(".repeat(90), ")+1+1+1+1+1+1+1+1+1+1+1+1".repeat(90));
        assert!(check(&left).is_err());
        // Commas do not hide calls applied one after another.
        let calls = format!("x = f{}\n", "(a, b)".repeat(MAX_POSTFIX + 1));
        assert!(check(&calls).is_err());
        let strings = format!("x = f{}\n", "(\"\")".repeat(MAX_POSTFIX + 1));
        assert!(check(&strings).is_err());
    }

    #[test]
    fn what_a_review_found_evading_the_guard_is_refused() {
        // Nested lambdas: each `:` used to restart the count.
        assert!(check(&format!("x = {}0\n", "lambda: ".repeat(MAX_LAMBDAS + 1))).is_err());
        assert_eq!(check(&format!("x = {}0\n", "lambda: ".repeat(MAX_LAMBDAS))), Ok(()));
        // Backslash continuations join lines: counts go on, and lines are still counted.
        assert!(check(&format!("x = {}1\n", "-\\\n".repeat(MAX_OPERATORS + 1))).is_err());
        assert!(check(&format!("x = 1{}\n", " + \\\n1".repeat(MAX_OPERATORS + 1))).is_err());
        assert!(check(&format!("x = y{}\n", "\\\r\n.a".repeat(MAX_POSTFIX + 1))).is_err());
        let continued = "x = 1 + \\\n    2\ny = [\n]\nz = {}\n".replace("{}", &"(".repeat(MAX_BRACKETS + 1));
        assert_eq!(check(&continued).unwrap_err().0, 5, "lines after a continuation keep their numbers");
        // `elif` chains nest in the parser though their indentation is flat.
        let chain = |n: usize| {
            format!("def f():\n    if x == 0:\n        pass\n{}", "    elif x == 1:\n        pass\n".repeat(n))
        };
        assert_eq!(check(&chain(MAX_ELIFS)), Ok(()));
        assert!(check(&chain(MAX_ELIFS + 1)).is_err());
        let separate =
            "def f():\n    if a:\n        pass\n    elif b:\n        pass\n    x = 1\n".repeat(MAX_ELIFS + 1);
        assert_eq!(check(&separate), Ok(()), "another statement ends a chain");
        // f-strings: the parser reads their `{…}` as code; the scan does not look into strings.
        for prefix in ["f", "F", "rf", "fR"] {
            assert!(check(&format!("x = {prefix}\"{{{}1}}\"\n", "(".repeat(10))).is_err(), "{prefix}");
        }
        assert_eq!(check("x = r\"\\d\" + b + f(\"x\")\n"), Ok(()));
        // A backslash-newline inside a string counts its line.
        assert_eq!(check(&format!("x = \"a\\\nb\"\ny = {}", "[".repeat(MAX_BRACKETS + 1))).unwrap_err().0, 3);
    }

    #[test]
    fn postfix_chains_are_bounded() {
        for step in ["[0]", "()", ".a", " [0]", "(1) ", "(-1)"] {
            let at = format!("x = y{}\n", step.repeat(MAX_POSTFIX - 1));
            assert_eq!(check(&at), Ok(()), "{step}");
            let over = format!("a = 1\nx = y{}\n", step.repeat(MAX_POSTFIX + 1));
            assert_eq!(check(&over).unwrap_err().0, 2, "{step}");
        }
        // Chains end at operators, commas and lines; many short ones are fine.
        let many = format!("x = [{}]\n", "a.b(c)[0], ".repeat(2 * MAX_POSTFIX));
        assert_eq!(check(&many), Ok(()));
        assert_eq!(check(&"x = a.b.c + d.e.f\n".repeat(2 * MAX_POSTFIX)), Ok(()));
        assert_eq!(check(&format!("x = \"{}\"\n", ".a".repeat(2 * MAX_POSTFIX))), Ok(()), "text in strings");
    }

    fn nested(keyword: &str, levels: usize) -> String {
        let mut s = String::new();
        for i in 0..levels {
            s.push_str(&"    ".repeat(i));
            s.push_str(keyword);
            s.push('\n');
        }
        s.push_str(&"    ".repeat(levels));
        s.push_str("pass\n");
        s
    }

    #[test]
    fn block_nesting_is_bounded() {
        assert_eq!(check(&nested("if True:", MAX_BLOCKS)), Ok(()));
        assert_eq!(check(&nested("if True:", MAX_BLOCKS + 1)).unwrap_err().0, MAX_BLOCKS + 2);
        assert!(check(&nested("def f():", MAX_BLOCKS + 1)).is_err());
        assert!(check(&nested("for x in y:", MAX_BLOCKS + 1)).is_err());
        // Dedenting closes blocks: siblings, comments, blank and continuation lines do not add up.
        let siblings = "def f():\n    if a:\n        pass\n    # note\n\n    if b:\n        pass\n".repeat(500);
        assert_eq!(check(&siblings), Ok(()));
        let continued = format!("x = [\n{}]\n", "                                1,\n".repeat(500));
        assert_eq!(check(&continued), Ok(()));
    }
}
