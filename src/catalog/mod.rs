//! The catalog: finds questionnaire files, reads them and compiles them.
//! It is the only place that reads questionnaire files; it does not touch
//! the database or the web.

use std::path::{Path, PathBuf};

use crate::core::{Compiled, Diagnostic, Pos, Questionnaire, compile_yaml, yaml::MAX_BYTES};

/// One questionnaire file and what compiling it gave.
pub struct Entry {
    pub path: PathBuf,
    /// The path as shown in messages.
    pub display: String,
    pub source: String,
    pub compiled: Compiled,
}

impl Entry {
    pub fn questionnaire(&self) -> Option<&Questionnaire> {
        self.compiled.questionnaire.as_ref()
    }

    pub fn errors(&self) -> usize {
        self.compiled
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.compiled.diagnostics.len() - self.errors()
    }

    /// Every diagnostic with its source line and caret.
    pub fn render(&self) -> String {
        crate::core::diag::render_all(&self.compiled.diagnostics, &self.display, &self.source)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0} does not exist")]
    Missing(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The `*.yaml` files at `path`: the file itself, or every one in the folder
/// and its subfolders, sorted by path.
pub fn find(path: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let meta =
        std::fs::metadata(path).map_err(|_| CatalogError::Missing(path.display().to_string()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|source| CatalogError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for e in rd.flatten() {
            let p = e.path();
            let ft = match e.file_type() {
                Ok(ft) => ft,
                Err(_) => continue,
            };
            if ft.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and compiles one file. A file too large is not read at all.
pub fn load_file(path: &Path) -> Entry {
    let display = path.display().to_string();
    let fail = |msg: String| Entry {
        path: path.to_path_buf(),
        display: display.clone(),
        source: String::new(),
        compiled: Compiled {
            questionnaire: None,
            tests: Vec::new(),
            diagnostics: vec![Diagnostic::error(Pos::new(1, 1), "", msg)],
        },
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_BYTES as u64 => {
            return fail(format!(
                "the file is {} bytes; a questionnaire may be at most {MAX_BYTES} bytes (1 MiB)",
                m.len()
            ));
        }
        Err(e) => return fail(format!("cannot read the file: {e}")),
        _ => {}
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read the file: {e}")),
    };
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            return fail(format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ));
        }
    };
    let compiled = compile_yaml(&source);
    Entry {
        path: path.to_path_buf(),
        display,
        source,
        compiled,
    }
}

/// Loads every questionnaire at `path` and checks what only a folder can
/// show: two files with the same id.
pub fn load(path: &Path) -> Result<Vec<Entry>, CatalogError> {
    let entries: Vec<Entry> = find(path)?.iter().map(|p| load_file(p)).collect();
    Ok(refuse_repeated_ids(entries))
}

/// The questionnaires folder when none is named; where it does not exist,
/// the built-in questionnaires ([`SHIPPED`]) are used.
pub const DEFAULT_FOLDER: &str = "questionnaires";

/// The questionnaires shipped in the repository's `questionnaires/`
/// folder, built into the binary so that `prom serve --demo` works from
/// any folder (a `questionnaires` folder on disk overrides them).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "chronic_followup.yaml",
        include_str!("../../questionnaires/chronic_followup.yaml"),
    ),
    ("gad7.yaml", include_str!("../../questionnaires/gad7.yaml")),
    (
        "ovarian_followup.yaml",
        include_str!("../../questionnaires/ovarian_followup.yaml"),
    ),
    (
        "pain_nrs.yaml",
        include_str!("../../questionnaires/pain_nrs.yaml"),
    ),
    ("phq9.yaml", include_str!("../../questionnaires/phq9.yaml")),
];

/// The built-in questionnaires ([`SHIPPED`]), compiled.
pub fn shipped() -> Vec<Entry> {
    let entries = SHIPPED
        .iter()
        .map(|(name, source)| Entry {
            path: PathBuf::from(name),
            display: format!("(built in) {name}"),
            source: (*source).to_string(),
            compiled: compile_yaml(source),
        })
        .collect();
    refuse_repeated_ids(entries)
}

/// Marks every questionnaire whose id an earlier one already uses.
fn refuse_repeated_ids(mut entries: Vec<Entry>) -> Vec<Entry> {
    for i in 0..entries.len() {
        let Some(id) = entries[i].questionnaire().map(|q| q.id.clone()) else {
            continue;
        };
        if let Some(first) = entries[..i]
            .iter()
            .find(|e| e.questionnaire().is_some_and(|q| q.id == id))
        {
            let first = first.display.clone();
            let e = &mut entries[i];
            let line = e
                .source
                .lines()
                .position(|l| l.starts_with("id:"))
                .map(|l| l as u32 + 1)
                .unwrap_or(1);
            e.compiled.diagnostics.push(
                Diagnostic::error(
                    Pos::new(line, 1),
                    "id",
                    format!("the questionnaire id `{id}` is already used by {first}"),
                )
                .with_hint("each questionnaire in a folder needs its own id"),
            );
            e.compiled.questionnaire = None;
        }
    }
    entries
}

/// The questionnaires a server serves, by id. A newer version recorded by
/// another node (one started with newer files) can take an older one's
/// place while serving ([`Catalog::offer`]).
pub struct Catalog {
    inner: std::sync::RwLock<Served>,
}

#[derive(Default)]
struct Served {
    by_id: std::collections::HashMap<String, ServedVersion>,
    order: Vec<String>,
}

struct ServedVersion {
    q: std::sync::Arc<Questionnaire>,
    /// Its FHIR view, made at its first request (it costs about 0.3 ms:
    /// the FHIRPath of its scores), then served as is.
    fhir: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<str>>>,
}

impl ServedVersion {
    fn of(q: std::sync::Arc<Questionnaire>) -> ServedVersion {
        ServedVersion {
            q,
            fhir: Default::default(),
        }
    }
}

impl Catalog {
    /// Loads every questionnaire at `path`. Any error refuses the whole
    /// catalog: the message holds every diagnostic, rendered.
    pub fn load(path: &Path) -> Result<Catalog, String> {
        Catalog::of(load(path).map_err(|e| e.to_string())?)
    }

