//! Writing a command line a user can paste into a POSIX shell.

use std::borrow::Cow;

/// `words` joined by spaces, each quoted as a POSIX shell needs so that it splits the line back
/// into exactly these words: `shell_line(&[bwrap, args...])` reproduces an action by hand.
pub fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|word| quote(word.as_ref())).collect::<Vec<_>>().join(" ")
}

fn quote(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=/.,:@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain_and_the_rest_is_single_quoted() {
        assert_eq!(
            shell_line(&["bwrap", "--setenv", "PATH", "/usr/bin:/bin", "--", "sh", "-c", "echo $HOME 'hi'", ""]),
            r#"bwrap --setenv PATH /usr/bin:/bin -- sh -c 'echo $HOME '\''hi'\''' ''"#
        );
    }
}
