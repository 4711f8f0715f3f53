//! Parameter recovery: data drawn from known laws with multiplicative noise
//! are fitted back, for every law form and both methods; designs that cannot
//! identify a law trigger the diagnostics' warnings.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scalelab_core::bootstrap::{bootstrap, BootstrapOptions};
use scalelab_core::data::Observations;
use scalelab_core::diagnostics::{design_warnings, holdout_report, Holdout};
use scalelab_core::fit::{fit_law, FitOptions, Method};
use scalelab_core::laws::{law_by_name, BrokenPowerLaw, Chinchilla, Kaplan, Law, Variable};
use scalelab_core::robust::Robust;

/// Standard normal by Box–Muller (keeps the test free of extra crates).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An IsoFLOP-like design: 6 budgets over 3 decades, 7 sizes each spread
/// over 1.5 decades around the budget's Chinchilla optimum (42 runs).
fn isoflop_design() -> (Vec<f64>, Vec<f64>) {
    let (mut n, mut d) = (Vec::new(), Vec::new());
    for k in 0..6 {
        let c = 1e17 * 10f64.powf(0.6 * k as f64);
        let n_opt = (c / 120.0).sqrt();
        for j in 0..7 {
            let nn = n_opt * 10f64.powf(-0.75 + 0.25 * j as f64);
            n.push(nn);
            d.push(c / (6.0 * nn));
        }
    }
    (n, d)
}

fn sample(
    law: &dyn Law,
    truth: &[f64],
    n: &[f64],
    d: &[f64],
    noise: f64,
    seed: u64,
) -> Observations {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let clean = Observations::from_nd(n.to_vec(), d.to_vec(), vec![1.0; n.len()]).unwrap();
    let loss: Vec<f64> = (0..n.len())
        .map(|i| law.predict(truth, &clean.covariates(i)) * (noise * normal(&mut rng)).exp())
        .collect();
    Observations::from_nd(n.to_vec(), d.to_vec(), loss).unwrap()
}

fn assert_close(law: &dyn Law, got: &[f64], truth: &[f64], rtol: &[f64]) {
    for (k, name) in law.param_names().iter().enumerate() {
        let rel = (got[k] - truth[k]).abs() / truth[k].abs();
        assert!(
            rel <= rtol[k],
            "{}: {name} = {} vs true {} (rel {rel:.4} > {})",
            law.name(),
            got[k],
            truth[k],
            rtol[k]
        );
    }
}

#[test]
fn chinchilla_recovered_by_both_methods() {
    let truth = [1.69, 406.4, 410.7, 0.34, 0.28];
    let (n, d) = isoflop_design();
    // exact data: both methods land on the truth
    let obs = sample(&Chinchilla, &truth, &n, &d, 0.0, 1);
    for method in [Method::VarPro, Method::Grid] {
        let opts = FitOptions {
            method,
            ..Default::default()
        };
        let r = fit_law(&Chinchilla, &obs, &opts).unwrap();
        assert!(r.converged, "{method:?}: {r:?}");
        assert_close(
            &Chinchilla,
            &r.params,
            &truth,
            &[1e-4, 1e-3, 1e-3, 1e-4, 1e-4],
        );
        assert!(r.objective < 1e-12, "{method:?}: objective {}", r.objective);
    }
    // 1% noise: within a few standard errors, and the bootstrap interval
    // of each exponent contains the truth
    let obs = sample(&Chinchilla, &truth, &n, &d, 0.01, 2);
    let r = fit_law(&Chinchilla, &obs, &FitOptions::default()).unwrap();
    assert_close(
        &Chinchilla,
        &r.params,
        &truth,
        &[0.03, 0.6, 0.6, 0.15, 0.15],
    );
    let b = bootstrap(
        &Chinchilla,
        &obs,
        &r,
        &BootstrapOptions {
            resamples: 300,
            seed: 3,
            robust: r.robust,
            lbfgs: Default::default(),
            extra_starts: vec![],
        },
        &|| {},
    );
    for (k, s) in b.params.iter().enumerate().skip(3) {
        assert!(
            s.ci95[0] <= truth[k] && truth[k] <= s.ci95[1],
            "{}: truth {} outside {:?}",
            s.name,
            truth[k],
            s.ci95
        );
    }
    assert!(design_warnings(&Chinchilla, &obs).is_empty());
}

