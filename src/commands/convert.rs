//! `convert`: Currents files → Mixpanel NDJSON on stdout or in a file.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::ConvertArgs;
use crate::commands;
use crate::config::{self, Common};
use crate::error::UsageError;
use crate::exit_codes::ExitCode;
use crate::output::Output;
use crate::pipeline::Delivery;
use crate::signals::Interrupt;
use crate::sink::ndjson::NdjsonSink;

pub fn run(args: ConvertArgs, interrupt: &Interrupt) -> Result<ExitCode> {
    let output_path = args.output.as_deref().filter(|p| *p != Path::new("-"));
    if args.common.state.is_some() && output_path.is_none() {
        anyhow::bail!(UsageError::new("--state needs -o FILE: stdout cannot tell which files were written for good"));
    }
    let mut common = Common::from_args(&args.common, config::now(), &[output_path])?;
    let report = commands::run_files(&mut common, true, Delivery::FileOrder, interrupt, |_| {
        let output = Output::open(args.output.as_deref()).with_context(|| {
            format!("cannot create {}", output_path.map_or("stdout".into(), |p| p.display().to_string()))
        })?;
        Ok(Box::new(NdjsonSink::new(output)))
    })?;
    commands::finish(&report, &common, "convert", interrupt)
}
