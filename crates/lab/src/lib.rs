//! # scalelab, the library
//!
//! Every workflow of the scaling-law laboratory, callable from Rust: each
//! module takes a typed request and returns a typed, serde-serialisable
//! report. The `scalelab` command line and the Python package are thin
//! faces over this crate: they parse their arguments into a request, call
//! one function here and render the report (text, or JSON by serialising
//! it). Nothing here prints to the terminal: progress goes to a
//! [`Progress`] the caller passes, warnings are values in the reports, and
//! errors are [`Error`]s that name the file, line and column or the flag.
//!
//! Data flows one way: runs → tables → fits → plans → reports.
//!
//! | module | workflow |
//! |---|---|
//! | [`runs`] | read a run table (CSV/TSV, JSONL, Parquet, a sweep directory, an in-memory table), `--where` filters, the drop of unfinished sweep runs |
//! | [`compare`] | two recipes: the effective-compute multiplier, crossover, shared E |
//! | [`fit`] | fit a law (all laws and methods), bootstrap, holdout, warnings; the `scalelab.fit/1` type |
//! | [`hparams`] | learning-rate (and batch) optima per budget and their power laws in compute |
//! | [`plan`] | compute-optimal N and D for budgets, with intervals; the FLOP calculator |
//! | [`isoflop`] | IsoFLOP Approaches 1–3 |
//! | [`design`] | an IsoFLOP pilot grid for a budget, as a sweep file |
//! | [`study`] | the whole loop (sweep, fits, isoflop, plan, backtest, report) |
//! | [`sweep`], [`train`] | pilot runs with the built-in engine, local or Slurm |
//! | [`eval`], [`emerge`] | evaluations of trained runs; abilities across scale |
//! | [`import`] | TensorBoard event files, tracker CSV exports and lm-eval results into scalelab tables |
//! | [`report`] | the HTML report and single figures |
//! | [`corpus`] | corpus preparation, synthetic data, dedup and contamination |

pub mod compare;
pub mod corpus;
pub mod design;
pub mod emerge;
pub mod error;
pub mod eval;
pub mod fit;
pub mod hparams;
pub mod import;
pub mod isoflop;
pub mod plan;
pub mod report;
pub mod runs;
pub mod study;
pub mod sweep;
pub mod threads;
pub mod train;
pub mod warning;

pub use error::{Error, Result};
pub use scalelab_common::{write_atomic, Event, Progress, Silent, Task};
pub use warning::{Warning, WarningKind};

/// A number with about five significant digits, in plain or scientific
/// notation as suits its size: how reports and terminal text show numbers.
pub fn format_number(v: f64) -> String {
    scalelab_report::html::num(v)
}

/// [`format_number`] without trailing zeros (`0.03`, `1e21`, `23.574`): for
/// numbers inside sentences and narrow columns.
pub fn format_compact(v: f64) -> String {
    let s = format_number(v);
    let (mantissa, exp) = match s.find('e') {
        Some(i) => s.split_at(i),
        None => (s.as_str(), ""),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    format!("{mantissa}{exp}")
}

#[cfg(test)]
mod format_tests {
    #[test]
    fn compact_numbers_keep_their_digits_and_drop_trailing_zeros() {
        assert_eq!(super::format_compact(0.03), "0.03");
        assert_eq!(super::format_compact(0.0312), "0.0312");
        assert_eq!(super::format_compact(20.0), "20");
        assert_eq!(super::format_compact(1e21), "1e21");
        assert_eq!(super::format_compact(2.5e-5), "2.5e-5");
    }
}
