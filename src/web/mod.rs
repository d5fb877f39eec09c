//! The web layer: routes, extractors, errors and the JSON API. Handlers
//! orchestrate: the core decides, storage stores (through the writer), and
//! nothing here holds SQL. It never sends mail; alerts are outbox rows that
//! storage writes in the submission's transaction.

pub mod api;
pub mod error;

use actix_web::{App, HttpServer, web};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, RwLock};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::storage::records::Clinic;
use crate::storage::{Readers, writer::Writer};

/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// Shared by every request.
pub struct AppState {
    pub catalog: Catalog,
    pub writer: Writer,
    pub readers: Arc<Readers>,
    pub clock: Arc<dyn Clock>,
    pub base_url: String,
    /// API key hash → clinic; keys are high-entropy, so the cache only saves
    /// a query per request.
    pub keys: RwLock<HashMap<String, Clinic>>,
}

/// Builds the HTTP server on an already bound listener.
pub fn server(
    state: Arc<AppState>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::from(state);
    let srv = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(api::routes)
            .default_service(web::to(api::not_found))
    })
    .workers(workers)
    .backlog(1024)
    .listen(listener)?
    .run();
    Ok(srv)
}
