//! The integration suite's modules that go through the server and storage,
//! run again on PostgreSQL: each test starts the real server on port 0 on
//! a database of its own on the local PostgreSQL (127.0.0.1:5432), dropped
//! afterwards. Where PostgreSQL cannot be reached the tests fail under
//! `CI=true` and are skipped elsewhere, with a printed line.
//!
//! Left to the SQLite run, with the reason: `durability` (SQLite's file,
//! WAL, full disk and SIGKILL), `service` (SQLite's query plans and file
//! limits), `audit` (it tampers with restored copies of SQLite backups;
//! on PostgreSQL `prom backup` points to `pg_dump`, the log is append-only
//! by trigger, tested in `postgres`, and `audit verify` is checked after
//! the multi-node load and in `cli`), `preview` (it reads a SQLite file), `slow_clients` (it starts its
//! server on a SQLite file), `operations` (it runs `prom` as a process on a
//! configuration file; readiness on a lost PostgreSQL is tested in
//! `postgres`), `postgres` (it is about PostgreSQL already),
//! and the modules with no database (`architecture`, `broken_files`,
//! `hostile_files`, `language`, `properties`, `shipped`).

/// The backend of this run (see `helpers::postgres`).
pub const BACKEND: &str = "postgres";

// Not every helper is used by the modules of this run.
#[allow(dead_code)]
#[path = "it/helpers.rs"]
mod helpers;

#[path = "it/alerts.rs"]
mod alerts;
#[path = "it/api.rs"]
mod api;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/clinic.rs"]
mod clinic;
#[path = "it/fhir.rs"]
mod fhir;
#[path = "it/identity.rs"]
mod identity;
#[path = "it/mail.rs"]
mod mail;
#[path = "it/patient_flow.rs"]
mod patient_flow;
#[path = "it/patient_pages.rs"]
mod patient_pages;
#[path = "it/plans.rs"]
mod plans;
#[path = "it/walk.rs"]
mod walk;
