//! Staff single sign-on: what prom makes of an identity the provider
//! vouched for (`oidc` checked the token). The claim that carries groups
//! or roles is mapped to a clinic and a role; the first login makes the
//! staff account (just in time), each later one brings it up to date, and
//! a person whose claims no longer map to any role loses access (the
//! account is deactivated and its sessions end). A login below the
//! required assurance (`acr`, `amr`) is refused. Every login, change and refusal
//! is an audit row in the same transaction.

use chrono::{DateTime, Duration, Utc};

use crate::oidc::Identity;
use crate::security::token_hash;
use crate::storage::audit::{self, Entry};
use crate::storage::db::{OptionalExtension, params};
use crate::storage::ids::{new_id, ts};
use crate::storage::staff::{self, Staff};
use crate::storage::{Connection, Result, sessions};

/// One claim value mapped to a role in a clinic (`onko-sygepleje` →
/// clinician in `onko`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMap {
    pub value: String,
    pub clinic: String,
    /// `clinician` or `admin`.
    pub role: String,
}

impl std::str::FromStr for RoleMap {
    type Err = String;

    /// `VALUE=CLINIC:ROLE`, as the configuration writes it.
    fn from_str(s: &str) -> std::result::Result<RoleMap, String> {
        let bad = || {
            format!("`{s}` is not VALUE=CLINIC:ROLE (for example onko-sygepleje=onko:clinician)")
        };
        let (value, rest) = s.rsplit_once('=').ok_or_else(bad)?;
        let (clinic, role) = rest.split_once(':').ok_or_else(bad)?;
        let role = role.trim();
        if !["clinician", "admin"].contains(&role) {
            return Err(format!("`{role}` is not a role: clinician or admin"));
        }
        if value.trim().is_empty() || clinic.trim().is_empty() {
            return Err(bad());
        }
        Ok(RoleMap {
            value: value.trim().into(),
            clinic: clinic.trim().into(),
            role: role.into(),
        })
    }
}

/// Staff single sign-on as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSso {
    pub provider: crate::oidc::ProviderConfig,
    /// The claim with the groups or roles (`groups`, `roles`).
    pub claim: String,
    pub roles: Vec<RoleMap>,
    /// A session's maximum lifetime, whatever its activity.
    pub max_session: Duration,
}

/// What a single sign-on login came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// A session: its cookie token and CSRF token.
    LoggedIn(String, String),
    /// The claims map to no role (any account there was lost its access).
    NoAccess,
    /// The login's assurance is below the one required.
    TooWeak,
    /// The e-mail belongs to a local account already.
    EmailTaken,
    /// The claims give roles in several clinics: the person chooses one
    /// (the clinics, with the role in each).
    Choose(Vec<(String, String)>),
}

/// The clinics and roles the claims give, in the order of the mappings
/// (admin wins over clinician within a clinic).
pub fn mapped(sso: &StaffSso, who: &Identity) -> Vec<(String, String)> {
    let values = who.values(&sso.claim);
    let mut out: Vec<(String, String)> = Vec::new();
    for m in sso.roles.iter().filter(|m| values.contains(&m.value)) {
        match out.iter_mut().find(|(c, _)| *c == m.clinic) {
            Some((_, role)) if m.role == "admin" => *role = "admin".into(),
            Some(_) => {}
            None => out.push((m.clinic.clone(), m.role.clone())),
        }
    }
    out
}

fn record(
    conn: &Connection,
    actor: &str,
    action: &str,
    clinic: Option<&str>,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = ts(now);
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor,
            action,
            clinic_id: clinic,
            subject: detail,
            ..Default::default()
        },
    )
}

fn account_of(conn: &Connection, who: &Identity) -> Result<Option<Staff>> {
    let id: Option<String> = conn
        .prepare_cached("SELECT staff_id FROM staff_identities WHERE issuer = ?1 AND subject = ?2")?
        .query_row(params![who.issuer, who.subject], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => staff::by_id(conn, &id),
        None => Ok(None),
    }
}

