//! `scalelab report` and `scalelab plot` in a real headless browser
//! (Debian's `chromium`, installed by scripts/test.sh as root): the page
//! loads with no console errors and no request leaving the file, every
//! figure has drawn content, and a screenshot is kept under
//! target/test-artifacts/.
//!
//! Without chromium the browser checks say that they skipped, except with
//! CI=true, where they fail.

use crate::util::*;

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<&'static str> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but no chromium is installed (scripts/test.sh installs it as root)");
    }
    eprintln!("skipped: browser checks (no chromium on PATH)");
    None
}

fn artifacts() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Loads the page headless; returns (rendered DOM, chromium's log).
fn load(browser: &str, page: &Path, shot: &Path) -> (String, String) {
    // one profile directory per page: chromium refuses a profile in use
    let tmp = tmpdir(&format!(
        "chromium-{}",
        shot.file_stem().unwrap().to_string_lossy()
    ));
    let netlog = tmp.join("netlog.json");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let common = |extra: &[String]| {
        let mut c = Command::new(browser);
        c.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,2400",
            // any host lookup fails: a page that needs the network shows it
            "--host-resolver-rules=MAP * ~NOTFOUND",
            // the browser's own background traffic (updates, time checks)
            // is switched off, so every request left is the page's
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--no-pings",
            "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
        ]);
        c.arg(format!("--user-data-dir={}", tmp.join("profile").display()));
        c.args(extra);
        c.arg(&url);
        c.output().expect("run chromium")
    };
    let dom = common(&[
        "--dump-dom".into(),
        format!("--log-net-log={}", netlog.display()),
    ]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let shot_out = common(&[format!("--screenshot={}", shot.display())]);
    assert!(shot_out.status.success());
    assert!(
        std::fs::metadata(shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "no screenshot at {}",
        shot.display()
    );
    // every request the page made: none may leave the file. The browser's
    // own background requests carry the initiator "not an origin" in the
    // net log; a request made by the page carries the page's origin.
    let text = std::fs::read_to_string(&netlog).unwrap_or_default();
    let trimmed = text.trim_end().trim_end_matches(',');
    let v: serde_json::Value = serde_json::from_str(trimmed)
        .or_else(|_| serde_json::from_str(&format!("{trimmed}]}}")))
        .expect("chromium's net log parses");
    let mut page_requests = 0;
    for e in v["events"].as_array().into_iter().flatten() {
        let p = &e["params"];
        if let (Some(url), Some(init)) = (p["url"].as_str(), p["initiator"].as_str()) {
            if init != "not an origin" {
                page_requests += 1;
                assert!(
                    url.starts_with("file:") || url.starts_with("data:"),
                    "the page requested {url} (initiator {init})"
                );
            }
        }
    }
    eprintln!("requests made by the page: {page_requests}");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&dom.stderr),
        String::from_utf8_lossy(&shot_out.stderr)
    );
    (String::from_utf8_lossy(&dom.stdout).into_owned(), log)
}

fn check_page(browser: &str, page: &Path, name: &str, min_figures: usize) {
    let shot = artifacts().join(format!("{name}.png"));
    let (dom, log) = load(browser, page, &shot);
    for line in log.lines() {
        assert!(
            !(line.contains("CONSOLE") && (line.contains("ERROR") || line.contains("error"))),
            "console error: {line}"
        );
    }
    assert!(dom.contains("<h1>"), "page did not render");
    let figures: Vec<&str> = dom.split("<figure").skip(1).collect();
    assert!(figures.len() >= min_figures, "{} figures", figures.len());
    for (k, f) in figures.iter().enumerate() {
        let body = &f[..f.find("</figure>").unwrap()];
        assert!(body.contains("<svg"), "figure {k} has no SVG");
        let marks = body.matches("<circle").count() + body.matches("<path d=\"M").count();
        assert!(marks >= 2, "figure {k} has no drawn content");
        assert!(body.contains("<title"), "figure {k} has no title");
        assert!(body.contains("<figcaption>"), "figure {k} has no caption");
    }
    assert!(!dom.contains("<script"), "the report runs no scripts");
    assert!(
        !dom.contains("http://") && !dom.contains("https://")
            || dom.contains("http://www.w3.org/2000/svg")
    );
    eprintln!("screenshot: {}", shot.display());
}

const STUDY: &str = r#"
name = "report-study"
[train]
data = "synth"
context = 32
batch = 8
[schedule]
evals = 3
checkpoints = 2
[design]
total_flops = 3e11
budgets = 3
decades = 1.0
sizes = 4
spread = 3.0
tokens_per_param = 60
[study]
bootstrap = 60
"#;

