//! Prints the μP coordinate-check table of docs/mup.md: per width, the mean
//! absolute change of the logits, the final residual stream and the last
//! attention output after 4 AdamW steps at lr 1e-2 (random tokens,
//! vocabulary 64), under standard parametrisation and under μP (base width
//! 32), for seeds 0, 1 and 2.
//!
//!     cargo run --release -p scalelab-engine --example coord_check

use scalelab_engine::data::RandomTokens;
use scalelab_engine::mup::{coord_check, CoordCheckConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| seed | parametrisation | width | Δ logits | Δ residual | Δ attn out | growth 256/32 (logits) |");
    println!("|---|---|---|---|---|---|---|");
    for seed in [0, 1, 2] {
        for mup in [false, true] {
            let cfg = CoordCheckConfig::documented(seed, mup);
            let c = coord_check(&cfg, &mut RandomTokens::new(64, seed))?;
            for (i, r) in c.rows.iter().enumerate() {
                let growth = if i + 1 == c.rows.len() {
                    format!("{:.2}", c.logit_growth())
                } else {
                    String::new()
                };
                println!(
                    "| {seed} | {} | {} | {:.4} | {:.4} | {:.4} | {growth} |",
                    c.parametrization, r.width, r.logits, r.residual, r.attn_out
                );
            }
        }
    }
    Ok(())
}
