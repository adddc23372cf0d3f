//! A pre-parse guard against files that would exhaust the stack.
//!
//! The starlark parser and compiler recurse once per nesting level of an expression, and a
//! stack overflow aborts the process (no error, no JSON summary) instead of unwinding. No real
//! BUILD or .star file nests anywhere near these bounds, so a cheap scan of the text that
//! refuses deeper files turns that crash into an ordinary error naming the file and line.

/// Deepest bracket nesting: `(`, `[`, `{`.
pub(crate) const MAX_BRACKETS: usize = 100;
/// Longest run of prefix operators (`- - -x`, `not not x`).
pub(crate) const MAX_UNARY: usize = 100;
/// Most operators in one logical line: `1 + 1 + … + 1` parses into a tree as deep as it is long.
pub(crate) const MAX_OPERATORS: usize = 1000;

/// Checks `source`; the error says where and why, for `file:line: …` reporting.
pub(crate) fn check(source: &str) -> Result<(), (usize, String)> {
    let b = source.as_bytes();
    let (mut i, mut line) = (0usize, 1usize);
    let (mut depth, mut unary, mut operators) = (0usize, 0usize, 0usize);
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let triple = b.get(i..i + 3).is_some_and(|t| t[0] == c && t[1] == c && t[2] == c);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if b[i] == b'\\' {
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
                unary = 0;
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BRACKETS {
                    return Err((line, format!("brackets nest more than {MAX_BRACKETS} deep")));
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                unary = 0;
            }
            b'\n' => {
                line += 1;
                if depth == 0 {
                    operators = 0;
                }
            }
            // A comma ends one element; keyword `=` and attribute `.` do not nest.
            b',' => operators = 0,
            b' ' | b'\t' | b'\r' | b':' | b'=' | b'.' => {}
            b'-' | b'+' | b'~' | b'*' | b'/' | b'%' | b'|' | b'&' | b'^' | b'<' | b'>' => {
                if matches!(c, b'-' | b'+' | b'~') {
                    unary += 1;
                }
                operators += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match &source[start..i] {
                    "not" | "lambda" => {
                        unary += 1;
                        operators += 1;
                    }
                    "and" | "or" | "if" | "else" | "in" => {
                        unary = 0;
                        operators += 1;
                    }
                    _ => unary = 0,
                }
                if unary > MAX_UNARY {
                    return Err((line, format!("more than {MAX_UNARY} prefix operators in a row")));
                }
                if operators > MAX_OPERATORS {
                    return Err((line, format!("one expression holds more than {MAX_OPERATORS} operators")));
                }
                continue;
            }
            _ => unary = 0,
        }
        if unary > MAX_UNARY {
            return Err((line, format!("more than {MAX_UNARY} prefix operators in a row")));
        }
        if operators > MAX_OPERATORS {
            return Err((line, format!("one expression holds more than {MAX_OPERATORS} operators")));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_code_passes() {
        let src = "load(\"//x:y.star\", \"z\")\n# ((((( in a comment\ns = \"[[[[ in a string\"\nd = {\"a\": [1, 2, (3)]}\nx = -1 + 2 if not False else ~3\n";
        assert_eq!(check(src), Ok(()));
        assert_eq!(check(&format!("x = {}1{}\n", "(".repeat(MAX_BRACKETS), ")".repeat(MAX_BRACKETS))), Ok(()));
        let many_lines = "x = 1 + 1\n".repeat(5000);
        assert_eq!(check(&many_lines), Ok(()), "operators count per logical line");
        let big_list = format!("x = [\n{}]\n", "    struct(a = 1 + 2, b = c.d),\n".repeat(5000));
        assert_eq!(check(&big_list), Ok(()), "operators count per element");
    }

    #[test]
    fn hostile_nesting_is_refused_with_a_line() {
        let deep = format!("a = 1\nx = {}1", "[".repeat(MAX_BRACKETS + 1));
        assert_eq!(check(&deep).unwrap_err().0, 2);
        assert!(check(&format!("x = {}1", "-".repeat(MAX_UNARY + 1))).is_err());
        assert!(check(&format!("x = {}True", "not ".repeat(MAX_UNARY + 1))).is_err());
        assert!(check(&format!("x = 1{}", "+1".repeat(MAX_OPERATORS + 1))).is_err());
        assert!(
            check(&format!("x = [\n{}]", "1 +\n".repeat(MAX_OPERATORS + 1))).is_err(),
            "inside brackets lines continue"
        );
    }
}
