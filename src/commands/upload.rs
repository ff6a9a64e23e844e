//! `upload`: Currents files → Mixpanel `/import` (stub).

use anyhow::Result;

use crate::cli::UploadArgs;
use crate::exit_codes::ExitCode;
use crate::signals::Interrupt;

pub fn run(_args: UploadArgs, _interrupt: &Interrupt) -> Result<ExitCode> {
    anyhow::bail!("upload is not implemented yet")
}
