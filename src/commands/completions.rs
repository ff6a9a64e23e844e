//! `completions` and `man`: generated from the clap definitions, so they never drift.

use std::io;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit_codes::ExitCode;

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    clap_complete::generate(args.shell, &mut Cli::command(), "currents2mixpanel", &mut io::stdout());
    Ok(ExitCode::Success)
}

pub fn man() -> Result<ExitCode> {
    clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
    Ok(ExitCode::Success)
}
