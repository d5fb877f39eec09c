//! The wording of e-mails, from the templates in `templates/mail/` (one
//! folder per language, Danish first): a plain text part whose first line
//! is the subject, and an HTML part. No health data: a message says that
//! something waits and links to it; its inputs are a clinic's name, a
//! link, a count — never an answer, a score, a reference or a
//! questionnaire's title (which can name a diagnosis).

use std::sync::OnceLock;

/// A message ready for the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// One line: control characters (a line break would start a header)
    /// are removed.
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The kinds of message, each a template pair in every language.
pub const KINDS: &[&str] = &[
    "red_alert",
    "red_batch",
    "yellow_digest",
    "escalation",
    "personal_link",
    "invitation",
    "reminder",
];

const LANGUAGES: &[&str] = &["da", "en"];

macro_rules! templates {
    ($($lang:literal / $kind:literal),* $(,)?) => {
        &[$(
            (concat!($lang, "/", $kind, ".txt"), include_str!(concat!("../../templates/mail/", $lang, "/", $kind, ".txt"))),
            (concat!($lang, "/", $kind, ".html"), include_str!(concat!("../../templates/mail/", $lang, "/", $kind, ".html"))),
        )*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "da" / "red_alert",
    "da" / "red_batch",
    "da" / "yellow_digest",
    "da" / "escalation",
    "da" / "personal_link",
    "da" / "invitation",
    "da" / "reminder",
    "en" / "red_alert",
    "en" / "red_batch",
    "en" / "yellow_digest",
    "en" / "escalation",
    "en" / "personal_link",
    "en" / "invitation",
    "en" / "reminder",
];

fn tera() -> &'static Result<tera::Tera, String> {
    static T: OnceLock<Result<tera::Tera, String>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = tera::Tera::default();
        t.add_raw_template(
            "layout.html",
            include_str!("../../templates/mail/layout.html"),
        )
        .map_err(|e| format!("{e:?}"))?;
        t.add_raw_templates(TEMPLATES.iter().copied())
            .map_err(|e| format!("{e:?}"))?;
        Ok(t)
    })
}

/// Removes what could end a header line or hide text.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders `kind` in `lang` (Danish for any other language) with `context`.
pub fn render(kind: &str, lang: &str, mut context: tera::Context) -> Result<Mail, String> {
    let t = tera().as_ref().map_err(Clone::clone)?;
    let lang = if LANGUAGES.contains(&lang) {
        lang
    } else {
        "da"
    };
    context.insert("lang", lang);
    let text = t
        .render(&format!("{lang}/{kind}.txt"), &context)
        .map_err(|e| format!("{e:?}"))?;
    let (subject, body) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = one_line(subject);
    context.insert("subject", &subject);
    let html = t
        .render(&format!("{lang}/{kind}.html"), &context)
        .map_err(|e| format!("{e:?}"))?;
    Ok(Mail {
        subject,
        text: body.trim_start_matches('\n').to_string(),
        html,
    })
}

fn or_plain(kind: &str, lang: &str, c: tera::Context, link: &str) -> Mail {
    render(kind, lang, c).unwrap_or_else(|e| {
        tracing::error!(error = %e, kind, "an e-mail template failed; a plain message goes instead");
        Mail {
            subject: "prom".into(),
            text: format!("{link}\n"),
            html: String::new(),
        }
    })
}

/// A red flag: the first of a clinic's window goes at once.
pub fn red_alert(lang: &str, clinic: &str, link: &str) -> Mail {
    let mut c = tera::Context::new();
    c.insert("clinic", clinic);
    c.insert("link", link);
    or_plain("red_alert", lang, c, link)
}

/// The reds gathered over a window after the first.
pub fn red_batch(lang: &str, clinic: &str, count: u64, minutes: u64, link: &str) -> Mail {
    let mut c = tera::Context::new();
    c.insert("clinic", clinic);
    c.insert("count", &count);
    c.insert("minutes", &minutes);
    c.insert("link", link);
    or_plain("red_batch", lang, c, link)
}

/// The day's yellow items.
pub fn yellow_digest(lang: &str, clinic: &str, count: u64, link: &str) -> Mail {
    let mut c = tera::Context::new();
    c.insert("clinic", clinic);
    c.insert("count", &count);
    c.insert("link", link);
    or_plain("yellow_digest", lang, c, link)
}

/// A red item that nobody took in time.
pub fn escalation(lang: &str, clinic: &str, hours: u64, link: &str) -> Mail {
    let mut c = tera::Context::new();
    c.insert("clinic", clinic);
    c.insert("hours", &hours);
    c.insert("link", link);
    or_plain("escalation", lang, c, link)
}

/// A patient's personal "my data" link.
pub fn personal_link(lang: &str, link: &str) -> Mail {
    let mut c = tera::Context::new();
    c.insert("link", link);
    or_plain("personal_link", lang, c, link)
}

/// A questionnaire is ready: a link and the last day it works (never the
/// questionnaire's title, which can name a diagnosis).
pub fn invitation(lang: &str, link: &str, deadline: &str) -> Mail {
    let mut c = tera::Context::new();
    c.insert("link", link);
    c.insert("deadline", deadline);
    or_plain("invitation", lang, c, link)
}

/// The questionnaire still waits.
pub fn reminder(lang: &str, link: &str, deadline: &str) -> Mail {
    let mut c = tera::Context::new();
    c.insert("link", link);
    c.insert("deadline", deadline);
    or_plain("reminder", lang, c, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_renders_in_every_language_on_one_subject_line_with_only_its_inputs() {
        let clinic = "Klinik MARK-CLINIC\r\nBcc: evil@example.org";
        let link = "https://prom.example.org/clinic/MARK-LINK";
        for lang in LANGUAGES {
            let all = [
                red_alert(lang, clinic, link),
                red_batch(lang, clinic, 17, 5, link),
                yellow_digest(lang, clinic, 4, link),
                escalation(lang, clinic, 4, link),
                personal_link(lang, link),
                invitation(lang, link, "2026-03-16"),
                reminder(lang, link, "2026-03-16"),
            ];
            for m in &all {
                assert!(
                    !m.subject.contains('\n') && !m.subject.contains('\r'),
                    "{m:?}"
                );
                assert!(m.text.contains("MARK-LINK"), "{m:?}");
                assert!(
                    m.html.contains("MARK-LINK") && m.html.contains(&format!("lang=\"{lang}\""))
                );
                assert!(!m.html.contains("<script"));
            }
            assert!(all[1].text.contains("17") && all[2].text.contains('4'));
        }
        let da = red_alert("da", "Afdeling", link);
        assert!(da.subject.contains("rødt"), "Danish first: {da:?}");
        let en = red_alert("en", "Ward", link);
        assert!(en.subject.contains("red"));
        assert_eq!(
            red_alert("fr", "X", link).subject,
            red_alert("da", "X", link).subject
        );
        // A name with markup is text in the HTML part.
        let html = red_alert("da", "<b>A</b>", link).html;
        assert!(html.contains("&lt;b&gt;A&lt;&#x2F;b&gt;"), "{html}");
    }
}
