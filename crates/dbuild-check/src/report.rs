//! What a check found: findings with a severity, an image path and one sentence each.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The image will fail at run time.
    Error,
    /// Something is suspicious or was not checked.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    pub severity: Severity,
    /// The image path the finding is about, with a leading `/`, when there is one.
    pub path: Option<String>,
    /// One sentence, which names the path itself when there is one.
    pub message: String,
}

impl Finding {
    pub fn error(path: Option<String>, message: impl Into<String>) -> Finding {
        Finding { severity: Severity::Error, path, message: message.into() }
    }

    pub fn warning(path: Option<String>, message: impl Into<String>) -> Finding {
        Finding { severity: Severity::Warning, path, message: message.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)
    }
}

/// Everything [`crate::check_image`] found, in check order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// The findings that make the image fail.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// The findings that are only warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Warning)
    }

    /// No findings at all, not even warnings.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// One line per finding: `error: /app/hello needs libgcc_s.so.1, which this image lacks; ...`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}
