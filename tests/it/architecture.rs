//! The core stays pure: no I/O, no clock, no async, no web or database.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/core is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Whether `code` names `word` as a whole word (so `IntoIterator` does not
/// name `tera`).
fn names(code: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The offences of the files under `src/DIR` against `forbidden`.
fn offences(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir),
        &mut files,
    );
    assert!(!files.is_empty(), "found src/{dir}");
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                if names(code, word) {
                    out.push(format!("{}:{}: {word}", f.display(), n + 1));
                }
            }
        }
    }
    out
}

#[test]
fn each_shell_module_keeps_to_its_own_crates() {
    let rules: &[(&str, &[&str])] = &[
        ("catalog", &["actix_web", "rusqlite", "lettre", "tera"]),
        ("storage", &["actix_web", "lettre", "tera"]),
        ("web", &["lettre", "rusqlite"]),
        ("mail", &["actix_web", "rusqlite"]),
        ("usecase", &["actix_web", "rusqlite", "tera"]),
        // FHIR views and the import are pure: JSON in, JSON or YAML out.
        (
            "fhir",
            &["actix_web", "rusqlite", "lettre", "tera", "std::fs"],
        ),
    ];
    let mut all = Vec::new();
    for (dir, forbidden) in rules {
        all.extend(offences(dir, forbidden));
    }
    assert!(
        all.is_empty(),
        "a module reached past its layer:\n{}",
        all.join("\n")
    );
}

#[test]
fn the_core_names_no_io_clock_or_web_crate() {
    let forbidden = [
        "rusqlite",
        "actix",
        "lettre",
        "tera",
        "std::fs",
        "tokio",
        "std::net",
        "Utc::now",
        "Local::now",
        "SystemTime",
        "Instant::now",
        "rand",
    ];
    let offences = offences("core", &forbidden);
    assert!(
        offences.is_empty(),
        "the core must stay pure:\n{}",
        offences.join("\n")
    );
}
