//! One module per subcommand (as xsv); this file holds what they share.

pub mod completions;
pub mod convert;
pub mod events;
pub mod inspect;
pub mod upload;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command};
use crate::config::Common;
use crate::exit_codes::ExitCode;
use crate::output::{self, RejectsFile};
use crate::pipeline::Delivery;
use crate::progress::Progress;
use crate::report::Report;
use crate::run::{self, Run};
use crate::signals::Interrupt;
use crate::sink::Sink;
use crate::state::Ledger;

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    crate::avro::init();
    match cli.command {
        Command::Convert(args) => convert::run(args, &Interrupt::install()?),
        Command::Upload(args) => upload::run(args, &Interrupt::install()?),
        Command::Inspect(args) => inspect::run(args),
        Command::Events(args) => events::run(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man => completions::man(),
    }
}

/// Loads the `--state` ledger and takes the files it has already settled out of the run;
/// returns the ledger and how many files it took out.
pub(crate) fn apply_state(common: &mut Common) -> Result<(Option<Ledger>, u64)> {
    let Some(path) = &common.state else { return Ok((None, 0)) };
    let ledger = Ledger::load(path)?;
    let before = common.files.len();
    common.files.retain(|f| !ledger.contains(f));
    Ok((Some(ledger), (before - common.files.len()) as u64))
}

/// Runs the files through `sink` (convert and upload alike): rejects, state and the report.
pub(crate) fn run_files(
    common: &mut Common,
    use_state: bool,
    delivery: Delivery,
    interrupt: &Interrupt,
    sink: impl FnOnce(&Common) -> Result<Box<dyn Sink>>,
) -> Result<Report> {
    let (mut ledger, already_done) = if use_state { apply_state(common)? } else { (None, 0) };
    if common.files.is_empty() && !common.quiet {
        eprintln!("warning: no input files");
    }
    let sink = sink(common)?;
    let mut rejects = RejectsFile::open(common.rejects.as_deref()).context("cannot create the rejects file")?;
    let bytes = common.files.iter().map(|f| f.size).sum();
    let mut progress = Progress::new(common.files.len() as u64, bytes, common.quiet, common.no_progress);
    let run = Run {
        files: &common.files,
        delivery,
        settings: &common.settings,
        threads: common.threads,
        stop: interrupt.flag(),
        progress: &mut progress,
        ledger: ledger.as_mut(),
    };
    let (report, result) = run::execute(run, sink, &mut rejects);
    result?;
    rejects.commit().context("cannot write the rejects file")?;
    if let Some(ledger) = ledger.as_mut() {
        ledger.save()?;
    }
    Ok(Report { files_already_done: already_done, ..report })
}

/// Writes the report file, prints the summary and picks the exit code.
pub(crate) fn finish(report: &Report, common: &Common, command: &str, interrupt: &Interrupt) -> Result<ExitCode> {
    if let Some(path) = &common.report {
        let mut json = serde_json::to_vec_pretty(&report.to_json()).expect("serialisable");
        json.push(b'\n');
        output::write_atomically(path, &json).with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    if !common.quiet {
        eprint!("{}", report.summary(command));
    }
    if let Err(broken) = report.check_invariants() {
        // Should be impossible; if it ever happens, say so loudly rather than exit 0.
        anyhow::bail!("internal accounting error, please report it: {broken}");
    }
    if let Some(code) = interrupt.exit_code() {
        eprintln!("{command}: stopped by a signal; outputs, report and state were written for what was done");
        return Ok(code);
    }
    Ok(if report.has_failures() { ExitCode::Partial } else { ExitCode::Success })
}
