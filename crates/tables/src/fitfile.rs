//! `scalelab.fit/1` files: the fit that `scalelab fit --out` writes (and a
//! study embeds under its `fit` key), read back by `plan`, `design`,
//! `isoflop`, `emerge`, `study` and `report`. One parser, with errors that
//! name the file and the key; the schema is documented in docs/fit.md.

use scalelab_core::laws::{law_by_name, Law};
use serde_json::Value;
use std::path::Path;

/// The `schema` value of a fit file.
pub const FIT_SCHEMA: &str = "scalelab.fit/1";

/// A fit read from a `scalelab.fit/1` object.
pub struct FitFile {
    pub law: Box<dyn Law>,
    /// Natural parameters, in the law's order.
    pub params: Vec<f64>,
    /// Bootstrap draws of the natural parameters (empty without a bootstrap).
    pub draws: Vec<Vec<f64>>,
    /// The whole object, for the keys the parser does not interpret.
    pub value: Value,
}

/// Why a fit file cannot be used; the message names the file.
#[derive(Clone, Debug, PartialEq)]
pub struct FitFileError(pub String);

impl std::fmt::Display for FitFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FitFileError {}

/// Reads and checks a `scalelab.fit/1` file.
pub fn read_fit(path: &Path) -> Result<FitFile, FitFileError> {
    let where_ = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| FitFileError(format!("cannot read fit file {where_}: {e}")))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| FitFileError(format!("fit file {where_} is not valid JSON: {e}")))?;
    parse_fit(&v, &where_.to_string())
}

/// Checks a `scalelab.fit/1` object; `source` names it in errors (a path,
/// or e.g. "study.json (its `fit` key)").
pub fn parse_fit(v: &Value, source: &str) -> Result<FitFile, FitFileError> {
    let fail = |msg: String| Err(FitFileError(format!("fit file {source}: {msg}")));
    match v.get("schema").and_then(Value::as_str) {
        Some(FIT_SCHEMA) => {}
        Some(other) => return fail(format!("schema `{other}` is not `{FIT_SCHEMA}`")),
        None => {
            return fail("no `schema` key; is this a file written by `scalelab fit --out`?".into())
        }
    }
    let Some(name) = v.get("law").and_then(Value::as_str) else {
        return fail("no `law` key".into());
    };
    let Some(law) = law_by_name(name) else {
        return fail(format!("unknown law `{name}`"));
    };
    let Some(pmap) = v.get("params").and_then(Value::as_object) else {
        return fail("no `params` object".into());
    };
    let mut params = Vec::new();
    for p in law.param_names() {
        match pmap.get(p).and_then(Value::as_f64) {
            Some(x) => params.push(x),
            None => {
                return fail(format!(
                    "`params.{p}` missing or not a number (law `{name}` has parameters {})",
                    law.param_names().join(", ")
                ))
            }
        }
    }
    let mut draws = Vec::new();
    if let Some(d) = v.pointer("/bootstrap/draws").and_then(Value::as_array) {
        for (i, row) in d.iter().enumerate() {
            let row: Vec<f64> = row
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            if row.len() != params.len() {
                return fail(format!(
                    "bootstrap draw {i} has {} numbers, law `{name}` has {} parameters",
                    row.len(),
                    params.len()
                ));
            }
            draws.push(row);
        }
    }
    Ok(FitFile {
        law,
        params,
        draws,
        value: v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chinchilla() -> Value {
        json!({
            "schema": "scalelab.fit/1",
            "law": "chinchilla",
            "params": {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
            "bootstrap": {"draws": [[1.7, 470.0, 2000.0, 0.34, 0.36]]}
        })
    }

    #[test]
    fn reads_parameters_in_the_law_order_and_the_draws() {
        let f = parse_fit(&chinchilla(), "fit.json").unwrap();
        assert_eq!(f.law.name(), "chinchilla");
        assert_eq!(f.params, vec![1.8, 480.0, 2100.0, 0.35, 0.37]);
        assert_eq!(f.draws.len(), 1);
        assert_eq!(f.value["law"], "chinchilla");
    }

    #[test]
    fn bad_objects_are_refused_with_the_file_and_key_named() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"law": "chinchilla"}), "no `schema` key"),
            (
                json!({"schema": "scalelab.study/1"}),
                "schema `scalelab.study/1`",
            ),
            (json!({"schema": "scalelab.fit/1"}), "no `law` key"),
            (
                json!({"schema": "scalelab.fit/1", "law": "nope"}),
                "unknown law `nope`",
            ),
            (
                json!({"schema": "scalelab.fit/1", "law": "chinchilla"}),
                "no `params` object",
            ),
            (
                json!({"schema": "scalelab.fit/1", "law": "chinchilla", "params": {"E": 1.0}}),
                "`params.A` missing",
            ),
        ];
        for (v, want) in cases {
            let e = parse_fit(&v, "x/fit.json").err().unwrap().to_string();
            assert!(e.starts_with("fit file x/fit.json: "), "{e}");
            assert!(e.contains(want), "{e} (wanted {want})");
        }
        let mut v = chinchilla();
        v["bootstrap"]["draws"] = json!([[1.0, 2.0]]);
        let e = parse_fit(&v, "f").err().unwrap().to_string();
        assert!(e.contains("bootstrap draw 0 has 2 numbers"), "{e}");
    }

    #[test]
    fn unreadable_and_invalid_files_name_the_path() {
        let dir = std::env::temp_dir().join(format!("scalelab-fitfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.json");
        let e = read_fit(&missing).err().unwrap().to_string();
        assert!(
            e.contains("cannot read fit file") && e.contains("missing.json"),
            "{e}"
        );
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let e = read_fit(&bad).err().unwrap().to_string();
        assert!(
            e.contains("is not valid JSON") && e.contains("bad.json"),
            "{e}"
        );
        let good = dir.join("good.json");
        std::fs::write(&good, chinchilla().to_string()).unwrap();
        assert_eq!(read_fit(&good).unwrap().params.len(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