/// Logs a staff member in from a verified identity.
///
/// `chosen`: the clinic the person chose where the claims give several
/// (it must be one of them).
pub fn staff_login(
    conn: &Connection,
    sso: &StaffSso,
    who: &Identity,
    chosen: Option<&str>,
    language: &str,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let existing = account_of(conn, who)?;
    let actor = existing
        .as_ref()
        .map(|s| format!("staff:{}", s.id))
        .unwrap_or_else(|| "sso".into());
    if !sso.provider.assurance_ok(who) {
        record(
            conn,
            &actor,
            "staff.sso_refused",
            existing.as_ref().map(|s| s.clinic_id.as_str()),
            Some("assurance below the required acr or amr"),
            now,
        )?;
        return Ok(Outcome::TooWeak);
    }
    let all = mapped(sso, who);
    if all.len() > 1 && chosen.is_none() {
        return Ok(Outcome::Choose(all));
    }
    let found = match chosen {
        Some(c) => match all.iter().find(|(clinic, _)| clinic == c) {
            Some(x) => Some(x.clone()),
            // Not one of the person's clinics: asked again.
            None if !all.is_empty() => return Ok(Outcome::Choose(all)),
            None => None,
        },
        None => all.into_iter().next(),
    };
    let Some((clinic, role)) = found else {
        if let Some(s) = &existing {
            staff::deactivate(conn, &s.id, now)?;
            staff::end_sessions(conn, &s.id, now)?;
        }
        record(
            conn,
            &actor,
            "staff.sso_no_access",
            existing.as_ref().map(|s| s.clinic_id.as_str()),
            Some("no claim maps to a role"),
            now,
        )?;
        return Ok(Outcome::NoAccess);
    };
    let email = who
        .email
        .clone()
        .unwrap_or_else(|| format!("{}@{}", who.subject, "sso.invalid"));
    let name = who.name.clone().unwrap_or_else(|| email.clone());
    let account = match existing {
        Some(s) => {
            if s.clinic_id != clinic || s.role != role || s.disabled {
                let change = format!(
                    "{}:{}{} -> {clinic}:{role}",
                    s.clinic_id,
                    s.role,
                    if s.disabled { " (no access)" } else { "" }
                );
                conn.prepare_cached(
                    "UPDATE staff_users SET clinic_id = ?2, role = ?3, disabled_at = NULL WHERE id = ?1",
                )?
                .execute(params![s.id, clinic, role])?;
                if s.clinic_id != clinic {
                    staff::end_sessions(conn, &s.id, now)?;
                }
                record(
                    conn,
                    &actor,
                    "staff.role_change",
                    Some(&clinic),
                    Some(&change),
                    now,
                )?;
            }
            conn.prepare_cached("UPDATE staff_users SET name = ?2 WHERE id = ?1")?
                .execute(params![s.id, name])?;
            staff::by_id(conn, &s.id)?.unwrap_or(s)
        }
        None => {
            if staff::by_email(conn, &email)?.is_some() {
                record(
                    conn,
                    "sso",
                    "staff.sso_refused",
                    Some(&clinic),
                    Some("the e-mail belongs to a local account"),
                    now,
                )?;
                return Ok(Outcome::EmailTaken);
            }
            let id = new_id();
            conn.prepare_cached(
                "INSERT INTO staff_users (id, clinic_id, email, name, role, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, '!single sign-on', ?6)",
            )?
            .execute(params![id, clinic, email, name, role, ts(now)])?;
            conn.prepare_cached(
                "INSERT INTO staff_identities (issuer, subject, staff_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![who.issuer, who.subject, id, ts(now)])?;
            record(
                conn,
                &format!("staff:{id}"),
                "staff.sso_create",
                Some(&clinic),
                Some(&role),
                now,
            )?;
            match staff::by_id(conn, &id)? {
                Some(s) => s,
                None => return Ok(Outcome::NoAccess),
            }
        }
    };
    let (token, csrf) = super::staff::single_sign_on_session(conn, &account, language, now)?;
    sessions::set_single_sign_on(
        conn,
        &token_hash(&token),
        now + sso.max_session,
        &who.id_token,
    )?;
    Ok(Outcome::LoggedIn(token, csrf))
}
