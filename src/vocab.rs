//! The vocabulary that crosses the shell's doors: a patient's reference, an
//! e-mail address, a language. Each is parsed once, the same way for the API,
//! the command line and the pages, into a type that can only hold a valid
//! value.

use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// A clinic's own reference for a patient: trimmed, NFC-normalised, 1 to
/// 100 characters, with no control or invisible (zero-width, bidi) characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PatientRef(String);

/// Characters that do not show: zero-width spaces and joiners, bidi
/// controls, the byte-order mark. Two references that differ only by one
/// would look the same to staff.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}')
}

impl PatientRef {
    pub fn parse(s: &str) -> Result<PatientRef, String> {
        let s: String = s.trim().nfc().collect();
        if s.is_empty() {
            return Err("the patient reference is empty".into());
        }
        if s.chars().count() > 100 {
            return Err("the patient reference may be at most 100 characters".into());
        }
        if s.chars().any(|c| c.is_control() || invisible(c)) {
            return Err("the patient reference holds a control or invisible character".into());
        }
        Ok(PatientRef(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for PatientRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address as the mailer can send to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Email, String> {
        let s = s.trim();
        if s.len() > 254 || s.parse::<lettre::Address>().is_err() {
            return Err(format!("`{s}` is not an e-mail address"));
        }
        Ok(Email(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The languages prom's own texts exist in; Danish first.
pub const LANGUAGES: &[&str] = &["da", "en"];

/// A language of prom's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Da,
    En,
}

impl Language {
    pub fn parse(s: &str) -> Result<Language, String> {
        match s {
            "da" => Ok(Language::Da),
            "en" => Ok(Language::En),
            _ => Err(format!("`{s}` is not a language of prom (da or en)")),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Da => "da",
            Language::En => "en",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_trimmed_normalised_and_free_of_invisible_characters() {
        // "Å" written as A + combining ring is the same reference as "Å".
        assert_eq!(
            PatientRef::parse("  A\u{030A}-1 ").expect("valid").as_str(),
            "\u{00C5}-1"
        );
        assert!(PatientRef::parse("P\u{200B}1").is_err());
        assert!(PatientRef::parse("P\u{0007}1").is_err());
        assert!(PatientRef::parse("   ").is_err());
        assert!(PatientRef::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn e_mail_addresses_are_checked_like_the_mailer_does() {
        assert!(Email::parse("sara@example.org").is_ok());
        assert!(Email::parse("not an address").is_err());
        assert!(Email::parse("a@b@c").is_err());
        assert!(Email::parse("x\r\nBcc: y@z.org").is_err());
    }
}
