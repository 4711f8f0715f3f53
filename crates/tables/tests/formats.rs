//! The three table formats read to the same observations; errors say where.

use parquet::basic::{Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use scalelab_core::laws::Variable;
use scalelab_tables::{ColumnMap, Filter, Table};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn dir() -> PathBuf {
    tempfile::tempdir().unwrap().keep()
}

fn write_parquet(path: &Path, n: &[f64], d: &[f64], loss: &[f64], status: &[&str]) {
    let col = |name: &str, t: PhysicalType| {
        Arc::new(
            Type::primitive_type_builder(name, t)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(if t == PhysicalType::BYTE_ARRAY {
                    Some(parquet::basic::LogicalType::String)
                } else {
                    None
                })
                .build()
                .unwrap(),
        )
    };
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(vec![
                col("Model Size", PhysicalType::DOUBLE),
                col("tokens", PhysicalType::DOUBLE),
                col("loss", PhysicalType::DOUBLE),
                col("status", PhysicalType::BYTE_ARRAY),
            ])
            .build()
            .unwrap(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut k = 0;
    while let Some(mut c) = rg.next_column().unwrap() {
        match k {
            0..=2 => {
                let v = [n, d, loss][k];
                c.typed::<DoubleType>().write_batch(v, None, None).unwrap();
            }
            _ => {
                let v: Vec<ByteArray> = status.iter().map(|s| ByteArray::from(*s)).collect();
                c.typed::<ByteArrayType>()
                    .write_batch(&v, None, None)
                    .unwrap();
            }
        }
        c.close().unwrap();
        k += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
}

const N: [f64; 4] = [1e6, 2e6, 4e6, 8e6];
const D: [f64; 4] = [1e8, 3e8, 1e9, 2e9];
const L: [f64; 4] = [4.0, 3.5, 3.1, 2.9];
const S: [&str; 4] = ["done", "done", "failed", "done"];

fn map() -> ColumnMap {
    ColumnMap {
        params: Some("Model Size".into()),
        ..Default::default()
    }
}

#[test]
fn csv_jsonl_and_parquet_give_the_same_observations() {
    let d = dir();
    let mut csv = String::from("Model Size,tokens,loss,status\n");
    let mut jsonl = String::new();
    for i in 0..4 {
        csv.push_str(&format!("{},{},{},{}\n", N[i], D[i], L[i], S[i]));
        jsonl.push_str(&format!(
            "{{\"Model Size\": {}, \"tokens\": {}, \"loss\": {}, \"status\": \"{}\"}}\n",
            N[i], D[i], L[i], S[i]
        ));
    }
    std::fs::write(d.join("t.csv"), csv).unwrap();
    std::fs::write(d.join("t.jsonl"), jsonl).unwrap();
    write_parquet(&d.join("t.parquet"), &N, &D, &L, &S);
    let filter = Filter::parse("status == \"done\" and `Model Size` >= 1e6").unwrap();
    let mut got = Vec::new();
    for name in ["t.csv", "t.jsonl", "t.parquet"] {
        let t = Table::read(d.join(name)).unwrap();
        assert_eq!(t.len(), 4, "{name}");
        let kept = t.filter(std::slice::from_ref(&filter)).unwrap();
        assert_eq!(kept.len(), 3, "{name}");
        let loaded = kept
            .observations(&map(), &[Variable::N, Variable::D])
            .unwrap();
        assert_eq!(loaded.obs.loss, vec![4.0, 3.5, 2.9], "{name}");
        assert!(loaded.notes[0].contains("C = 6ND"), "{:?}", loaded.notes);
        assert!((loaded.obs.c[0] - 6e14).abs() < 1.0);
        got.push((loaded.obs, loaded.lines));
    }
    assert_eq!(got[0].0, got[1].0);
    assert_eq!(got[0].0, got[2].0);
    // lines: CSV counts the header, JSONL and Parquet rows from 1
    assert_eq!(got[0].1, vec![2, 3, 5]);
    assert_eq!(got[1].1, vec![1, 2, 4]);
    assert_eq!(got[2].1, vec![1, 2, 4]);
}

#[test]
fn parquet_errors_name_the_row_and_column() {
    let d = dir();
    let p = d.join("bad.parquet");
    write_parquet(&p, &N, &[1e8, 3e8, -1.0, 2e9], &L, &S);
    let t = Table::read(&p).unwrap();
    let e = t.observations(&map(), &[Variable::N]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("bad.parquet: row 3, column 2 ('tokens')"),
        "{msg}"
    );
    assert!(msg.contains("positive"), "{msg}");
}

#[test]
fn tokens_are_derived_from_flops_with_a_note() {
    let d = dir();
    std::fs::write(
        d.join("c.csv"),
        "params,flops,loss\n1e6,6e14,4.0\n2e6,3.6e15,3.5\n",
    )
    .unwrap();
    let t = Table::read(d.join("c.csv")).unwrap();
    let l = t
        .observations(&ColumnMap::default(), &[Variable::N, Variable::D])
        .unwrap();
    assert!((l.obs.d[0] - 1e8).abs() < 1e-3);
    assert!((l.obs.d[1] - 3e8).abs() < 1e-3);
    assert!(l.notes[0].contains("D = C / (6N)"), "{:?}", l.notes);
}

#[test]
fn filter_errors_are_precise() {
    let e = Filter::parse("loss <").unwrap_err();
    assert_eq!(e.pos, 7);
    let e = Filter::parse("loss ~ 3").unwrap_err();
    assert!(e.message.contains("expected one of"), "{e}");
    let d = dir();
    std::fs::write(d.join("f.csv"), "params,tokens,loss\n1e6,1e8,3\n").unwrap();
    let t = Table::read(d.join("f.csv")).unwrap();
    let err = t
        .filter(&[Filter::parse("los < 3").unwrap()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("los"), "{err}");
}

#[test]
fn crlf_files_report_the_same_lines_as_lf_files() {
    // the csv crate's own line count lags one line per CRLF
    // (BurntSushi/rust-csv#395); Python's csv module and Excel write CRLF
    let d = dir();
    for (name, eol) in [("lf.csv", "\n"), ("crlf.csv", "\r\n")] {
        let text = [
            "params,loss",
            "1,2",
            "",
            "2,3",
            "3,\"x\ny\"",
            "4,bad",
            "5,6",
        ]
        .join(eol)
            + eol;
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let t = Table::read(&p).unwrap();
        assert_eq!(t.lines, vec![2, 4, 5, 7, 8], "{name}");
        let c = t.require_column("loss").unwrap();
        let e = t.number_at(3, c).unwrap_err().to_string();
        assert!(e.contains(&format!("{name}:7:2: column 'loss'")), "{e}");
        // a short row: the error names its line
        std::fs::write(&p, ["params,loss", "1,2", "2,3", "3"].join(eol) + eol).unwrap();
        let e = Table::read(&p).unwrap_err().to_string();
        assert!(
            e.contains(&format!("{name}:4: this row has 1 fields")),
            "{e}"
        );
    }
}
