//! `inspect`: what is in an export (stub, filled in by the inspect issue).

use anyhow::Result;

use crate::cli::InspectArgs;
use crate::exit_codes::ExitCode;

pub fn run(_args: InspectArgs) -> Result<ExitCode> {
    anyhow::bail!("inspect is not implemented yet")
}
