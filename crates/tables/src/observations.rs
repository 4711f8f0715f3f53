//! From a table to the observations a law is fitted to.

use crate::{Table, TableError};
use scalelab_core::data::Observations;
use scalelab_core::laws::Variable;

/// Which columns hold N, D, C, the loss and the unique tokens. `None` means
/// the default name (`params`, `tokens`, `flops`, `loss`, `unique_tokens`);
/// a name given explicitly must exist.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnMap {
    pub params: Option<String>,
    pub tokens: Option<String>,
    pub flops: Option<String>,
    pub loss: Option<String>,
    /// Unique tokens per run (read only for a law that models repeated
    /// data).
    pub unique: Option<String>,
}

/// The default name of the unique-tokens column.
pub const UNIQUE_TOKENS_COLUMN: &str = "unique_tokens";

impl ColumnMap {
    fn entry(&self, v: Variable) -> (&Option<String>, &'static str) {
        match v {
            Variable::N => (&self.params, "--params-col"),
            Variable::D => (&self.tokens, "--tokens-col"),
            Variable::C => (&self.flops, "--flops-col"),
        }
    }

    /// The column name used for a covariate.
    pub fn name(&self, v: Variable) -> &str {
        self.entry(v).0.as_deref().unwrap_or(v.column())
    }

    /// The loss column name.
    pub fn loss_name(&self) -> &str {
        self.loss.as_deref().unwrap_or("loss")
    }

    /// The unique-tokens column name.
    pub fn unique_name(&self) -> &str {
        self.unique.as_deref().unwrap_or(UNIQUE_TOKENS_COLUMN)
    }
}

/// Observations with the notes made while deriving them.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub obs: Observations,
    /// Things the user should know (a derived column, say).
    pub notes: Vec<String>,
    /// Source line (or Parquet row) of each observation.
    pub lines: Vec<usize>,
}

impl Table {
    /// Reads N, D, C and loss. A missing covariate is derived from the other
    /// two through C = 6ND when possible (with a note); covariates in `need`
    /// must be available.
    pub fn observations(&self, map: &ColumnMap, need: &[Variable]) -> Result<Loaded, TableError> {
        let mut notes = Vec::new();
        if self.column_index(map.loss_name()).is_none() {
            let mut e = self.require_column(map.loss_name()).unwrap_err();
            e.message = match &map.loss {
                Some(name) => format!("--loss-col {name}: {}", e.message),
                None => format!("{}; name the loss column with --loss-col", e.message),
            };
            return Err(e);
        }
        let loss = self.positive_column(map.loss_name())?;
        let mut cols: [Option<Vec<f64>>; 3] = [None, None, None];
        for (k, v) in [Variable::N, Variable::D, Variable::C]
            .into_iter()
            .enumerate()
        {
            let (explicit, flag) = map.entry(v);
            let name = map.name(v);
            if self.column_index(name).is_some() {
                cols[k] = Some(self.positive_column(name)?);
            } else if explicit.is_some() {
                let mut e = self.require_column(name).unwrap_err();
                e.message = format!("{flag} {name}: {}", e.message);
                return Err(e);
            }
        }
        let [n, d, c] = cols;
        let (n, d, c) = match (n, d, c) {
            (Some(n), None, Some(c)) => {
                let d = n.iter().zip(&c).map(|(n, c)| c / (6.0 * n)).collect();
                notes.push(format!(
                    "no '{}' column: tokens computed as D = C / (6N) from '{}' and '{}'",
                    map.name(Variable::D),
                    map.name(Variable::C),
                    map.name(Variable::N)
                ));
                (Some(n), Some(d), Some(c))
            }
            (None, Some(d), Some(c)) => {
                let n = d.iter().zip(&c).map(|(d, c)| c / (6.0 * d)).collect();
                notes.push(format!(
                    "no '{}' column: parameters computed as N = C / (6D) from '{}' and '{}'",
                    map.name(Variable::N),
                    map.name(Variable::C),
                    map.name(Variable::D)
                ));
                (Some(n), Some(d), Some(c))
            }
            (Some(n), Some(d), None) => {
                let c = n.iter().zip(&d).map(|(n, d)| 6.0 * n * d).collect();
                notes.push(format!(
                    "no '{}' column: compute taken as C = 6ND",
                    map.name(Variable::C)
                ));
                (Some(n), Some(d), Some(c))
            }
            other => other,
        };
        for v in need {
            let have = match v {
                Variable::N => n.is_some(),
                Variable::D => d.is_some(),
                Variable::C => c.is_some(),
            };
            if !have {
                let (_, flag) = map.entry(*v);
                return Err(TableError::file(
                    &self.path,
                    format!(
                        "this law needs {} ({}) but there is no column '{}' and it cannot be derived; name the column with {flag} (columns: {})",
                        v.column(),
                        v.symbol(),
                        map.name(*v),
                        self.columns.join(", ")
                    ),
                ));
            }
        }
        let len = self.len();
        let nan = || vec![f64::NAN; len];
        let obs = Observations::new(
            n.unwrap_or_else(nan),
            d.unwrap_or_else(nan),
            c.unwrap_or_else(nan),
            loss,
        )
        .map_err(|e| TableError::at(self.location(e.index, 0), e.to_string()))?;
        Ok(Loaded {
            obs,
            notes,
            lines: self.lines.clone(),
        })
    }
}

impl Table {
    /// Each row's unique tokens (U), for a law that models repeated data: a
    /// positive number in every row. The error names the column (and
    /// `--unique-col`), or the file, line and value.
    pub fn unique_tokens(&self, map: &ColumnMap) -> Result<Vec<f64>, TableError> {
        let name = map.unique_name();
        if self.column_index(name).is_none() {
            let mut e = self.require_column(name).unwrap_err();
            e.message = match &map.unique {
                Some(_) => format!("--unique-col {name}: {}", e.message),
                None => format!(
                    "{}; this law needs each run's unique tokens: name the column with --unique-col",
                    e.message
                ),
            };
            return Err(e);
        }
        self.positive_column(name)
    }
}