#[test]
fn power_laws_in_each_variable() {
    let (n, d) = isoflop_design();
    for (var, truth) in [
        (Variable::N, [1.9, 400.0, 0.34]),
        (Variable::D, [1.9, 2000.0, 0.37]),
        (Variable::C, [1.7, 3000.0, 0.16]),
    ] {
        let name = format!("power-{}", var.letter());
        let law = law_by_name(&name).unwrap();
        let obs = sample(law.as_ref(), &truth, &n, &d, 0.002, 7);
        for method in [Method::VarPro, Method::Grid] {
            let opts = FitOptions {
                method,
                ..Default::default()
            };
            let r = fit_law(law.as_ref(), &obs, &opts).unwrap();
            assert!(r.converged, "{name} {method:?}");
            assert_close(law.as_ref(), &r.params, &truth, &[0.02, 0.3, 0.05]);
        }
    }
}

#[test]
fn kaplan_recovered_from_its_grid() {
    let truth = [8.8e13, 5.4e13, 0.076, 0.095];
    let (n, d) = isoflop_design();
    let obs = sample(&Kaplan, &truth, &n, &d, 0.001, 11);
    let r = fit_law(&Kaplan, &obs, &FitOptions::default()).unwrap();
    assert_eq!(r.method, Method::Grid, "Kaplan has no linear structure");
    assert!(r.converged);
    assert_close(&Kaplan, &r.params, &truth, &[0.5, 0.5, 0.05, 0.05]);
}

#[test]
fn broken_power_law_finds_the_break() {
    let law = BrokenPowerLaw::new(Variable::N);
    // slope 0.1 below N = 1e8, 0.5 above, fairly sharp break
    let truth = [1.5, 20.0, 0.1, 0.5, 1e8, 0.3];
    let n: Vec<f64> = (0..40).map(|i| 1e6 * 10f64.powf(i as f64 * 0.1)).collect();
    let d = vec![1e10; n.len()];
    let obs = sample(&law, &truth, &n, &d, 0.001, 5);
    let r = fit_law(&law, &obs, &FitOptions::default()).unwrap();
    assert!(r.converged, "{r:?}");
    assert_close(&law, &r.params, &truth, &[0.05, 0.5, 0.3, 0.15, 0.3, 0.6]);
}

#[test]
fn collinear_design_is_flagged_and_holdout_measures_extrapolation() {
    // every run at 20 tokens per parameter: N and D cannot be separated
    let truth = [1.69, 406.4, 410.7, 0.34, 0.28];
    let n: Vec<f64> = (0..30).map(|i| 1e7 * 10f64.powf(i as f64 / 10.0)).collect();
    let d: Vec<f64> = n.iter().map(|n| 20.0 * n).collect();
    let obs = sample(&Chinchilla, &truth, &n, &d, 0.002, 9);
    let codes: Vec<String> = design_warnings(&Chinchilla, &obs)
        .into_iter()
        .map(|w| w.code)
        .collect();
    assert_eq!(codes, vec!["one_ratio".to_string()]);

    // a narrow, small design triggers the other two
    let obs_small = sample(&Chinchilla, &truth, &n[..8], &d[..8], 0.002, 9);
    let codes: Vec<String> = design_warnings(&Chinchilla, &obs_small)
        .into_iter()
        .map(|w| w.code)
        .collect();
    assert!(codes.contains(&"too_few_points".to_string()), "{codes:?}");
    assert!(codes.contains(&"narrow_range_n".to_string()), "{codes:?}");

    // held-out check on a good design: the largest runs are predicted well
    let (n, d) = isoflop_design();
    let obs = sample(&Chinchilla, &truth, &n, &d, 0.003, 4);
    let (train, test) = Holdout::Largest(7).split(&obs);
    assert_eq!(test.len(), 7);
    let fit = fit_law(
        &Chinchilla,
        &obs.select(&train),
        &FitOptions {
            robust: Robust::LeastSquares,
            ..Default::default()
        },
    )
    .unwrap();
    let rep = holdout_report(&Chinchilla, &fit.params, &obs, &test);
    assert!(rep.mean_abs_rel_error < 0.01, "{rep:?}");
    // and a wrong law (power in N only) extrapolates clearly worse
    let pn = law_by_name("power-n").unwrap();
    let fit_n = fit_law(pn.as_ref(), &obs.select(&train), &FitOptions::default()).unwrap();
    let rep_n = holdout_report(pn.as_ref(), &fit_n.params, &obs, &test);
    assert!(
        rep_n.mean_abs_rel_error > 3.0 * rep.mean_abs_rel_error,
        "{} vs {}",
        rep_n.mean_abs_rel_error,
        rep.mean_abs_rel_error
    );
}
