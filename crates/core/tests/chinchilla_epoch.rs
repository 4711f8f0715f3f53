//! The Chinchilla points re-extracted by Epoch AI (Besiroglu et al. 2024):
//! the fit must reproduce their published grid fit and bootstrap errors.
//!
//! The points are in the repository's `data/chinchilla_epoch_svg`.

use scalelab_core::fit::{fit_law, FitOptions, Method};
use scalelab_core::laws::Chinchilla;

mod epoch;

fn check_epoch_optimum(r: &scalelab_core::fit::FitResult) {
    let rel = |name: &str, want: f64| (r.param(name).unwrap() - want).abs() / want;
    assert!(rel("E", 1.8172) < 0.005, "E = {:?}", r.param("E"));
    assert!(
        rel("alpha", 0.3473) < 0.005,
        "alpha = {:?}",
        r.param("alpha")
    );
    assert!(rel("beta", 0.3672) < 0.005, "beta = {:?}", r.param("beta"));
    assert!(rel("A", 477.8) < 0.03, "A = {:?}", r.param("A"));
    assert!(rel("B", 2143.0) < 0.03, "B = {:?}", r.param("B"));
    assert!(r.objective <= 0.00101828, "objective {}", r.objective);
    assert!(r.converged, "{r:?}");
}

#[test]
fn grid_fit_reproduces_epoch() {
    let obs = epoch::points();
    let t = std::time::Instant::now();
    let opts = FitOptions {
        method: Method::Grid,
        ..Default::default()
    };
    let r = fit_law(&Chinchilla, &obs, &opts).unwrap();
    eprintln!("grid: {:?} in {:?}", r, t.elapsed());
    assert_eq!(r.starts, 4500);
    assert!(
        r.starts_at_best >= 100,
        "only {} starts reached the best",
        r.starts_at_best
    );
    check_epoch_optimum(&r);
}

#[test]
fn varpro_fit_reproduces_epoch() {
    let obs = epoch::points();
    let t = std::time::Instant::now();
    let r = fit_law(&Chinchilla, &obs, &FitOptions::default()).unwrap();
    eprintln!("varpro: {:?} in {:?}", r, t.elapsed());
    check_epoch_optimum(&r);
}

// The objective's speed is measured by `cargo bench -p scalelab-core --bench kernel`.

#[test]
fn bootstrap_matches_epoch_standard_errors() {
    use scalelab_core::bootstrap::{bootstrap, BootstrapOptions};
    let obs = epoch::points();
    let fit = fit_law(&Chinchilla, &obs, &FitOptions::default()).unwrap();
    let t = std::time::Instant::now();
    let opts = BootstrapOptions {
        resamples: 4000,
        seed: 42,
        robust: fit.robust,
        lbfgs: Default::default(),
        extra_starts: vec![],
    };
    let b = bootstrap(&Chinchilla, &obs, &fit, &opts, &|| {});
    eprintln!(
        "bootstrap in {:?}: not converged {}",
        t.elapsed(),
        b.not_converged
    );
    let published = [
        ("E", 0.02566),
        ("A", 124.522),
        ("B", 1293.284),
        ("alpha", 0.01540),
        ("beta", 0.02060),
    ];
    for (name, se) in published {
        let s = b.params.iter().find(|s| s.name == name).unwrap();
        eprintln!("{name}: se {} (Epoch {se}), ci95 {:?}", s.se, s.ci95);
        assert!(
            (s.se - se).abs() / se < 0.2,
            "{name}: se {} vs Epoch {se}",
            s.se
        );
    }
}
