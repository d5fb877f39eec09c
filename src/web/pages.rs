//! What every HTML page shares: the templates (from `templates/`, built
//! into the binary so it runs from any folder), the text catalogues (one
//! file per language), the stylesheet, security headers and the session
//! cookie.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, http::StatusCode};
use std::collections::HashMap;

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    (
        "patient/form.html",
        include_str!("../../templates/patient/form.html"),
    ),
    (
        "patient/receipt.html",
        include_str!("../../templates/patient/receipt.html"),
    ),
    (
        "patient/problem.html",
        include_str!("../../templates/patient/problem.html"),
    ),
    (
        "patient/mydata.html",
        include_str!("../../templates/patient/mydata.html"),
    ),
    (
        "print/form.html",
        include_str!("../../templates/print/form.html"),
    ),
    (
        "patient/form_body.html",
        include_str!("../../templates/patient/form_body.html"),
    ),
    (
        "preview/page.html",
        include_str!("../../templates/preview/page.html"),
    ),
    (
        "preview/index.html",
        include_str!("../../templates/preview/index.html"),
    ),
];

/// The pages' own texts, one catalogue per language; Danish first.
const CATALOGUES: &[(&str, &str)] = &[
    ("da", include_str!("../../templates/i18n/da.json")),
    ("en", include_str!("../../templates/i18n/en.json")),
];

pub const STYLESHEET: &str = include_str!("../../templates/static/app.css");
pub const SCRIPT: &str = include_str!("../../templates/static/app.js");
pub const PRINT_STYLESHEET: &str = include_str!("../../templates/static/print.css");

/// The templates and catalogues, read once at start-up.
pub struct Pages {
    tera: tera::Tera,
    texts: HashMap<&'static str, HashMap<String, String>>,
}

impl Pages {
    /// Builds the templates and reads the catalogues; an error names the
    /// template or catalogue at fault (they are part of the binary, so a
    /// test catches it first).
    pub fn load() -> anyhow::Result<Pages> {
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .map_err(|e| anyhow::anyhow!("the page templates do not compile: {e:?}"))?;
        let mut texts = HashMap::new();
        for (lang, json) in CATALOGUES {
            let t: HashMap<String, String> = serde_json::from_str(json)
                .map_err(|e| anyhow::anyhow!("templates/i18n/{lang}.json: {e}"))?;
            texts.insert(*lang, t);
        }
        let da: Vec<&String> = texts["da"].keys().collect();
        for (lang, t) in &texts {
            for k in &da {
                anyhow::ensure!(t.contains_key(*k), "templates/i18n/{lang}.json lacks `{k}`");
            }
        }
        Ok(Pages { tera, texts })
    }

    /// A text of the catalogue in `lang` (Danish when the language is
    /// unknown).
    pub fn text(&self, lang: &str, key: &str) -> String {
        self.texts
            .get(lang)
            .or_else(|| self.texts.get("da"))
            .and_then(|t| t.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    /// The paper form of `q` in `lang`, with the patient's reference and the
    /// code for the clinic when there are any.
    pub fn paper(
        &self,
        q: &crate::core::Questionnaire,
        lang: &str,
        reference: Option<&str>,
        code: Option<&str>,
    ) -> HttpResponse {
        let view = crate::core::form::print_view(q, lang);
        let mut c = tera::Context::from_serialize(&view).unwrap_or_default();
        c.insert("reference", &reference);
        c.insert("code", &code);
        self.render(StatusCode::OK, "print/form.html", &view.language, c)
    }

    /// Renders `template` with `context`, the catalogue of `lang` as `t`
    /// and `lang` itself.
    pub fn render(
        &self,
        status: StatusCode,
        template: &str,
        lang: &str,
        mut context: tera::Context,
    ) -> HttpResponse {
        let lang = if self.texts.contains_key(lang) {
            lang
        } else {
            "da"
        };
        context.insert("lang", lang);
        context.insert("t", &self.texts[lang]);
        match self.tera.render(template, &context) {
            Ok(html) => page(status).body(html),
            Err(e) => {
                let id = crate::storage::ids::new_id();
                tracing::error!(error_id = %id, error = ?e, template, "a page could not be rendered");
                page(StatusCode::INTERNAL_SERVER_ERROR).body(format!(
                    "<!doctype html><title>prom</title><p>Something went wrong. Error id {id}</p>"
                ))
            }
        }
    }
}

/// A page's response with the headers every page carries: no scripts from
/// elsewhere (and none inline), no framing, no referrer, no caching of
/// patient data.
pub fn page(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"));
    b
}

pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(SCRIPT)
}

pub async fn print_stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(PRINT_STYLESHEET)
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// The session cookie: `__Host-` and `Secure` when the service is reached
/// over HTTPS; a plain name over HTTP (a local demo), where browsers refuse
/// `__Host-` cookies.
pub struct CookieName(pub &'static str);

pub fn cookie_name(base_url: &str) -> CookieName {
    if base_url.starts_with("https://") {
        CookieName("__Host-prom_session")
    } else {
        CookieName("prom_session")
    }
}

/// A `Set-Cookie` value for a session token: HttpOnly, SameSite=Lax, the
/// whole site, Secure over HTTPS.
pub fn session_cookie(base_url: &str, token: &str) -> String {
    let CookieName(name) = cookie_name(base_url);
    let secure = if base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// The session token a request carries.
pub fn session_token(req: &HttpRequest, base_url: &str) -> Option<String> {
    let CookieName(name) = cookie_name(base_url);
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_compile_and_every_catalogue_has_every_text() {
        let p = Pages::load().expect("loads");
        assert_eq!(p.text("en", "next"), "Next");
        assert_eq!(p.text("da", "next"), "Næste");
        assert_eq!(p.text("xx", "next"), "Næste", "Danish first");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
