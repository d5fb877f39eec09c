//! The one integration-test binary. Each module is one area; test names are
//! sentences that say what holds. `tests/postgres_run.rs` runs the modules
//! that go through the server and storage again on PostgreSQL.

/// The backend of this run (see `helpers::postgres`).
pub const BACKEND: &str = "sqlite";

mod alerts;
mod api;
mod architecture;
mod audit;
mod broken_files;
mod cli;
mod clinic;
mod durability;
mod failover;
mod fhir;
mod helpers;
mod hostile_files;
mod identity;
mod language;
mod mail;
mod nodes;
mod openapi;
mod operations;
mod patient_flow;
mod patient_pages;
mod plans;
mod postgres;
mod preview;
mod properties;
mod service;
mod shipped;
mod slow_clients;
mod tls;
mod walk;
