//! The administration commands, as the interface contract writes them, on
//! the backend of the run: a fresh SQLite file, or in the PostgreSQL run a
//! database of its own (the audit key and head files beside `--db`).

use crate::helpers::{TempPg, TestApp, root};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Where a test's commands run.
#[derive(Clone)]
struct Target {
    db: PathBuf,
    database: prom::storage::Database,
    _pg: Arc<Option<TempPg>>,
}

impl Target {
    /// A fresh database whose files live at `db`.
    fn new(db: PathBuf) -> Target {
        let pg = crate::helpers::postgres()
            .then(|| TempPg::new().expect("PostgreSQL for the PostgreSQL run"));
        let database = match &pg {
            Some(pg) => prom::storage::Database::parse(&pg.url, &db).expect("url"),
            None => prom::storage::Database::Sqlite(db.clone()),
        };
        Target {
            db,
            database,
            _pg: Arc::new(pg),
        }
    }

    /// The database of a running test server.
    fn of(app: &TestApp) -> Target {
        Target {
            db: app.db.clone(),
            database: app.database.clone(),
            _pg: Arc::new(None),
        }
    }

    fn args(&self) -> Vec<OsString> {
        let mut out = vec!["--db".into(), self.db.clone().into_os_string()];
        if let prom::storage::Database::Postgres { url, .. } = &self.database {
            out.extend(["--database".into(), url.into()]);
        }
        out
    }

    fn conn(&self) -> prom::storage::Connection {
        prom::storage::connect_to(&self.database, &Default::default()).expect("connect")
    }

    fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, (), |r| r.get(0)).expect("count")
    }
}

fn prom(db: &Target, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(args)
        .args(db.args())
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prom runs");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn count(db: &Target, sql: &str) -> i64 {
    db.count(sql)
}

