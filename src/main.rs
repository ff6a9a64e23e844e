//! Thin entry point: parse, run, map errors to exit codes (as ripgrep does).

use clap::Parser;

use currents2mixpanel::cli::Cli;
use currents2mixpanel::error::{UsageError, is_broken_pipe};
use currents2mixpanel::exit_codes::ExitCode;

fn main() -> std::process::ExitCode {
    quiet_panics();
    let cli = Cli::parse();
    match currents2mixpanel::commands::dispatch(cli) {
        Ok(code) => code.into(),
        // The reader of stdout went away (`| head`): not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::Success.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() { ExitCode::Usage } else { ExitCode::Fatal }.into()
        }
    }
}

/// A panic is a bug: print one line, never a backtrace. Decoder panics are caught per file and
/// reported as that file's failure, so they stay silent here.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        if thread.name() != Some("main") {
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("error: internal error (a bug, please report it): {message}");
    }));
}
