//! `convert`: Currents files → Mixpanel NDJSON on stdout or in a file.

use anyhow::{Context, Result};

use crate::cli::ConvertArgs;
use crate::commands;
use crate::config::{self, Common};
use crate::error::UsageError;
use crate::exit_codes::ExitCode;
use crate::output::{Output, RejectsFile};
use crate::pipeline::Delivery;
use crate::report::Report;
use crate::run::{self, Run};
use crate::signals::Interrupt;
use crate::sink::ndjson::NdjsonSink;

pub fn run(args: ConvertArgs, interrupt: &Interrupt) -> Result<ExitCode> {
    let output_path = args.output.as_deref().filter(|p| *p != std::path::Path::new("-"));
    if args.common.state.is_some() && output_path.is_none() {
        anyhow::bail!(UsageError::new("--state needs -o FILE: stdout cannot tell which files were written for good"));
    }
    let mut common = Common::from_args(&args.common, config::now(), &[output_path])?;
    let mut report = Report::default();
    let mut ledger = commands::apply_state(&mut common, &mut report)?;
    if common.files.is_empty() && !common.quiet {
        eprintln!("warning: no input files to convert");
    }

    let output = Output::open(args.output.as_deref()).with_context(|| {
        format!("cannot create {}", output_path.map_or("stdout".into(), |p| p.display().to_string()))
    })?;
    let mut rejects = RejectsFile::open(common.rejects.as_deref()).context("cannot create the rejects file")?;
    let mut progress = commands::progress_for(&common);
    let run = Run {
        files: &common.files,
        delivery: Delivery::FileOrder,
        settings: &common.settings,
        threads: common.threads,
        stop: interrupt.flag(),
        progress: &mut progress,
        ledger: ledger.as_mut(),
    };
    let (run_report, result) = run::execute(run, Box::new(NdjsonSink::new(output)), &mut rejects);
    result?;
    rejects.commit().context("cannot write the rejects file")?;
    if let Some(ledger) = ledger.as_mut() {
        ledger.save()?;
    }
    report = Report { files_already_done: report.files_already_done, ..run_report };
    commands::finish(&report, &common, "convert", interrupt)
}
