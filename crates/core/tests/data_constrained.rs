//! Parameter recovery for the data-constrained law (Muennighoff et al. 2023):
//! runs that repeat a limited unique-token budget for many epochs, drawn
//! from the law with multiplicative noise, are fitted back — all seven
//! parameters together, and R*_D and R*_N on top of a fixed base — and the
//! bootstrap interval of R*_D contains the truth.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scalelab_core::bootstrap::{bootstrap, BootstrapOptions};
use scalelab_core::data::Observations;
use scalelab_core::fit::{fit_law, FitOptions};
use scalelab_core::laws::{DataConstrained, Law};

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The truth: a Chinchilla-like base at small scale, with the paper's
/// decay constants.
const TRUTH: [f64; 7] = [1.8, 480.0, 2100.0, 0.34, 0.37, 15.387756, 5.309743];

/// Five model sizes × four unique budgets × epochs 1…128 (a data-constrained
/// sweep in miniature: 160 runs), with fresh-data (one-epoch) runs at every
/// size and budget so the base is identified as well as the decays.
fn sample(noise: f64, seed: u64) -> Observations {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut n, mut d, mut u, mut loss) = (vec![], vec![], vec![], vec![]);
    for k in 0..5 {
        let nn = 2e7 * 3f64.powi(k);
        for j in 0..4 {
            let uu = 1e8 * 4f64.powi(j);
            for e in 0..8 {
                let dd = uu * 2f64.powi(e);
                n.push(nn);
                d.push(dd);
                u.push(uu);
                loss.push(
                    DataConstrained::loss(&TRUTH, nn, dd, uu) * (noise * normal(&mut rng)).exp(),
                );
            }
        }
    }
    Observations::from_nd(n, d, loss)
        .unwrap()
        .with_unique(u)
        .unwrap()
}

#[test]
fn exact_data_is_recovered() {
    let obs = sample(0.0, 1);
    let law = DataConstrained::full();
    let r = fit_law(&law, &obs, &FitOptions::default()).unwrap();
    assert!(r.converged, "{r:?}");
    for (k, name) in law.param_names().iter().enumerate() {
        let rel = (r.params[k] / TRUTH[k] - 1.0).abs();
        assert!(
            rel < 1e-3,
            "{name} = {} vs {} ({r:?})",
            r.params[k],
            TRUTH[k]
        );
    }
    // on top of the true base, only the decays are fitted
    let on = DataConstrained::on_base(&TRUTH[..5]);
    let r = fit_law(&on, &obs, &FitOptions::default()).unwrap();
    assert!(r.converged);
    assert!(
        (r.params[0] / TRUTH[5] - 1.0).abs() < 1e-4,
        "{:?}",
        r.params
    );
    assert!(
        (r.params[1] / TRUTH[6] - 1.0).abs() < 1e-4,
        "{:?}",
        r.params
    );
}

#[test]
fn noisy_data_r_star_d_inside_its_bootstrap_interval() {
    let obs = sample(0.005, 7);
    let law = DataConstrained::full();
    let r = fit_law(&law, &obs, &FitOptions::default()).unwrap();
    assert!(r.converged, "{r:?}");
    let b = bootstrap(
        &law,
        &obs,
        &r,
        &BootstrapOptions {
            resamples: 200,
            seed: 11,
            robust: r.robust,
            lbfgs: Default::default(),
            extra_starts: vec![],
        },
        &|| {},
    );
    let rd = &b.params[5];
    assert_eq!(rd.name, "R_D_star");
    assert!(
        rd.ci95[0] <= TRUTH[5] && TRUTH[5] <= rd.ci95[1],
        "R*_D = {} with interval {:?} misses the truth {}",
        r.params[5],
        rd.ci95,
        TRUTH[5]
    );
    // the interval is informative, not the whole line
    assert!(rd.ci95[1] / rd.ci95[0] < 3.0, "{:?}", rd.ci95);
    eprintln!(
        "recovered R*_D = {:.3} (95% {:.3}..{:.3}), R*_N = {:.3} (95% {:.3}..{:.3})",
        r.params[5], rd.ci95[0], rd.ci95[1], r.params[6], b.params[6].ci95[0], b.params[6].ci95[1]
    );
}
