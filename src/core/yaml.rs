//! A small YAML 1.2 (core schema) reader that builds a tree of [`Node`]s with
//! positions, on top of `saphyr-parser`'s event stream.
//!
//! Why not serde: a serde deserialiser stops at the first problem, and
//! authors need every problem at once, each with a line and column. Reading
//! events ourselves also lets us refuse hostile files early and cheaply:
//! anchors, aliases and tags are errors (so no alias expansion can ever
//! happen), nesting deeper than [`MAX_DEPTH`] stops the read at once, and a
//! file over [`MAX_BYTES`] is never parsed.

use rust_decimal::Decimal;
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::str::FromStr;

use super::diag::{Diagnostic, Pos};

/// The largest questionnaire file accepted, in bytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// The deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// Reading stops after this many errors: a hostile file (thousands of
/// aliases on one line) costs no more than a broken one.
pub const MAX_ERRORS: usize = 100;

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
    /// For a string scalar read from a file: where its text stands and how
    /// it was written, so that [`locate`] can find the line and column of
    /// any character of its value (expressions point at the faulty token).
    pub src: Option<ScalarSrc>,
}

/// Where a string scalar stands in its file: from `start` (its first
/// character, the opening quote or block indicator included) up to `end`
/// (exclusive), and its style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalarSrc {
    pub start: Pos,
    pub end: Pos,
    pub style: ScalarStyle,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Num(Decimal),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in file order; keys are scalars (duplicates are refused).
    Map(Vec<(Node, Node)>),
    /// A node already reported as an error (an alias, a non-finite
    /// number): the compiler skips it without further messages.
    Bad,
}

impl Node {
    pub fn new(kind: NodeKind, pos: Pos) -> Node {
        Node {
            kind,
            pos,
            src: None,
        }
    }

    /// A short English name of the node's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Num(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Bad => "an invalid value",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The key as text, for scalar keys.
    pub fn key_text(&self) -> String {
        match &self.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Num(n) => n.normalize().to_string(),
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Null => "null".into(),
            NodeKind::Seq(_) | NodeKind::Map(_) | NodeKind::Bad => "?".into(),
        }
    }

    /// Converts a JSON value into a node without positions, so that the same
    /// compiler reads YAML files and stored compiled JSON.
    pub fn from_json(v: &serde_json::Value) -> Node {
        let kind = match v {
            serde_json::Value::Null => NodeKind::Null,
            serde_json::Value::Bool(b) => NodeKind::Bool(*b),
            serde_json::Value::Number(n) => match super::value::decimal_from_json(n) {
                Some(d) => NodeKind::Num(d),
                None => NodeKind::Null,
            },
            serde_json::Value::String(s) => NodeKind::Str(s.clone()),
            serde_json::Value::Array(a) => NodeKind::Seq(a.iter().map(Node::from_json).collect()),
            serde_json::Value::Object(o) => NodeKind::Map(
                o.iter()
                    .map(|(k, v)| {
                        (
                            Node::new(NodeKind::Str(k.clone()), Pos::default()),
                            Node::from_json(v),
                        )
                    })
                    .collect(),
            ),
        };
        Node::new(kind, Pos::default())
    }

    /// Converts the node to JSON (answers in tests are handled as JSON, like
    /// answers that arrive over the API).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            NodeKind::Null | NodeKind::Bad => serde_json::Value::Null,
            NodeKind::Bool(b) => serde_json::Value::Bool(*b),
            NodeKind::Num(d) => super::value::decimal_to_json(*d),
            NodeKind::Str(s) => serde_json::Value::String(s.clone()),
            NodeKind::Seq(a) => serde_json::Value::Array(a.iter().map(Node::to_json).collect()),
            NodeKind::Map(m) => serde_json::Value::Object(
                m.iter().map(|(k, v)| (k.key_text(), v.to_json())).collect(),
            ),
        }
    }
}

