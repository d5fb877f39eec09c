//! Snapshot tests of compile errors: every `tests/broken/NAME.yaml` must
//! give exactly the diagnostics in `tests/broken/NAME.out`, as `prom check`
//! prints them. Run with `PROM_UPDATE_SNAPSHOTS=1` to rewrite the `.out`
//! files after a deliberate change, then read the diff.

use std::path::Path;

#[test]
fn every_broken_file_gives_exactly_its_recorded_diagnostics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/broken");
    let update = std::env::var_os("PROM_UPDATE_SNAPSHOTS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/broken exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 25,
        "at least 25 broken files, found {}",
        files.len()
    );
    let mut mismatches = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).expect("under the crate");
        let mut entry = prom::catalog::load_file(rel);
        entry.path = f.clone();
        let got = entry.render();
        assert!(
            !entry.compiled.diagnostics.is_empty(),
            "{} gives no diagnostic at all",
            rel.display()
        );
        let out = f.with_extension("out");
        if update {
            std::fs::write(&out, &got).expect("write snapshot");
            continue;
        }
        let want = std::fs::read_to_string(&out).unwrap_or_default();
        if want != got {
            mismatches.push(format!(
                "--- {} (expected)\n{want}+++ (got)\n{got}",
                out.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_broken_file_without_warnings_only_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for e in std::fs::read_dir(root.join("tests/broken")).expect("dir") {
        let p = e.expect("entry").path();
        if p.extension().is_none_or(|x| x != "yaml") || p.ends_with("warnings_only.yaml") {
            continue;
        }
        let entry = prom::catalog::load_file(&p);
        assert!(entry.errors() > 0, "{} compiles without error", p.display());
        assert!(entry.questionnaire().is_none());
    }
}
