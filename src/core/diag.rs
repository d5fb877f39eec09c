//! Diagnostics for authors: what is wrong, where (line, column and the YAML
//! path), and a hint on how to fix it. Rendering follows compilers' habits:
//! `FILE:LINE:COL: error: MESSAGE (at PATH)`, then the source line and a caret.

use serde::Serialize;
use std::fmt::Write;

/// A position in a file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(line: u32, col: u32) -> Pos {
        Pos { line, col }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    /// The YAML path, such as `items[3].show_if`; empty for the whole file.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// How many characters the caret underlines (at least one).
    pub width: u32,
}

impl Diagnostic {
    pub fn error(pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            pos,
            path: path.into(),
            message: message.into(),
            hint: None,
            width: 1,
        }
    }

    pub fn warning(pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(pos, path, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_width(mut self, width: u32) -> Diagnostic {
        self.width = width.max(1);
        self
    }

    pub fn with_path(mut self, path: &str) -> Diagnostic {
        if self.path.is_empty() {
            self.path = path.to_string();
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The one-line form: `FILE:LINE:COL: error: MESSAGE (at PATH)`.
    pub fn headline(&self, file: &str) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let path = if self.path.is_empty() {
            "top level"
        } else {
            &self.path
        };
        format!(
            "{file}:{}:{}: {sev}: {} (at {path})",
            self.pos.line, self.pos.col, self.message
        )
    }

    /// The full form: the headline, the source line with a caret under the
    /// fault, and the hint.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = self.headline(file);
        out.push('\n');
        if self.pos.line > 0
            && let Some(line) = source.lines().nth(self.pos.line as usize - 1)
        {
            let num = self.pos.line.to_string();
            let pad = " ".repeat(num.len());
            // Tabs would shift the caret; show them as single spaces.
            let chars: Vec<char> = line
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let col = (self.pos.col.max(1) as usize - 1).min(chars.len());
            // A long line is shown as a window around the caret, so that a
            // file of one 30 KB line cannot make every message 30 KB.
            let (from, to) = if chars.len() <= WINDOW {
                (0, chars.len())
            } else {
                let from = col.saturating_sub(WINDOW / 3);
                (from, (from + WINDOW).min(chars.len()))
            };
            let before = if from > 0 { "…" } else { "" };
            let after = if to < chars.len() { "…" } else { "" };
            let shown: String = chars[from..to].iter().collect();
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{num} | {before}{shown}{after}");
            let caret_col = col - from + before.chars().count();
            let width = (self.width as usize).min(to.saturating_sub(col)).max(1);
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(caret_col),
                "^".repeat(width)
            );
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  = hint: {hint}");
        }
        out
    }
}

/// The longest part of a source line a rendered diagnostic shows.
const WINDOW: usize = 100;

/// The most diagnostics shown for one file; the rest are counted.
pub const MAX_SHOWN: usize = 50;

/// Renders the diagnostics of one file, at most [`MAX_SHOWN`] of them, then
/// a line that says how many more there are.
pub fn render_all(diags: &[Diagnostic], file: &str, source: &str) -> String {
    let mut out: String = diags
        .iter()
        .take(MAX_SHOWN)
        .map(|d| d.render(file, source))
        .collect();
    if diags.len() > MAX_SHOWN {
        let _ = writeln!(
            out,
            "{file}: {} more problems not shown; fix the ones above first",
            diags.len() - MAX_SHOWN
        );
    }
    out
}

/// The closest of `candidates` to `word`, when one is close enough to be a
/// likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, usize)> = None;
    for c in candidates {
        let d = strsim::damerau_levenshtein(word, c);
        let limit = word.chars().count().max(c.chars().count()) / 3;
        if d <= limit && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_renders_with_a_caret_under_the_fault() {
        let d = Diagnostic::error(Pos::new(2, 14), "items[0].show_if", "unknown name `totl`")
            .with_width(4)
            .with_hint("did you mean `total`?");
        let src = "items:\n  - show_if: \"totl > 0\"\n";
        assert_eq!(
            d.render("q.yaml", src),
            "q.yaml:2:14: error: unknown name `totl` (at items[0].show_if)\n  |\n2 |   - show_if: \"totl > 0\"\n  |              ^^^^\n  = hint: did you mean `total`?\n"
        );
    }

    #[test]
    fn closest_finds_typos_but_not_strangers() {
        assert_eq!(closest("show_fi", ["show_if", "scale"]), Some("show_if"));
        assert_eq!(closest("banana", ["show_if", "scale"]), None);
    }
}