/// The result of reading a file: the tree (absent when the file could not be
/// read at all) and every problem found on the way.
pub struct Parsed {
    pub root: Option<Node>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A collection being built, with its YAML path.
enum Frame {
    Seq(Pos, Vec<Node>, String),
    Map(Pos, Vec<(Node, Node)>, Option<Node>, String),
}

/// The YAML path of the next node to be attached, such as `items[3].text`.
fn slot_path(stack: &[Frame]) -> String {
    match stack.last() {
        None => String::new(),
        Some(Frame::Seq(_, items, path)) => format!("{path}[{}]", items.len()),
        Some(Frame::Map(_, _, Some(key), path)) if path.is_empty() => key.key_text(),
        Some(Frame::Map(_, _, Some(key), path)) => format!("{path}.{}", key.key_text()),
        Some(Frame::Map(_, _, None, path)) => path.clone(),
    }
}

/// Reads one YAML document.
pub fn parse(source: &str) -> Parsed {
    let mut diags = Vec::new();
    if source.len() > MAX_BYTES {
        diags.push(Diagnostic::error(
            Pos::new(1, 1),
            "",
            format!(
                "the file is {} bytes; a questionnaire may be at most {} bytes (1 MiB)",
                source.len(),
                MAX_BYTES
            ),
        ));
        return Parsed {
            root: None,
            diagnostics: diags,
        };
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    // Errors so far, counted as diagnostics arrive.
    let (mut errors, mut counted) = (0, 0);
    for item in Parser::new_from_str(source) {
        let (event, span) = match item {
            Ok(e) => e,
            Err(e) => {
                let m = e.marker();
                let at = Pos::new(m.line() as u32, m.col() as u32 + 1);
                diags.push(syntax_error(source, at, e.info(), slot_path(&stack)));
                return Parsed {
                    root: None,
                    diagnostics: diags,
                };
            }
        };
        if diags.len() > counted {
            errors += diags[counted..].iter().filter(|d| d.is_error()).count();
            counted = diags.len();
        }
        if errors >= MAX_ERRORS {
            diags.push(Diagnostic::error(
                Pos::new(span.start.line() as u32, span.start.col() as u32 + 1),
                slot_path(&stack),
                format!("reading stopped after {MAX_ERRORS} problems"),
            ));
            return Parsed {
                root: None,
                diagnostics: diags,
            };
        }
        let pos = Pos::new(span.start.line() as u32, span.start.col() as u32 + 1);
        let here = slot_path(&stack);
        let is_seq = matches!(event, Event::SequenceStart(..));
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    diags.push(Diagnostic::error(
                        pos,
                        &here,
                        "a questionnaire file holds one YAML document; this is a second one",
                    ));
                    break;
                }
                continue;
            }
            Event::Alias(_) => {
                diags.push(
                    Diagnostic::error(pos, &here, "aliases (`*name`) are not allowed")
                        .with_hint("use `scales` to share options between items"),
                );
                Node::new(NodeKind::Bad, pos)
            }
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 {
                    anchor_error(&mut diags, pos, &here);
                }
                if let Some(tag) = tag {
                    diags.push(Diagnostic::error(
                        pos,
                        &here,
                        format!("tags (`{}{}`) are not allowed", tag.handle, tag.suffix),
                    ));
                }
                let mut node = scalar(&value, style, pos, &here, &mut diags);
                if let NodeKind::Str(_) = &node.kind {
                    node.src = Some(ScalarSrc {
                        start: pos,
                        end: Pos::new(span.end.line() as u32, span.end.col() as u32 + 1),
                        style,
                    });
                }
                node
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if anchor != 0 {
                    anchor_error(&mut diags, pos, &here);
                }
                if let Some(tag) = tag {
                    diags.push(Diagnostic::error(
                        pos,
                        &here,
                        format!("tags (`{}{}`) are not allowed", tag.handle, tag.suffix),
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    diags.push(Diagnostic::error(
                        pos,
                        &here,
                        format!("the file nests deeper than {MAX_DEPTH} levels"),
                    ));
                    return Parsed {
                        root: None,
                        diagnostics: diags,
                    };
                }
                stack.push(if is_seq {
                    Frame::Seq(pos, Vec::new(), here)
                } else {
                    Frame::Map(pos, Vec::new(), None, here)
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(p, items, _)) => Node::new(NodeKind::Seq(items), p),
                _ => continue,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(p, entries, _, _)) => Node::new(NodeKind::Map(entries), p),
                _ => continue,
            },
        };
        // Attach the finished node to its parent.
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, items, _)) => items.push(node),
            Some(Frame::Map(_, entries, pending, _)) => match pending.take() {
                None => {
                    if matches!(node.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
                        diags.push(Diagnostic::error(
                            node.pos,
                            &here,
                            "a key must be a plain word, not a list or mapping",
                        ));
                    } else if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.kind == node.kind && !matches!(k.kind, NodeKind::Null))
                    {
                        diags.push(
                            Diagnostic::error(
                                node.pos,
                                if here.is_empty() {
                                    node.key_text()
                                } else {
                                    format!("{here}.{}", node.key_text())
                                },
                                format!("duplicate key `{}`", node.key_text()),
                            )
                            .with_hint(format!(
                                "the key was first given on line {}; remove one of them",
                                first.pos.line
                            )),
                        );
                    }
                    *pending = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
    // Keys that were duplicates are still in the tree; the diagnostics say so
    // and compilation of such a file fails anyway.
    Parsed {
        root,
        diagnostics: diags,
    }
}

