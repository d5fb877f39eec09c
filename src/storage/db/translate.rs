//! SQLite's SQL as PostgreSQL's: the rewriting that lets one set of
//! queries serve both backends.

/// SQLite's SQL as PostgreSQL's: `?N` → `$N`; `json_group_array(x)` →
/// `coalesce(json_agg(x), '[]'::json)`; `json_object(` →
/// `json_build_object(`; `json(x)` → `(x)::json`; `LIMIT -1` → `LIMIT
/// ALL`; `BEGIN IMMEDIATE` → `BEGIN`; `json_group_object(k, v)` →
/// `coalesce(json_object_agg(k, v), '{}'::json)`; `GLOB '*.x'` → `LIKE
/// '%.x'` (a literal pattern). Other text in quotes is left alone.
pub fn translate(sql: &str) -> String {
    let sql = sql
        .replace("LIMIT -1", "LIMIT ALL")
        .replace("BEGIN IMMEDIATE", "BEGIN");
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len() + 16);
    // Closers to add when the parenthesis opened at a depth closes.
    let mut pending: Vec<(usize, &str)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let word_at = |i: usize, w: &str| -> bool {
        let wc: Vec<char> = w.chars().collect();
        chars.len() >= i + wc.len()
            && chars[i..i + wc.len()]
                .iter()
                .zip(&wc)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_'))
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A quoted literal, copied as it is ('' inside stays).
            out.push(c);
            i += 1;
            while i < chars.len() {
                out.push(chars[i]);
                if chars[i] == '\'' {
                    break;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '?' && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            out.push('$');
            i += 1;
            continue;
        }
        if word_at(i, "json_group_array(") {
            out.push_str("coalesce(json_agg(");
            depth += 1;
            pending.push((depth, ", '[]'::json)"));
            i += "json_group_array(".len();
            continue;
        }
        if word_at(i, "json_group_object(") {
            out.push_str("coalesce(json_object_agg(");
            depth += 1;
            pending.push((depth, ", '{}'::json)"));
            i += "json_group_object(".len();
            continue;
        }
        if c == ' ' && chars[i..].starts_with(&[' ', 'G', 'L', 'O', 'B', ' ', '\'']) {
            // A literal pattern: SQLite's wildcards as LIKE's.
            out.push_str(" LIKE '");
            i += 7;
            while i < chars.len() && chars[i] != '\'' {
                out.push(match chars[i] {
                    '*' => '%',
                    '?' => '_',
                    c => c,
                });
                i += 1;
            }
            out.push('\'');
            i += 1;
            continue;
        }
        if word_at(i, "json_object(") {
            out.push_str("json_build_object(");
            depth += 1;
            i += "json_object(".len();
            continue;
        }
        if word_at(i, "json(") {
            out.push('(');
            depth += 1;
            pending.push((depth, "::json"));
            i += "json(".len();
            continue;
        }
        if c == '(' {
            depth += 1;
        }
        out.push(c);
        if c == ')' {
            while let Some((d, closer)) = pending.last().copied()
                && d == depth
            {
                out.push_str(closer);
                pending.pop();
            }
            depth = depth.saturating_sub(1);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_sql_is_rewritten_for_postgres_outside_quotes() {
        assert_eq!(
            translate("SELECT a FROM t WHERE b = ?1 AND c = '?2' LIMIT -1"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' LIMIT ALL"
        );
        assert_eq!(
            translate(
                "SELECT json_group_array(json_object('rule', f.r, 'text', json(f.text)) ORDER BY f.r) FROM f"
            ),
            "SELECT coalesce(json_agg(json_build_object('rule', f.r, 'text', (f.text)::json) ORDER BY f.r), '[]'::json) FROM f"
        );
        assert_eq!(
            translate("SELECT json_group_array(x.note) FROM (SELECT note FROM e) x"),
            "SELECT coalesce(json_agg(x.note), '[]'::json) FROM (SELECT note FROM e) x"
        );
        assert_eq!(translate("BEGIN IMMEDIATE"), "BEGIN");
        assert_eq!(
            translate("SELECT json_group_object(s.id, s.band) FROM s WHERE a GLOB '*.read'"),
            "SELECT coalesce(json_object_agg(s.id, s.band), '{}'::json) FROM s WHERE a LIKE '%.read'"
        );
        assert_eq!(
            translate("SELECT 'it''s ?1' , ?12"),
            "SELECT 'it''s ?1' , $12"
        );
    }
}
