//! `scalelab fit` (being built).
#[derive(clap::Args, Debug)]
pub struct Args {}
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("scalelab fit is not implemented yet")
}
