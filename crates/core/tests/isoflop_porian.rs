//! Approach 1 and 2 on the Porian et al. (2024) IsoFLOP points: the
//! paper's conclusion (counting conventions, warm-up and decay move the
//! exponent a) must be visible.

use scalelab_core::data::Observations;
use scalelab_core::isoflop::{approach1, approach2, run_ids_by_size, IsoflopOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dataset() -> Option<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/porian2024_isoflop/isoflop_points.csv");
    match std::fs::read_to_string(&p) {
        Ok(s) => Some(s),
        Err(e) => panic!(
            "{} is missing (the repository carries it): {e}",
            p.display()
        ),
    }
}

/// config_id → (label, observations).
fn configs(text: &str) -> BTreeMap<String, (String, Observations)> {
    let mut rows: BTreeMap<String, (String, Vec<[f64; 4]>)> = BTreeMap::new();
    let mut lines = text.lines();
    // The label (column 9) may be quoted and hold commas; the last four
    // columns are flops, n, t, loss.
    assert!(lines.next().unwrap().ends_with("label,flops,n,t,loss"));
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let k = f.len();
        let num = |i: usize| f[i].parse::<f64>().unwrap();
        let label = f[8..k - 4].join(",").trim_matches('"').to_string();
        rows.entry(f[0].to_string())
            .or_insert_with(|| (label, Vec::new()))
            .1
            .push([num(k - 3), num(k - 2), num(k - 4), num(k - 1)]);
    }
    rows.into_iter()
        .map(|(k, (label, r))| {
            let obs = Observations::new(
                r.iter().map(|x| x[0]).collect(),
                r.iter().map(|x| x[1]).collect(),
                r.iter().map(|x| x[2]).collect(),
                r.iter().map(|x| x[3]).collect(),
            )
            .unwrap();
            (k, (label, obs))
        })
        .collect()
}

fn ci(c: Option<[f64; 2]>) -> [f64; 2] {
    c.expect("bootstrap interval")
}

#[test]
fn porian_exponents_move_with_conventions() {
    let Some(text) = dataset() else { return };
    let cfgs = configs(&text);
    assert_eq!(cfgs.len(), 15);
    let opts = IsoflopOptions {
        bootstrap: 200,
        ..Default::default()
    };
    let mut a2: BTreeMap<String, (f64, [f64; 2])> = BTreeMap::new();
    for (id, (label, obs)) in &cfgs {
        let r2 = approach2(obs, &opts).unwrap();
        let r1 = approach1(obs, &run_ids_by_size(obs), &opts).unwrap();
        let (e2, e1) = (&r2.exponents, &r1.exponents);
        println!(
            "{id:40} A2 a = {:.3} {:.3?}  A1 a = {:.3} {:.3?}  ({label})",
            e2.a, e2.a_ci95, e1.a, e1.a_ci95
        );
        // Every configuration: most budgets usable, exponents sum to 1 under
        // C = 6ND, intervals bracket the estimates.
        assert!(r2.optima.len() >= 9, "{id}: {} optima", r2.optima.len());
        assert!((e2.a + e2.b - 1.0).abs() < 1e-6, "{id}");
        let c = ci(e2.a_ci95);
        assert!(c[0] <= e2.a && e2.a <= c[1], "{id}: {} {c:?}", e2.a);
        assert!(c[1] - c[0] < 0.2, "{id}: interval too wide {c:?}");
        assert!((0.3..1.0).contains(&e1.a), "{id}: A1 a = {}", e1.a);
        a2.insert(id.clone(), (e2.a, c));
    }
    for ds in ["rw", "owt2"] {
        let get = |rest: &str| a2[&format!("{ds}|{rest}")];
        let kaplan = get("base|long|kaplan|kaplan|train");
        let last_layer = get("base|long|kaplan|standard|val");
        let warmup = get("base|short|kaplan|standard|val");
        let cosine = get("base|short|chinchilla|standard|val");
        let tuned = get("tuned|short|const|standard|val");
        // Reproducing Kaplan et al.: a clearly Kaplan-like exponent.
        assert!(
            kaplan.0 > 0.75,
            "{ds}: Kaplan reproduction a = {}",
            kaplan.0
        );
        // Each correction lowers a.
        assert!(kaplan.0 > last_layer.0 + 0.05, "{ds}");
        assert!(last_layer.0 > warmup.0 + 0.03, "{ds}");
        assert!(warmup.0 > cosine.0, "{ds}");
        // The first and last steps differ beyond their intervals.
        assert!(kaplan.1[0] > cosine.1[1], "{ds}");
        assert!(kaplan.1[0] > tuned.1[1], "{ds}");
        // The tuned, short-warm-up runs are Chinchilla-like.
        assert!((tuned.0 - 0.5).abs() < 0.06, "{ds}: tuned a = {}", tuned.0);
    }
}