/// A parser's complaint turned into something an author can act on: where
/// the indentation went wrong and what it should be, a tab, an unclosed
/// quote or bracket. Other complaints keep the parser's words.
fn syntax_error(source: &str, at: Pos, info: &str, path: String) -> Diagnostic {
    let lines: Vec<&str> = source.lines().collect();
    let line_of = |n: u32| lines.get((n as usize).wrapping_sub(1)).copied();
    let indent = |l: &str| l.chars().take_while(|c| *c == ' ').count() as u32;
    // The column where a line's key starts: after its indentation and any
    // `- ` list markers.
    let key_col = |l: &str| {
        let mut col = indent(l);
        let mut rest = l.trim_start_matches(' ');
        while let Some(r) = rest.strip_prefix("- ") {
            let pad = r.chars().take_while(|c| *c == ' ').count() as u32;
            col += 2 + pad;
            rest = r.trim_start_matches(' ');
        }
        col
    };
    let meaningful = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    if info.contains("recursion limit") {
        return Diagnostic::error(
            at,
            path,
            format!("the file nests deeper than {MAX_DEPTH} levels"),
        );
    }
    if info.contains("tab") {
        let from = at.line.max(1) as usize - 1;
        let tabbed = lines
            .iter()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| {
                l.starts_with([' ', '\t']) && l.trim_start_matches(' ').starts_with('\t')
            })
            .or_else(|| lines.iter().enumerate().find(|(_, l)| l.contains('\t')));
        let pos = match tabbed {
            Some((i, l)) => Pos::new(
                i as u32 + 1,
                l.chars().position(|c| c == '\t').unwrap_or(0) as u32 + 1,
            ),
            None => at,
        };
        return Diagnostic::error(
            pos,
            path,
            "a tab character stands where YAML expects spaces",
        )
        .with_hint("YAML indents with spaces only; replace the tab with spaces");
    }
    if info.contains("quoted scalar") {
        return Diagnostic::error(at, path, "a quoted string is not closed")
            .with_hint("end the text with the same quote it starts with; a quote inside it is written twice ('') or escaped (\\\")");
    }
    if info.contains("flow mapping") || info.contains("flow sequence") {
        let (open, close) = if info.contains("mapping") {
            ('{', '}')
        } else {
            ('[', ']')
        };
        return Diagnostic::error(
            at,
            path,
            format!("a `{open}` is not closed before this point"),
        )
        .with_hint(format!(
            "close it with `{close}` on the line where it starts, and separate its entries with `,`"
        ));
    }
    let indentation =
        info.contains("did not find expected") || info.contains("mapping values are not allowed");
    if let (true, Some(line)) = (indentation, line_of(at.line)) {
        let cur = indent(line);
        let above = (1..at.line)
            .rev()
            .filter_map(|n| line_of(n).map(|l| (n, l)))
            .find(|(_, l)| meaningful(l));
        let trimmed = line.trim_start_matches(' ');
        let token_width = trimmed
            .split([' ', ':'])
            .next()
            .map_or(1, |t| t.chars().count()) as u32;
        let pos = Pos::new(at.line, cur + 1);
        if trimmed.starts_with("- ") || trimmed == "-" {
            // A list entry: it lines up with the entry before it.
            let sibling = (1..at.line)
                .rev()
                .filter_map(|n| line_of(n).map(|l| (n, l)))
                .find(|(_, l)| l.trim_start_matches(' ').starts_with('-') && indent(l) != cur);
            if let Some((n, l)) = sibling {
                let want = indent(l);
                return Diagnostic::error(
                    pos,
                    path,
                    format!("this list entry is indented {}, but the entry it follows (line {n}) is indented {}", spaces(cur), spaces(want)),
                )
                .with_width(1)
                .with_hint(format!("entries of one list start in the same column: indent this `-` by {}", spaces(want)));
            }
        } else if let Some((n, l)) = above {
            let want = key_col(l);
            let (msg, hint) = if cur > want {
                (
                    format!(
                        "this line is indented {}, more than the line above it (line {n}, {})",
                        spaces(cur),
                        spaces(want)
                    ),
                    format!(
                        "keys of one mapping start in the same column: indent it by {} (a text that goes on over several lines needs quotes)",
                        spaces(want)
                    ),
                )
            } else {
                (
                    format!(
                        "this line is indented {}, but the keys above it (line {n}) are indented {}",
                        spaces(cur),
                        spaces(want)
                    ),
                    format!(
                        "indent it by {} to belong to the entry above, or start a new list entry with `- `",
                        spaces(want)
                    ),
                )
            };
            return Diagnostic::error(pos, path, msg)
                .with_width(token_width)
                .with_hint(hint);
        }
    }
    Diagnostic::error(at, path, format!("this is not valid YAML: {info}"))
}