#[test]
fn the_administration_commands_set_up_a_clinic_end_to_end() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Target::new(dir.path().join("data/prom.db"));
    let (code, out, err) = prom(
        &db,
        &[
            "clinic",
            "add",
            "gyn",
            "--name",
            "Gynækologi",
            "--alert-email",
            "a@example.org",
            "--alert-email",
            "b@example.org",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added clinic gyn"));

    let (code, out, err) = prom(
        &db,
        &[
            "user",
            "add",
            "sara@example.org",
            "--name",
            "Sara",
            "--role",
            "clinician",
            "--clinic",
            "gyn",
        ],
        Some("a long enough secret\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("password"), "a given password is not printed");
    let hash: String = db
        .conn()
        .query_row(
            "SELECT password_hash FROM staff_users WHERE email = 'sara@example.org'",
            (),
            |r| r.get(0),
        )
        .expect("hash");
    assert!(hash.starts_with("$argon2id$"));
    assert!(prom::security::verify_password(
        "a long enough secret",
        &hash
    ));

    let (code, out, _) = prom(
        &db,
        &[
            "user",
            "add",
            "admin@example.org",
            "--name",
            "Admin",
            "--role",
            "admin",
            "--clinic",
            "gyn",
        ],
        None,
    );
    assert_eq!(code, 0);
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a generated password");
    assert!(generated.len() >= 20);

    let (code, _, err) = prom(
        &db,
        &[
            "patient",
            "add",
            "--clinic",
            "gyn",
            "--ref",
            "0101-A",
            "--name",
            "Anna",
            "--email",
            "anna@example.org",
            "--language",
            "en",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = prom(
        &db,
        &[
            "invite",
            "0101-A",
            "--questionnaire",
            "ovarian_followup",
            "--base-url",
            "https://prom.example.org/",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let link = out.trim();
    let token = link
        .strip_prefix("https://prom.example.org/a/")
        .expect("a link");
    assert!(token.len() > 40);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM invitations WHERE used_at IS NULL AND expires_at > created_at"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM invitations WHERE token_hash = '{}'",
                prom::security::token_hash(token)
            )
        ),
        1,
        "only the token's hash is stored"
    );

    let (code, out, err) = prom(
        &db,
        &[
            "plan",
            "add",
            "0101-A",
            "--questionnaire",
            "ovarian_followup",
            "--every",
            "14",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("every 14 days"));
    assert_eq!(
        count(&db, "SELECT count(*) FROM plans WHERE every_days = 14"),
        1
    );

    let (code, out, _) = prom(&db, &["apikey", "add", "--clinic", "gyn"], None);
    assert_eq!(code, 0);
    let key = out.trim();
    assert!(key.starts_with("prom_key_"));
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM api_keys WHERE key_hash = '{}'",
                prom::security::token_hash(key)
            )
        ),
        1
    );

    let (code, out, _) = prom(&db, &["audit", "verify"], None);
    assert_eq!(code, 0);
    assert!(out.contains("intact: 7 rows"), "{out}");
}

#[test]
fn bad_input_gets_one_line_status_2_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Target::new(dir.path().join("prom.db"));
    assert_eq!(
        prom(&db, &["clinic", "add", "gyn", "--name", "G"], None).0,
        0
    );
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (
            &["clinic", "add", "gyn", "--name", "Again"],
            None,
            "exists already",
        ),
        (
            &["clinic", "add", "Bad Id", "--name", "X"],
            None,
            "not a valid clinic id",
        ),
        (
            &["clinic", "add", "x", "--name", "X", "--alert-email", "nope"],
            None,
            "not an e-mail address",
        ),
        (
            &[
                "user",
                "add",
                "u@example.org",
                "--name",
                "U",
                "--role",
                "clinician",
                "--clinic",
                "nope",
            ],
            None,
            "no clinic `nope`",
        ),
        (
            &[
                "user",
                "add",
                "u@example.org",
                "--name",
                "U",
                "--role",
                "clinician",
                "--clinic",
                "gyn",
            ],
            Some("short\n"),
            "at least 12",
        ),
        (
            &["patient", "add", "--clinic", "nope", "--ref", "1"],
            None,
            "no clinic `nope`",
        ),
        (
            &["invite", "nobody", "--questionnaire", "phq9"],
            None,
            "no patient `nobody`",
        ),
        (
            &["invite", "nobody", "--questionnaire", "nope"],
            None,
            "no questionnaire `nope`",
        ),
        (
            &[
                "plan",
                "add",
                "nobody",
                "--questionnaire",
                "phq9",
                "--every",
                "0",
            ],
            None,
            "--every",
        ),
        (
            &["apikey", "add", "--clinic", "nope"],
            None,
            "no clinic `nope`",
        ),
        (
            &[
                "export",
                "--questionnaire",
                "nope",
                "--format",
                "fhir",
                "--clinic",
                "a",
            ],
            None,
            "no questionnaire `nope`",
        ),
    ];
    let before = count(&db, "SELECT count(*) FROM audit_log");
    for (args, stdin, needle) in cases {
        let (code, out, err) = prom(&db, args, *stdin);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit_log"),
        before,
        "nothing half-written"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM clinics"), 1);
}

#[test]
fn a_patient_reference_in_two_clinics_needs_the_clinic_named() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Target::new(dir.path().join("prom.db"));
    for c in ["a", "b"] {
        assert_eq!(prom(&db, &["clinic", "add", c, "--name", c], None).0, 0);
        assert_eq!(
            prom(&db, &["patient", "add", "--clinic", c, "--ref", "P1"], None).0,
            0
        );
    }
    let (code, _, err) = prom(&db, &["invite", "P1", "--questionnaire", "phq9"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--clinic"), "{err}");
    let (code, _, err) = prom(
        &db,
        &["invite", "P1", "--questionnaire", "phq9", "--clinic", "b"],
        None,
    );
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn export_writes_csv_with_items_and_scores_and_audit_verify_catches_tampering() {
    let app = crate::helpers::spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = serde_json::json!({"questionnaire": "phq9", "patient": "P1", "answers": crate::helpers::phq9([1, 2, 0, 0, 0, 0, 0, 0, 0])});
    let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(s, reqwest::StatusCode::CREATED);
    let out_file = app.dir.path().join("phq9.csv");
    let db = Target::of(&app);
    let export = move |args: Vec<String>| {
        let db = db.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                prom(&db, &args, None)
            })
            .await
            .expect("export")
        }
    };
    let base = |more: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["export", "--questionnaire", "phq9", "--format", "csv"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    // Every clinic at once only when asked for by name.
    let (code, _, err) = export(base(&[])).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--clinic") && err.contains("--all-clinics"),
        "{err}"
    );
    let out = out_file.to_str().expect("utf-8").to_string();
    let (code, _, err) = export(base(&["--clinic", "a", "--out", &out])).await;
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(&out_file).expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "response,patient,clinic,questionnaire,version,mode,submitted_at,response_date,corrected,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10,total,total_band,phq2,phq2_band,level"
        )
    );
    let row = lines.next().expect("a row");
    let cells: Vec<&str> = row.split(',').collect();
    assert_eq!(cells[0], "1");
    assert!(
        cells[1].starts_with('p') && cells[1].len() == 17,
        "a pseudonym: {row}"
    );
    assert!(
        !row.contains("P1") && !row.contains(r["id"].as_str().expect("id")),
        "no identity: {row}"
    );
    assert!(
        row.ends_with(",false,1,2,0,0,0,0,0,0,0,1,3,minimal,3,positive,green"),
        "items, then each score and its band: {row}"
    );
    // The pseudonym is the same in the next export, and kept outside the
    // database.
    assert!(prom::storage::export::pseudonym_key_path(&app.files()).is_file());
    let (_, again, _) = export(base(&["--clinic", "a"])).await;
    assert!(again.contains(cells[1]));
    // A correction: the latest version only, saying so; free text that a
    // spreadsheet would run is neutralised.
    app.patient(&app.key_a, "P2").await;
    let pain = serde_json::json!({"questionnaire": "pain_nrs", "patient": "P2", "answers": {"pain_now": 2, "pain_worst": 3, "comment": "=HYPERLINK(\"http://evil.example\",\"klik\")"}});
    let (s, first) = app.post(&app.key_a, "/api/v1/responses", &pain).await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{first}");
    let fix = serde_json::json!({"answers": {"pain_now": 4, "pain_worst": 5, "comment": "@SUM(1)"}, "reason": "typo"});
    let (s, b) = app
        .post(
            &app.key_a,
            &format!(
                "/api/v1/responses/{}/corrections",
                first["id"].as_str().expect("id")
            ),
            &fix,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{b}");
    let (code, out, err) = export(vec![
        "export".into(),
        "--questionnaire".into(),
        "pain_nrs".into(),
        "--format".into(),
        "csv".into(),
        "--all-clinics".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "the latest version only: {out}");
    assert!(
        rows[0].contains(",true,4,5,") && rows[0].contains("'@SUM(1)"),
        "{out}"
    );
    assert!(!out.contains(",=") && !out.contains(",@"), "{out}");
    let (_, long, _) = export(vec![
        "export".into(),
        "--questionnaire".into(),
        "pain_nrs".into(),
        "--format".into(),
        "csv".into(),
        "--clinic".into(),
        "a".into(),
        "--long".into(),
    ])
    .await;
    assert!(
        long.lines()
            .next()
            .expect("header")
            .ends_with(",item,answer")
    );
    assert_eq!(
        long.lines().skip(1).count(),
        3,
        "one row per answer: {long}"
    );
    assert!(long.contains(",comment,'@SUM(1)"), "{long}");

    let conn = app.conn();
    let drop_trigger = if crate::helpers::postgres() {
        "DROP TRIGGER audit_append_only ON audit_log"
    } else {
        "DROP TRIGGER audit_no_update"
    };
    conn.execute_batch(&format!(
        "{drop_trigger}; UPDATE audit_log SET actor = 'someone else' WHERE seq = 1;"
    ))
    .expect("tamper");
    let db = Target::of(&app);
    let (code, _, err) = tokio::task::spawn_blocking(move || prom(&db, &["audit", "verify"], None))
        .await
        .expect("verify");
    assert_eq!(code, 1, "tampered is status 1");
    assert!(err.contains("tampered with at row 1"), "{err}");
}

#[tokio::test]
async fn demo_seeds_a_clinic_with_history_and_can_run_again() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = crate::helpers::config(dir.path());
    cfg.demo = true;
    let clock = std::sync::Arc::new(prom::clock::FixedClock(
        crate::helpers::NOW.parse().expect("time"),
    ));
    let first = prom::startup::start(&cfg, clock.clone()).expect("starts");
    let seeded = first.demo.clone().expect("seeded");
    drop(first);
    let db = Target {
        db: cfg.db.clone(),
        database: cfg.database().expect("database"),
        _pg: Arc::new(crate::helpers::claim(&cfg)),
    };
    let conn = db.conn();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM responses", (), |r| r.get(0))
        .expect("count");
    assert_eq!(n, 48, "four patients, twelve answers each");
    let red: i64 = conn
        .query_row(
            "SELECT count(*) FROM review_items WHERE level = 'red'",
            (),
            |r| r.get(0),
        )
        .expect("count");
    assert!(red >= 2, "the demo has red flags to look at");
    let second = prom::startup::start(&cfg, clock).expect("starts again");
    let again = second.demo.clone().expect("seeded");
    assert_ne!(again.api_key, seeded.api_key, "a new key each start");
    let n2: i64 = conn
        .query_row("SELECT count(*) FROM responses", (), |r| r.get(0))
        .expect("count");
    assert_eq!(n2, 48, "patients and history are not seeded twice");
    let hash: String = conn
        .query_row(
            "SELECT password_hash FROM staff_users WHERE email = ?1",
            [&again.staff_email],
            |r| r.get(0),
        )
        .expect("hash");
    assert!(prom::security::verify_password(
        &again.staff_password,
        &hash
    ));
    // The alert load of a rule change, before it goes live: a draft that
    // flags from 5 instead of 10 flags more.
    drop(second);
    let src = std::fs::read_to_string(crate::helpers::root().join("questionnaires/phq9.yaml"))
        .expect("phq9");
    let draft = dir.path().join("phq9-draft.yaml");
    std::fs::write(
        &draft,
        src.replace("when: \"total >= 10\"", "when: \"total >= 5\""),
    )
    .expect("draft");
    let q = crate::helpers::root().join("questionnaires");
    let (code, out, err) = prom(
        &db,
        &[
            "simulate",
            "--questionnaire",
            "phq9",
            "--with",
            draft.to_str().expect("path"),
            "--questionnaires",
            q.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("24 stored responses to `phq9`") && out.contains("draft/week"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("depression_likely"))
        .expect("the rule's line");
    let change: i64 = line
        .split_whitespace()
        .last()
        .and_then(|c| c.trim_start_matches('+').parse().ok())
        .expect("a change");
    assert!(change > 0, "{line}");
}

/// Free text that a spreadsheet would run, exported, and kept under the
/// target folder's `tmp` for `.ci/run`, which opens it in a real
/// spreadsheet (LibreOffice Calc) and checks that no cell is a formula.
#[tokio::test]
async fn a_csv_export_of_hostile_free_text_is_kept_for_the_spreadsheet_check() {
    let app = crate::helpers::spawn().await;
    let hostile = [
        "=HYPERLINK(\"http://evil.example\",\"klik\")",
        "+SUM(1,2)",
        "-2+3",
        "@SUM(1)",
        "\t=1+1",
        "\r=1+1",
        "=cmd|' /C calc'!A0",
    ];
    for (n, text) in hostile.iter().enumerate() {
        let p = format!("H{n}");
        app.patient(&app.key_a, &p).await;
        let body = serde_json::json!({"questionnaire": "pain_nrs", "patient": p,
            "answers": {"pain_now": n % 11, "pain_worst": 10, "comment": text}});
        let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        assert_eq!(s, reqwest::StatusCode::CREATED, "{r}");
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("spreadsheet");
    std::fs::create_dir_all(&dir).expect("folder");
    for (name, long) in [("wide", false), ("long", true)] {
        let out = dir.join(format!("pain_nrs-{name}.csv"));
        let mut args = vec![
            "export",
            "--questionnaire",
            "pain_nrs",
            "--format",
            "csv",
            "--clinic",
            "a",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        if long {
            args.push("--long");
        }
        let db = Target::of(&app);
        let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (code, _, err) = tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = owned.iter().map(String::as_str).collect();
            prom(&db, &a, None)
        })
        .await
        .expect("export");
        assert_eq!(code, 0, "{err}");
        let csv = std::fs::read_to_string(&out).expect("csv");
        for text in hostile {
            assert!(
                csv.contains(&format!("'{}", text.replace('"', "\"\""))),
                "{text:?} neutralised in {csv}"
            );
        }
    }
}
