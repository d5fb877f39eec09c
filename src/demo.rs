//! `prom serve --demo`: a demo clinic, a staff login, an API key and
//! patients with a few months of answers, so there is something to look at.
//! Safe to run again: existing demo data is kept, the staff password and
//! API key are renewed and printed.

use crate::storage::Connection;
use chrono::Duration;
use serde_json::{Map, Value as Json, json};

use crate::catalog::Catalog;
use crate::clock::{Clock, local_date};
use crate::core::engine::{Mode, validate};
use crate::security;
use crate::storage::clinics::Clinic;
use crate::storage::patients::NewPatient;
use crate::usecase::Submission;

pub const CLINIC: &str = "demo";
pub const STAFF_EMAIL: &str = "klinik@demo.prom.invalid";

/// What was seeded, to print.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub clinic: String,
    pub staff_email: String,
    pub staff_password: String,
    pub api_key: String,
    pub patients: Vec<String>,
    /// A fresh invitation link for a demo patient (pain, 0-10), to open in
    /// a browser.
    pub patient_link: String,
}

fn answers(pairs: &[(&str, Json)]) -> Map<String, Json> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn phq9(level: u64, q9: u64) -> Map<String, Json> {
    let mut m: Map<String, Json> = (1..=8)
        .map(|i| (format!("q{i}"), json!((level + i) % 4 * level.min(3) / 3)))
        .collect();
    m.insert("q9".into(), json!(q9));
    m.insert("q10".into(), json!(level.min(3)));
    m
}

pub fn seed(
    conn: &mut Connection,
    catalog: &Catalog,
    clock: &dyn Clock,
    base_url: &str,
) -> anyhow::Result<Seeded> {
    let now = clock.now();
    let tx = conn.transaction()?;
    if !crate::storage::clinics::exists(&tx, CLINIC)? {
        crate::storage::clinics::insert_clinic(
            &tx,
            &Clinic {
                id: CLINIC.into(),
                name: "Demo-afdelingen".into(),
                alert_emails: vec!["alarm@demo.prom.invalid".into()],
                time_zone: "Europe/Copenhagen".into(),
            },
            now,
        )?;
        // Escalations of untaken reds go to a second address.
        let mut alerting = crate::storage::clinics::alerting(&tx, CLINIC)?;
        alerting.escalation_emails = vec!["overlaege@demo.prom.invalid".into()];
        crate::storage::clinics::set_alerting(&tx, CLINIC, &alerting)?;
    }
    let password = security::new_password();
    let hash = security::hash_password(&password)?;
    if !crate::storage::clinics::set_password(&tx, STAFF_EMAIL, &hash)? {
        crate::storage::clinics::insert_user(
            &tx,
            CLINIC,
            STAFF_EMAIL,
            "Demo Klinikersen",
            // An admin, so that the demo shows the whole workspace (an
            // admin does everything a clinician does, and more).
            "admin",
            &hash,
            now,
        )?;
    }
    let api_key = security::new_token("prom_key_");
    crate::storage::keys::insert_api_key(
        &tx,
        CLINIC,
        &security::token_hash(&api_key),
        Some(&crate::storage::keys::prefix_of(&api_key)),
        now,
    )?;

    let people = [
        ("D001", "Anna Andersen", "phq9"),
        ("D002", "Bent Berg", "phq9"),
        ("D003", "Carla Christensen", "pain_nrs"),
        ("D004", "Dorte Dahl", "ovarian_followup"),
    ];
    for (i, (reference, name, qid)) in people.iter().enumerate() {
        if crate::storage::patients::patient_id(&tx, CLINIC, reference).is_ok() {
            continue;
        }
        // Anna has an e-mail address and a plan: the scheduler invites her
        // (an e-mail under data/mail/) as soon as the demo runs.
        let email = (*reference == "D001").then(|| "anna@demo.prom.invalid".to_string());
        let patient = crate::storage::patients::insert_patient(
            &tx,
            &NewPatient {
                clinic_id: CLINIC.into(),
                reference: reference.to_string(),
                name: Some(name.to_string()),
                email: email.clone(),
                language: "da".into(),
            },
            now,
        )?;
        if email.is_some() {
            let plan = crate::storage::invitations::insert_plan(
                &tx,
                &patient,
                qid,
                14,
                local_date(now, "Europe/Copenhagen"),
                now,
            )?;
            crate::storage::invitations::set_plan_timing(&tx, &plan, 7, 3, 7)?;
        }
        let Some(q) = catalog.get(qid) else {
            continue;
        };
        // Twelve answers, two weeks apart, the newest yesterday.
        for k in 0..12u64 {
            let when = now - Duration::days(1 + 14 * (11 - k) as i64);
            let a = match (i, *qid) {
                (0, _) => phq9(k % 2, 0),
                (1, _) => phq9(k / 3, u64::from(k == 11)),
                (_, "pain_nrs") => answers(&[
                    ("pain_now", json!(2 + k / 2)),
                    ("pain_worst", json!((3 + k / 2).min(10))),
                    ("sleep", json!(k > 4)),
                ]),
                _ => answers(&[
                    ("abdominal_pain", json!(if k > 8 { 5 } else { 1 })),
                    ("bloating", json!(if k > 8 { 2 } else { 0 })),
                    ("appetite", json!(if k > 9 { 1 } else { 0 })),
                    ("early_satiety", json!(k > 9)),
                    ("vomiting", json!(false)),
                    ("no_stool", json!(false)),
                    ("bowel_change", json!(false)),
                    ("urinary", json!(k == 3)),
                    ("weight_loss", json!(false)),
                    ("breathless", json!(false)),
                    ("vaginal_bleeding", json!(false)),
                    ("fatigue", json!(1)),
                ]),
            };
            let date = local_date(when, "Europe/Copenhagen");
            let evaluation = match validate(&q, &a, Mode::App, date) {
                Ok(ev) => ev,
                Err(e) => anyhow::bail!("demo answers for {qid} are invalid: {e:?}"),
            };
            crate::usecase::submit_response(
                &tx,
                &Submission {
                    clinic_id: CLINIC.into(),
                    patient_ref: reference.to_string(),
                    questionnaire: q.clone(),
                    evaluation,
                    mode: Mode::App,
                    actor: "demo".into(),
                    now: when,
                    idempotency: None,
                    supersedes: None,
                    base_url: base_url.to_string(),
                    invitation: None,
                },
            )?;
        }
    }
    // A new link at every start: the last one may have been answered.
    let link_token = security::new_token("prom_inv_");
    let pid = crate::storage::patients::patient_id(&tx, CLINIC, "D003")?;
    crate::storage::invitations::insert_invitation(
        &tx,
        &pid,
        "pain_nrs",
        &security::token_hash(&link_token),
        now + Duration::days(14),
        now,
    )?;
    tx.commit()?;
    crate::storage::audit::refresh_head(conn);
    Ok(Seeded {
        clinic: CLINIC.into(),
        staff_email: STAFF_EMAIL.into(),
        staff_password: password,
        api_key,
        patients: people.iter().map(|p| p.0.to_string()).collect(),
        patient_link: format!("{}/a/{link_token}", base_url.trim_end_matches('/')),
    })
}