/// `no spaces`, `1 space`, `4 spaces`.
fn spaces(n: u32) -> String {
    match n {
        0 => "no spaces".into(),
        1 => "1 space".into(),
        n => format!("{n} spaces"),
    }
}

fn anchor_error(diags: &mut Vec<Diagnostic>, pos: Pos, path: &str) {
    diags.push(
        Diagnostic::error(pos, path, "anchors (`&name`) are not allowed")
            .with_hint("use `scales` to share options between items"),
    );
}

/// The line and column of the character at `offset` (in characters) of a
/// string scalar's value, whatever its style: plain, quoted with escapes
/// (`\"`, `''`), over several lines, or a block (`|`, `>`). Without a
/// source position, the node's own position.
///
/// The value is aligned with the file's text: each character that is not
/// white space is found at the next place it stands in the scalar's text
/// (an escape such as `\"` leaves its character in the file, so the search
/// finds it); white space, which folding and indentation change, is matched
/// loosely.
pub fn locate(source: &str, node: &Node, offset: u32) -> Pos {
    let (Some(src), NodeKind::Str(value)) = (&node.src, &node.kind) else {
        return node.pos;
    };
    let opening = match src.style {
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => 1,
        _ => 0,
    };
    // A block's span may start at its `|` or `>` header; its text starts on
    // the next line then.
    let header = matches!(src.style, ScalarStyle::Literal | ScalarStyle::Folded)
        && source
            .lines()
            .nth(src.start.line.max(1) as usize - 1)
            .and_then(|l| l.chars().nth(src.start.col.max(1) as usize - 1))
            .is_some_and(|c| c == '|' || c == '>');
    let mut region: Vec<(char, Pos)> = Vec::new();
    let first = src.start.line.max(1) as usize - 1;
    let last = if src.end >= src.start {
        src.end.line
    } else {
        u32::MAX
    };
    for (i, line) in source.lines().enumerate().skip(first) {
        let ln = i as u32 + 1;
        if ln > last {
            break;
        }
        if header && ln == src.start.line {
            continue;
        }
        let mut col = 0;
        for ch in line.chars() {
            col += 1;
            if ln == src.start.line && col < src.start.col + opening {
                continue;
            }
            if ln == last && src.end >= src.start && col >= src.end.col {
                break;
            }
            region.push((ch, Pos::new(ln, col)));
        }
        region.push(('\n', Pos::new(ln, col + 1)));
    }
    let mut cur = 0;
    for (i, ch) in value.chars().enumerate() {
        let here = region.get(cur).map(|r| r.1);
        if ch.is_whitespace() {
            if region.get(cur).is_some_and(|r| r.0.is_whitespace()) {
                cur += 1;
            }
        } else if let Some(k) = region[cur.min(region.len())..]
            .iter()
            .position(|(c, _)| *c == ch)
        {
            cur += k;
            if i as u32 == offset {
                return region[cur].1;
            }
            cur += 1;
            continue;
        }
        if i as u32 == offset {
            return here.unwrap_or(node.pos);
        }
    }
    region.get(cur).map(|r| r.1).unwrap_or(node.pos)
}

