//! Use cases: what the API, the pages, the demo and (later) FHIR import do,
//! without HTTP. Each runs inside one write transaction (the writer's, or a
//! CLI command's) and reads as three steps: storage gives what the
//! decision needs, the core decides, storage records the outcome.
//!
//! It must not use actix or tera; wording of e-mails comes from `mail`.

pub mod alerts;
pub mod contact;
pub mod invitation;
pub mod person;
pub mod plans;
pub mod review;
pub mod sso;
pub mod staff;
pub mod submit;

pub use submit::{Idempotency, Submission, Submitted, submit_response};