#[test]
fn study_report_renders_in_a_browser() {
    let root = tmpdir("report");
    let f = root.join("study.toml");
    std::fs::write(&f, STUDY).unwrap();
    let out = root.join("study");
    ok(&scalelab(&[
        "study",
        &f.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--quiet",
    ]));
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // provenance: the inputs with their SHA-256, the version, the seed
    assert!(html.contains("SHA-256"));
    assert!(html.contains("runs.csv"));
    assert!(html.contains("scalelab 0."));
    assert!(html.contains("Backtest"));
    assert!(html.contains("entropy rate"));
    // single figures as SVG and PNG
    for (kind, file) in [
        ("isoflop-n", "iso.svg"),
        ("frontier-n", "frontier.png"),
        ("curves", "curves.svg"),
        ("regimes", "regimes.png"),
    ] {
        let p = root.join(file);
        ok(&scalelab(&[
            "plot",
            kind,
            &out.display().to_string(),
            "-o",
            &p.display().to_string(),
        ]));
        let bytes = std::fs::read(&p).unwrap();
        if file.ends_with(".png") {
            assert_eq!(&bytes[1..4], b"PNG");
            assert!(bytes.len() > 10_000, "{file} is nearly empty");
        } else {
            let s = String::from_utf8(bytes).unwrap();
            assert!(
                s.starts_with("<svg") && s.contains("<circle") || s.contains("<path d=\"M"),
                "{file}"
            );
        }
    }
    // bad input is named
    let bad = scalelab(&[
        "plot",
        "residuals",
        &out.join("runs.csv").display().to_string(),
        "-o",
        "x.svg",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("needs a fit"));
    let bad = scalelab(&[
        "plot",
        "isoflop-n",
        &out.display().to_string(),
        "-o",
        "x.gif",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".svg or .png"));
    if let Some(b) = chromium() {
        check_page(b, &page, "study-report", 7);
    }
}

#[test]
fn chinchilla_report_renders_in_a_browser() {
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/chinchilla_epoch_svg/svg_extracted_data.csv");
    assert!(
        csv.exists(),
        "{} is missing (the repository carries it)",
        csv.display()
    );
    let root = tmpdir("report-chin");
    let fit = root.join("fit.json");
    ok(&scalelab(&[
        "fit",
        &csv.display().to_string(),
        "--params-col",
        "Model Size",
        "--flops-col",
        "Training FLOP",
        "--where",
        "loss < 3.4469",
        "--bootstrap",
        "200",
        "--rollout",
        "--quiet",
        "--out",
        &fit.display().to_string(),
    ]));
    let page = root.join("report.html");
    ok(&scalelab(&[
        "report",
        &fit.display().to_string(),
        "-o",
        &page.display().to_string(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("svg_extracted_data.csv"),
        "the fit's table is found and hashed"
    );
    assert!(html.contains("Chinchilla (Hoffmann et al. 2022)"));
    // The rollout's figure and table, and the parameters' correlations.
    assert!(
        html.contains("Rollout backtest: error against extrapolation distance"),
        "no rollout figure"
    );
    assert!(html.contains("decades beyond the cut"), "no rollout table");
    assert!(html.contains("Bootstrap correlations of the parameters"));
    assert!(
        html.contains("excluded from the fit")
            || html.contains("5 runs excluded")
            || html.contains("loss &lt; 3.4469")
    );
    if let Some(b) = chromium() {
        check_page(b, &page, "chinchilla-report", 6);
    }
}

#[test]
fn abilities_report_renders_in_a_browser() {
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/pythia_evals/pythia_v1_zero_shot_tidy.csv");
    assert!(
        csv.exists(),
        "{} is missing (the repository carries it)",
        csv.display()
    );
    let root = tmpdir("report-emerge");
    let e = root.join("emerge.json");
    ok(&scalelab(&[
        "emerge",
        &csv.display().to_string(),
        "--scale-col",
        "params_nonembedding",
        "--where",
        "step == 143000 and deduped == 0",
        "--bootstrap",
        "100",
        "--out",
        &e.display().to_string(),
    ]));
    let page = root.join("report.html");
    ok(&scalelab(&[
        "report",
        &e.display().to_string(),
        "-o",
        &page.display().to_string(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Abilities across scale"));
    assert!(html.contains("lambada_openai: acc against params_nonembedding"));
    assert!(html.contains("smooth improvement"));
    // discrete and continuous panels
    let p = root.join("ability.svg");
    ok(&scalelab(&[
        "plot",
        "ability",
        &e.display().to_string(),
        "--task",
        "lambada_openai",
        "-o",
        &p.display().to_string(),
    ]));
    assert!(std::fs::read_to_string(&p).unwrap().contains("threshold"));
    let bad = scalelab(&[
        "plot",
        "ability",
        &e.display().to_string(),
        "--task",
        "nope",
        "-o",
        "x.svg",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--task nope: not in"));
    if let Some(b) = chromium() {
        // 8 tasks, and the continuous panel of LAMBADA (the one task with ppl)
        check_page(b, &page, "abilities-report", 9);
    }
}

#[test]
fn a_broken_fit_file_is_refused_with_its_name_not_ignored() {
    let root = tmpdir("report-badfit");
    let fit = root.join("fit.json");
    // the right schema, but a parameter missing
    std::fs::write(
        &fit,
        r#"{"schema": "scalelab.fit/1", "law": "chinchilla",
            "params": {"E": 1.8, "A": 480, "B": 2100, "beta": 0.37}}"#,
    )
    .unwrap();
    let page = root.join("report.html");
    let o = scalelab(&[
        "report",
        &fit.display().to_string(),
        "-o",
        &page.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("fit.json") && err.contains("`params.alpha`"),
        "{err}"
    );
    assert!(!page.exists(), "no report from a broken fit");
    std::fs::remove_dir_all(&root).unwrap();
}
