//! What every HTML page shares: the templates (from `templates/`, built
//! into the binary so it runs from any folder), the text catalogues (one
//! file per language), the stylesheet, security headers and the session
//! cookie.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, http::StatusCode};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Where the session's CSRF token goes in a cached page. Templates print
/// `csrf` with `| safe`, and every other value is HTML-escaped, so a raw
/// `<` followed by this name comes from the template alone, never from an
/// answer.
const CSRF_MARK: &str = "<prom-csrf>";

/// How many rendered pages the cache keeps by default (the least recently
/// used go first); a PHQ-9 page is about 15 KB, its key about 10 KB.
pub const CACHED_PAGES: usize = 512;

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
        "patient/home.html",
        include_str!("../../templates/patient/home.html"),
    ),
    (
        "patient/mydata.html",
        include_str!("../../templates/patient/mydata.html"),
    ),
    (
        "patient/mydata_locked.html",
        include_str!("../../templates/patient/mydata_locked.html"),
    ),
    (
        "patient/connect.html",
        include_str!("../../templates/patient/connect.html"),
    ),
    (
        "patient/replace.html",
        include_str!("../../templates/patient/replace.html"),
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
    (
        "clinic/layout.html",
        include_str!("../../templates/clinic/layout.html"),
    ),
    (
        "clinic/choose.html",
        include_str!("../../templates/clinic/choose.html"),
    ),
    (
        "clinic/continue.html",
        include_str!("../../templates/clinic/continue.html"),
    ),
    (
        "clinic/message.html",
        include_str!("../../templates/clinic/message.html"),
    ),
    (
        "clinic/login.html",
        include_str!("../../templates/clinic/login.html"),
    ),
    (
        "clinic/enrol.html",
        include_str!("../../templates/clinic/enrol.html"),
    ),
    (
        "clinic/recovery.html",
        include_str!("../../templates/clinic/recovery.html"),
    ),
    (
        "clinic/code.html",
        include_str!("../../templates/clinic/code.html"),
    ),
    (
        "clinic/queue.html",
        include_str!("../../templates/clinic/queue.html"),
    ),
    (
        "clinic/stale.html",
        include_str!("../../templates/clinic/stale.html"),
    ),
    (
        "clinic/response.html",
        include_str!("../../templates/clinic/response.html"),
    ),
    (
        "clinic/patients.html",
        include_str!("../../templates/clinic/patients.html"),
    ),
    (
        "clinic/patient.html",
        include_str!("../../templates/clinic/patient.html"),
    ),
    (
        "clinic/entry.html",
        include_str!("../../templates/clinic/entry.html"),
    ),
    (
        "clinic/questionnaires.html",
        include_str!("../../templates/clinic/questionnaires.html"),
    ),
    (
        "clinic/questionnaire.html",
        include_str!("../../templates/clinic/questionnaire.html"),
    ),
    (
        "clinic/staff.html",
        include_str!("../../templates/clinic/staff.html"),
    ),
    (
        "clinic/keys.html",
        include_str!("../../templates/clinic/keys.html"),
    ),
    (
        "clinic/audit.html",
        include_str!("../../templates/clinic/audit.html"),
    ),
    (
        "clinic/letters.html",
        include_str!("../../templates/clinic/letters.html"),
    ),
    (
        "clinic/mail.html",
        include_str!("../../templates/clinic/mail.html"),
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
    /// Each catalogue as the value templates see, converted once.
    texts_value: HashMap<&'static str, tera::Value>,
    /// Pages rendered with [`CSRF_MARK`] for the token, by the template,
    /// the language and everything else the page shows, serialised: two
    /// visitors share an entry only when their pages are byte for byte the
    /// same (no hash collision can show one patient another's answers).
    /// `None`: every page is rendered afresh.
    cache: Option<Mutex<lru::LruCache<Vec<u8>, Arc<str>>>>,
}

/// The answer to a form page's visibility request: the ids of the
/// questions the page shows for its answers, never cached.
pub fn visible_answer(view: &crate::core::form::PageView) -> actix_web::HttpResponse {
    let shown: Vec<&str> = view
        .items
        .iter()
        .filter(|i| i.visible)
        .map(|i| i.id.as_str())
        .collect();
    actix_web::HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "visible": shown }))
}

