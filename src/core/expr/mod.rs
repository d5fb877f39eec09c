//! The expression language of `show_if`, `expr`, `transform` and `when`:
//! a parser with positions ([`syntax`]), a type checker ([`check`]), an
//! evaluator ([`eval`]) and a range analysis for warnings ([`range`]).

pub mod check;
pub mod eval;
pub mod range;
pub mod syntax;
