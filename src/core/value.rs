//! Values that expressions compute with and answers are stored as.
//!
//! Numbers are decimals, not binary floats: authors write `0.1` steps and
//! expect `2.675` to round to `2.68`, and both only hold in decimal.

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(Decimal),
    Str(String),
    Date(NaiveDate),
    List(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// `null` and anything but `true` count as false in boolean positions.
    pub fn truthy(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    pub fn as_num(&self) -> Option<Decimal> {
        match self {
            Value::Num(d) => Some(*d),
            _ => None,
        }
    }

    /// Numeric and textual equality as expressions see it: `1` equals `1.0`.
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Num(a), Value::Num(b)) => a == b,
            (a, b) => a == b,
        }
    }

    /// The value as JSON, as the API stores and shows it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Num(d) => decimal_to_json(*d),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Date(d) => serde_json::Value::String(d.format("%Y-%m-%d").to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(d) => write!(f, "{}", fmt_num(*d)),
            Value::Str(s) => write!(f, "'{s}'"),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A decimal without trailing zeros: `2.50` shows as `2.5`.
pub fn fmt_num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Rounds half away from zero, as decimal arithmetic does (2.675 → 2.68).
pub fn round_half_away(d: Decimal, digits: u32) -> Decimal {
    d.round_dp_with_strategy(digits.min(28), RoundingStrategy::MidpointAwayFromZero)
}

/// A JSON number as a decimal, exactly as written: a number a decimal
/// cannot hold exactly (`1e-30`, thirty significant digits) is `None`, never
/// rounded.
pub fn decimal_from_json(n: &serde_json::Number) -> Option<Decimal> {
    // Whole numbers, the common answer, without going through text.
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    exact_decimal(&n.to_string())
}

/// A number written in JSON's syntax (`-12.5`, `3e2`, `1E-3`) as the exact
/// decimal it is, or `None` when a decimal cannot hold it exactly.
pub fn exact_decimal(text: &str) -> Option<Decimal> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let d = Decimal::from_str_exact(mantissa).ok()?;
    if d.is_zero() {
        return Some(Decimal::ZERO);
    }
    if exp < 0 {
        // Fewer digits first (1.50e-27 is 1.5e-27), then move the point.
        let d = d.normalize();
        let scale = u64::from(d.scale()).checked_add(exp.unsigned_abs())?;
        if scale > 28 {
            return None;
        }
        let mut out = d;
        out.set_scale(scale as u32).ok()?;
        Some(out)
    } else {
        let mut out = d;
        for _ in 0..exp {
            out = out.checked_mul(Decimal::TEN)?;
        }
        Some(out)
    }
}

/// A decimal as a JSON number: whole numbers as integers, others as floats.
pub fn decimal_to_json(d: Decimal) -> serde_json::Value {
    let d = d.normalize();
    if d.scale() == 0
        && let Some(i) = d.to_i64()
    {
        return serde_json::Value::from(i);
    }
    d.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// A strict `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn rounding_is_half_away_from_zero_in_decimal() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(round_half_away(d("10.5"), 0), d("11"));
        assert_eq!(round_half_away(d("-10.5"), 0), d("-11"));
        assert_eq!(round_half_away(d("2.675"), 2), d("2.68"));
    }

    #[test]
    fn json_floats_are_read_exactly_as_written() {
        let n: serde_json::Number = serde_json::from_str("2.9").unwrap();
        assert_eq!(decimal_from_json(&n), Some(Decimal::new(29, 1)));
        assert_eq!(decimal_to_json(Decimal::new(270, 1)), serde_json::json!(27));
    }

    #[test]
    fn numbers_are_read_exactly_or_not_at_all() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(exact_decimal("2.9"), Some(d("2.9")));
        assert_eq!(exact_decimal("3e2"), Some(d("300")));
        assert_eq!(exact_decimal("-1.5E-3"), Some(d("-0.0015")));
        assert_eq!(exact_decimal("0e-1000"), Some(Decimal::ZERO));
        assert_eq!(exact_decimal("1e-30"), None);
        assert_eq!(exact_decimal("0.1000000000000000000000000000001"), None);
        assert_eq!(exact_decimal("1e40"), None);
    }

    #[test]
    fn dates_must_be_real_and_zero_padded() {
        assert!(parse_date("2026-02-28").is_some());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("2026-2-3").is_none());
        assert!(parse_date("２０２6-02-03").is_none());
    }
}