    /// The questionnaires at `path`; when `path` is the default folder
    /// ([`DEFAULT_FOLDER`]) and it does not exist, the built-in ones. Also
    /// says where they came from, to print.
    pub fn load_or_shipped(path: &Path) -> Result<(Catalog, String), String> {
        if path == Path::new(DEFAULT_FOLDER) && !path.exists() {
            return Ok((
                Catalog::shipped(),
                format!(
                    "built in ({} shipped; a folder `{DEFAULT_FOLDER}` here would replace them)",
                    SHIPPED.len()
                ),
            ));
        }
        Ok((Catalog::load(path)?, path.display().to_string()))
    }

    /// The built-in questionnaires ([`SHIPPED`]).
    pub fn shipped() -> Catalog {
        Catalog::of(shipped()).unwrap_or_else(|_| Catalog::from_questionnaires([]))
    }

    /// The compiled entries, or every error rendered.
    fn of(entries: Vec<Entry>) -> Result<Catalog, String> {
        let rendered: String = entries
            .iter()
            .filter(|e| e.errors() > 0)
            .map(Entry::render)
            .collect();
        if !rendered.is_empty() {
            return Err(rendered);
        }
        Ok(Catalog::from_questionnaires(
            entries.into_iter().filter_map(|e| e.compiled.questionnaire),
        ))
    }

    pub fn from_questionnaires(qs: impl IntoIterator<Item = Questionnaire>) -> Catalog {
        let mut served = Served::default();
        for q in qs {
            served.order.push(q.id.clone());
            served
                .by_id
                .insert(q.id.clone(), ServedVersion::of(std::sync::Arc::new(q)));
        }
        served.order.sort();
        Catalog {
            inner: std::sync::RwLock::new(served),
        }
    }

    fn served(&self) -> std::sync::RwLockReadGuard<'_, Served> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A questionnaire as a FHIR R4 `Questionnaire` (JSON text).
    pub fn fhir_json(&self, id: &str) -> Option<std::sync::Arc<str>> {
        let (q, cell) = {
            let served = self.served();
            let v = served.by_id.get(id)?;
            (v.q.clone(), v.fhir.clone())
        };
        Some(
            cell.get_or_init(|| crate::fhir::questionnaire(&q).to_string().into())
                .clone(),
        )
    }

    pub fn get(&self, id: &str) -> Option<std::sync::Arc<Questionnaire>> {
        self.served().by_id.get(id).map(|v| v.q.clone())
    }

    /// Every questionnaire, by id.
    pub fn all(&self) -> std::vec::IntoIter<std::sync::Arc<Questionnaire>> {
        let served = self.served();
        served
            .order
            .iter()
            .filter_map(|id| served.by_id.get(id).map(|v| v.q.clone()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Each questionnaire's id and the version served.
    pub fn versions(&self) -> Vec<(String, u32)> {
        self.all().map(|q| (q.id.clone(), q.version)).collect()
    }

    /// Serves `q` from now on if it is newer than the version served of its
    /// id, or its id is not served yet; says whether it was taken.
    pub fn offer(&self, q: std::sync::Arc<Questionnaire>) -> bool {
        let mut served = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match served.by_id.get(&q.id) {
            Some(v) if v.q.version >= q.version => false,
            Some(_) => {
                served.by_id.insert(q.id.clone(), ServedVersion::of(q));
                true
            }
            None => {
                served.order.push(q.id.clone());
                served.order.sort();
                served.by_id.insert(q.id.clone(), ServedVersion::of(q));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_taken_only_when_newer_than_the_one_served() {
        let catalog = Catalog::shipped();
        let served = catalog.get("phq9").expect("phq9");
        let with_version = |v: u32| {
            let mut q = (*served).clone();
            q.version = v;
            std::sync::Arc::new(q)
        };
        let fhir = catalog.fhir_json("phq9").expect("its FHIR view");
        assert!(!catalog.offer(with_version(served.version)), "the same");
        assert!(!catalog.offer(with_version(served.version - 1)), "older");
        assert_eq!(catalog.get("phq9").expect("phq9").version, served.version);
        assert!(catalog.offer(with_version(served.version + 1)), "newer");
        assert_eq!(
            catalog.get("phq9").expect("phq9").version,
            served.version + 1
        );
        assert!(
            catalog
                .all()
                .any(|q| q.id == "phq9" && q.version == served.version + 1),
            "listed"
        );
        // The FHIR view is made again for the new version.
        let again = catalog.fhir_json("phq9").expect("its FHIR view");
        assert_ne!(fhir, again);
        assert!(
            again.contains(&format!("\"version\":\"{}\"", served.version + 1)),
            "{again}"
        );
    }

    #[test]
    fn the_built_in_questionnaires_are_the_shipped_folder_whole_and_compile() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires");
        let mut on_disk: Vec<String> = find(&root)
            .expect("the folder")
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        on_disk.sort();
        let built_in: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            built_in, on_disk,
            "SHIPPED lists every file of questionnaires/"
        );
        let entries = shipped();
        assert!(entries.iter().all(|e| e.errors() == 0));
        assert_eq!(Catalog::shipped().all().count(), SHIPPED.len());
    }
}
