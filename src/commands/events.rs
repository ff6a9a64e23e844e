//! `events`: the catalogue of known Currents event types.

use std::io::{self, Write};

use anyhow::Result;
use serde_json::json;

use crate::catalogue::CATALOGUE;
use crate::cli::EventsArgs;
use crate::exit_codes::ExitCode;

pub fn run(args: EventsArgs) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    if args.json {
        let rows: Vec<_> = CATALOGUE
            .iter()
            .map(|e| json!({"event_type": e.event_type, "mixpanel_name": e.mixpanel_name, "default": e.default_on}))
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        let width = CATALOGUE.iter().map(|e| e.event_type.len()).max().unwrap_or(0);
        writeln!(out, "{:<width$}  {:<7}  MIXPANEL NAME", "CURRENTS EVENT TYPE", "DEFAULT")?;
        for e in CATALOGUE {
            writeln!(
                out,
                "{:<width$}  {:<7}  {}",
                e.event_type,
                if e.default_on { "on" } else { "off" },
                e.mixpanel_name
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Success)
}