/// Words that YAML 1.1 read as booleans and YAML 1.2 reads as strings.
const YAML11_BOOLS: &[&str] = &[
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
];

fn scalar(
    value: &str,
    style: ScalarStyle,
    pos: Pos,
    path: &str,
    diags: &mut Vec<Diagnostic>,
) -> Node {
    if style != ScalarStyle::Plain {
        return Node::new(NodeKind::Str(value.to_string()), pos);
    }
    let kind = match value {
        "" | "~" | "null" | "Null" | "NULL" => NodeKind::Null,
        "true" | "True" | "TRUE" => NodeKind::Bool(true),
        "false" | "False" | "FALSE" => NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            diags.push(Diagnostic::error(
                pos,
                path,
                format!("`{value}` is not a finite number; numbers must be finite"),
            ));
            NodeKind::Bad
        }
        _ => match number(value) {
            Some(Ok(d)) => NodeKind::Num(d),
            Some(Err(())) => {
                diags.push(Diagnostic::error(
                    pos,
                    path,
                    format!("the number `{value}` is too large or too precise"),
                ));
                NodeKind::Bad
            }
            None => {
                if YAML11_BOOLS.contains(&value) {
                    diags.push(
                        Diagnostic::warning(
                            pos,
                            path,
                            format!("`{value}` is read as the string '{value}', not as a boolean"),
                        )
                        .with_hint(format!(
                            "write '{value}' in quotes if you mean the text, or true/false for a boolean"
                        )),
                    );
                }
                NodeKind::Str(value.to_string())
            }
        },
    };
    Node::new(kind, pos)
}

