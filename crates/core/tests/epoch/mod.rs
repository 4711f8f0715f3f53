//! The Chinchilla points re-extracted by Epoch AI (Besiroglu et al. 2024),
//! as the replication keeps them; shared by the tests and the kernel bench.

use scalelab_core::data::Observations;

/// Reads the 245 points of `data/chinchilla_epoch_svg` and keeps the 240 the
/// replication keeps (loss below the 5th-largest), with D = C / (6N).
pub fn points() -> Observations {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/chinchilla_epoch_svg/svg_extracted_data.csv");
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (the repository carries it)", p.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (cn, cc, cl) = (col("Model Size"), col("Training FLOP"), col("loss"));
    let rows: Vec<(f64, f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[cn].parse().unwrap(),
                f[cc].parse().unwrap(),
                f[cl].parse().unwrap(),
            )
        })
        .collect();
    let mut losses: Vec<f64> = rows.iter().map(|r| r.2).collect();
    losses.sort_by(|a, b| b.total_cmp(a));
    let cut = losses[4];
    let kept: Vec<_> = rows.into_iter().filter(|r| r.2 < cut).collect();
    assert_eq!(kept.len(), 240);
    let n: Vec<f64> = kept.iter().map(|r| r.0).collect();
    let c: Vec<f64> = kept.iter().map(|r| r.1).collect();
    let d: Vec<f64> = kept.iter().map(|r| r.1 / (6.0 * r.0)).collect();
    let l: Vec<f64> = kept.iter().map(|r| r.2).collect();
    Observations::new(n, d, c, l).unwrap()
}