/// The language of a request that has no session to say it: `?lang=en`
/// or `?lang=da`, else English when the browser asks for it first, else
/// Danish.
pub fn request_language(req: &actix_web::HttpRequest) -> &'static str {
    let query = req.query_string();
    if query.split('&').any(|p| p == "lang=en") {
        return "en";
    }
    if query.split('&').any(|p| p == "lang=da") {
        return "da";
    }
    let first = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if first.starts_with("en") { "en" } else { "da" }
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
        let texts_value = texts
            .iter()
            .map(|(lang, t)| (*lang, tera::to_value(t).unwrap_or_default()))
            .collect();
        Ok(Pages {
            tera,
            texts,
            texts_value,
            cache: None,
        }
        .with_cache(CACHED_PAGES))
    }

    /// The same pages with a cache of `pages` rendered pages (0: none).
    pub fn with_cache(mut self, pages: usize) -> Pages {
        self.cache = NonZeroUsize::new(pages).map(|n| Mutex::new(lru::LruCache::new(n)));
        self
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
        context: tera::Context,
    ) -> HttpResponse {
        match self.render_html(template, lang, context) {
            Ok(html) => page(status).body(html),
            Err(e) => broken(e, template),
        }
    }

    /// Renders `template` like [`Pages::render`], from a context that is
    /// the same for every visitor but for the session's `csrf` token, and
    /// keeps the result: the next visitor with the same page (the first
    /// page of a questionnaire, say) gets it without the template being
    /// run.
    pub fn render_cached<C: serde::Serialize>(
        &self,
        status: StatusCode,
        template: &str,
        lang: &str,
        context: &C,
        csrf: &str,
    ) -> HttpResponse {
        let lang = self.language(lang);
        let mut key = Vec::with_capacity(16 * 1024);
        key.extend_from_slice(template.as_bytes());
        key.push(0);
        key.extend_from_slice(lang.as_bytes());
        key.push(0);
        if serde_json::to_writer(&mut key, context).is_err() {
            return broken("the page's context does not serialise", template);
        }
        let found = self
            .cache
            .as_ref()
            .and_then(|c| c.lock().ok())
            .and_then(|mut c| c.get(&key).cloned());
        let html = match found {
            Some(html) => html,
            None => {
                let rendered = tera::Context::from_serialize(context)
                    .map_err(|e| format!("{e:?}"))
                    .and_then(|mut c| {
                        c.insert("csrf", CSRF_MARK);
                        self.render_html(template, lang, c)
                            .map_err(|e| format!("{e:?}"))
                    });
                let html: Arc<str> = match rendered {
                    Ok(html) => html.into(),
                    Err(e) => return broken(e, template),
                };
                if let Some(mut c) = self.cache.as_ref().and_then(|c| c.lock().ok()) {
                    c.put(key, html.clone());
                }
                html
            }
        };
        page(status).body(html.replace(CSRF_MARK, csrf))
    }

    fn language<'a>(&self, lang: &'a str) -> &'a str {
        if self.texts.contains_key(lang) {
            lang
        } else {
            "da"
        }
    }

    fn render_html(
        &self,
        template: &str,
        lang: &str,
        mut context: tera::Context,
    ) -> Result<String, tera::Error> {
        let lang = self.language(lang);
        context.insert("lang", lang);
        if let Some(t) = self.texts_value.get(lang) {
            context.insert("t", t);
        }
        self.tera.render(template, &context)
    }
}

/// A page that could not be rendered: logged with an id, shown as that id.
fn broken(e: impl std::fmt::Debug, template: &str) -> HttpResponse {
    let id = crate::storage::ids::new_id();
    tracing::error!(error_id = %id, error = ?e, template, "a page could not be rendered");
    page(StatusCode::INTERNAL_SERVER_ERROR).body(format!(
        "<!doctype html><title>prom</title><p>Something went wrong. Error id {id}</p>"
    ))
}

/// A page's response with the headers every page carries: no scripts from
/// elsewhere (and none inline), no framing, no referrer, no caching of
/// patient data.
/// The content security policy of every answer.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

pub fn page(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
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

    async fn body(r: HttpResponse) -> String {
        let b = actix_web::body::to_bytes(r.into_body())
            .await
            .expect("body");
        String::from_utf8(b.to_vec()).expect("utf-8")
    }

    #[actix_web::test]
    async fn a_cached_page_carries_each_visitors_own_token_and_never_a_marker_from_an_answer() {
        let p = Pages::load().expect("loads");
        #[derive(serde::Serialize)]
        struct Ctx {
            advice: Vec<&'static str>,
        }
        // The receipt's template prints `csrf`; any template that does works.
        let hostile = Ctx {
            advice: vec!["<prom-csrf>"],
        };
        let a = body(p.render_cached(
            StatusCode::OK,
            "patient/receipt.html",
            "da",
            &hostile,
            "tokenA",
        ))
        .await;
        let b = body(p.render_cached(
            StatusCode::OK,
            "patient/receipt.html",
            "da",
            &hostile,
            "tokenB",
        ))
        .await;
        assert!(a.contains(r#"value="tokenA""#), "{a}");
        assert!(
            b.contains(r#"value="tokenB""#),
            "the second render came from the cache"
        );
        assert!(!a.contains("tokenB") && !b.contains("tokenA"));
        assert!(!a.contains(CSRF_MARK) && !b.contains(CSRF_MARK));
        assert!(
            a.contains("&lt;prom-csrf&gt;"),
            "the answer is shown, escaped"
        );
        let cached = p
            .cache
            .as_ref()
            .expect("a cache")
            .lock()
            .expect("lock")
            .len();
        assert_eq!(cached, 1, "one page, one entry");
        let en = body(p.render_cached(StatusCode::OK, "patient/receipt.html", "en", &hostile, "t"))
            .await;
        assert!(
            en.contains(r#"lang="en""#),
            "the language is part of the key"
        );
        let none = Pages::load().expect("loads").with_cache(0);
        let c = body(none.render_cached(
            StatusCode::OK,
            "patient/receipt.html",
            "da",
            &hostile,
            "tokenC",
        ))
        .await;
        assert_eq!(
            c.replace("tokenC", "tokenA"),
            a,
            "without a cache, the same page"
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