/// Resolves a plain scalar as a YAML 1.2 core-schema number: `Some(Ok)` for a
/// number, `Some(Err)` for a number that does not fit, `None` for text.
fn number(s: &str) -> Option<Result<Decimal, ()>> {
    let b = s.as_bytes();
    if let Some(hex) = s.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Some(
                i64::from_str_radix(hex, 16)
                    .map(Decimal::from)
                    .map_err(|_| ()),
            );
        }
        return None;
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
            return Some(
                i64::from_str_radix(oct, 8)
                    .map(Decimal::from)
                    .map_err(|_| ()),
            );
        }
        return None;
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    let mut has_exp = false;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        has_exp = true;
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let text = s.strip_prefix('+').unwrap_or(s);
    let text = text.strip_suffix('.').unwrap_or(text);
    let parsed = if has_exp {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str(text)
    };
    Some(parsed.map_err(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(s: &str) -> Node {
        let p = parse(s);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        p.root.expect("a root node")
    }

    #[test]
    fn core_schema_words_are_strings_and_numbers_are_decimal() {
        let n = root("a: 'yes'\nb: 2.90\nc: 0x1F\nd: ~\ne: '3'\n");
        let NodeKind::Map(m) = n.kind else {
            panic!("not a map")
        };
        assert_eq!(m[1].1.kind, NodeKind::Num(Decimal::new(290, 2)));
        assert_eq!(m[2].1.kind, NodeKind::Num(Decimal::from(31)));
        assert_eq!(m[3].1.kind, NodeKind::Null);
        assert_eq!(m[4].1.kind, NodeKind::Str("3".into()));
        let p = parse("a: yes\n");
        assert_eq!(p.diagnostics.len(), 1, "yes warns");
        assert_eq!(
            p.diagnostics[0].message,
            "`yes` is read as the string 'yes', not as a boolean"
        );
    }

    #[test]
    fn positions_are_one_based_and_quoted_strings_know_their_first_column() {
        let n = root("items:\n  - show_if: \"total > 0\"\n");
        let NodeKind::Map(m) = &n.kind else { panic!() };
        let NodeKind::Seq(s) = &m[0].1.kind else {
            panic!()
        };
        assert_eq!(s[0].pos, Pos::new(2, 5));
        let NodeKind::Map(item) = &s[0].kind else {
            panic!()
        };
        let src = "items:\n  - show_if: \"total > 0\"\n";
        assert_eq!(locate(src, &item[0].1, 0), Pos::new(2, 15));
        assert_eq!(locate(src, &item[0].1, 8), Pos::new(2, 23));
    }

    /// The position of `needle` in the value of the (only) key `a`.
    fn where_is(src: &str, needle: &str) -> Pos {
        let n = root(src);
        let NodeKind::Map(m) = &n.kind else { panic!() };
        let NodeKind::Str(v) = &m[0].1.kind else {
            panic!("not a string: {:?}", m[0].1.kind)
        };
        let offset = v[..v.find(needle).expect("in the value")].chars().count();
        locate(src, &m[0].1, offset as u32)
    }

    #[test]
    fn positions_inside_escaped_folded_and_block_strings_point_at_the_character() {
        // Escapes before the fault shift it in the file.
        assert_eq!(
            where_is("a: \"x = \\\"b\\\" and totl > 1\"\n", "totl"),
            Pos::new(1, 19)
        );
        assert_eq!(
            where_is("a: 'x = ''b'' and totl > 1'\n", "totl"),
            Pos::new(1, 19)
        );
        // A quoted string over two lines.
        assert_eq!(
            where_is("a: \"x > 1 and\n   totl > 1\"\n", "totl"),
            Pos::new(2, 4)
        );
        // Literal and folded blocks.
        assert_eq!(
            where_is("a: |\n  x > 1\n  and totl > 1\n", "totl"),
            Pos::new(3, 7)
        );
        assert_eq!(
            where_is("a: >\n  x > 1\n    and totl > 1\n", "totl"),
            Pos::new(3, 9)
        );
        // A plain scalar over two lines, with æ before the fault.
        assert_eq!(
            where_is("a: x = 'æ' and\n  totl > 1\n", "totl"),
            Pos::new(2, 3)
        );
    }

    #[test]
    fn hostile_constructs_are_refused() {
        for (src, needle) in [
            ("a: &x 1\nb: *x\n", "anchors"),
            ("a: !!str 1\n", "tags"),
            ("a: 1\na: 2\n", "duplicate key `a`"),
            ("a: .inf\n", "not a finite number"),
            ("a: 1\n---\nb: 2\n", "second one"),
        ] {
            let p = parse(src);
            assert!(
                p.diagnostics.iter().any(|d| d.message.contains(needle)),
                "{src}: {:?}",
                p.diagnostics
            );
        }
    }

    #[test]
    fn deep_nesting_stops_quickly_without_overflowing_the_stack() {
        let src = "[".repeat(10_000) + &"]".repeat(10_000);
        let p = parse(&src);
        assert!(p.root.is_none());
        assert!(p.diagnostics[0].message.contains("nests deeper"));
        let src = (0..10_000)
            .map(|i| format!("{}- \n", " ".repeat(i)))
            .collect::<String>();
        let p = parse(&src);
        assert!(p.root.is_none());
    }
}
