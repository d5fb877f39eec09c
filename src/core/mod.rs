//! The pure core: the questionnaire model, the compiler and its
//! diagnostics, the expression language, answer validation, scoring and
//! rules.
//!
//! It does no I/O, reads no clock, uses no randomness and holds no async:
//! everything clinical is decided here from plain values, so it can be
//! tested with plain values. Time comes in as a parameter (`date`), files
//! come in as text, and history comes in as a list the caller loaded. A test
//! (`tests/it/architecture.rs`) fails if a file here names an I/O crate.

pub mod chart;
pub mod compile;
pub mod diag;
pub mod engine;
pub mod explain;
pub mod expr;
pub mod form;
pub mod model;
pub mod simulate;
pub mod testing;
pub mod value;
pub mod yaml;

pub use compile::{Compiled, compile_json, compile_yaml};
pub use diag::{Diagnostic, Pos, Severity};
pub use engine::{AnswerError, Evaluation, Mode, Outcome, process, validate};
pub use expr::eval::HistoryEntry;
pub use model::{Level, Questionnaire};
