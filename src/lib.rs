//! prom: an engine for electronic patient-reported outcome measures.
//!
//! See ARCHITECTURE.md for the map: a pure [`core`] (questionnaires,
//! expressions, validation, scoring, rules) and a shell around it
//! ([`catalog`] for files, [`cli`] for the command line).

pub mod catalog;
pub mod cli;
pub mod clock;
pub mod core;
pub mod demo;
pub mod fhir;
pub mod mail;
pub mod oidc;
pub mod security;
pub mod startup;
pub mod storage;
pub mod usecase;
pub mod vocab;
pub mod web;
