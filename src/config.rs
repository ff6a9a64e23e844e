//! Validated run configuration: the command line checked and turned into what the run uses.
//! Mistakes in the flags are [`UsageError`]s (exit 2); unreadable inputs are fatal (exit 1).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::cli::CommonArgs;
use crate::error::UsageError;
use crate::input::{self, InputFile};
use crate::output;
use crate::pipeline::Settings;
use crate::selection::Selection;
use crate::timestamp;
use crate::transform::{REQUIRED_PROPERTIES, TransformOptions};

/// Seconds since the Unix epoch, read once per run and passed down.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Everything `convert` and `upload` share, validated.
#[derive(Debug)]
pub struct Common {
    pub files: Vec<InputFile>,
    pub settings: Settings,
    pub threads: usize,
    pub rejects: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub quiet: bool,
    pub no_progress: bool,
}

impl Common {
    /// `outputs` are the files this run will write besides rejects and report (`-o`).
    pub fn from_args(args: &CommonArgs, now: i64, outputs: &[Option<&Path>]) -> Result<Common> {
        let since = parse_time("--since", args.since.as_deref(), now)?;
        let until = parse_time("--until", args.until.as_deref(), now)?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            bail!(UsageError::new("--since must be before --until"));
        }
        for name in &args.drop_property {
            if REQUIRED_PROPERTIES.contains(&name.as_str()) {
                bail!(UsageError::new(format!(
                    "--drop-property {name}: distinct_id, time and $insert_id are required by Mixpanel"
                )));
            }
        }
        let selection = Selection::new(&args.events, &args.exclude_events)
            .map_err(|e| UsageError::new(format!("invalid --events/--exclude-events pattern: {e}")))?;
        let threads = match args.threads {
            Some(0) => bail!(UsageError::new("--threads must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let event_names = match &args.event_names {
            Some(path) => load_event_names(path)?,
            None => HashMap::new(),
        };
        let files = input::collect(&args.inputs).map_err(|e| match e {
            input::InputError::BadPattern { .. } => anyhow::Error::new(UsageError::new(e.to_string())),
            other => other.into(),
        })?;
        let outputs: Vec<&Path> = outputs
            .iter()
            .copied()
            .chain([args.rejects.as_deref(), args.report.as_deref(), args.state.as_deref()])
            .flatten()
            .collect();
        refuse_overwriting_inputs(&files, &outputs)?;
        for path in [&args.report, &args.state].into_iter().flatten() {
            output::check_folder_exists(path).with_context(|| format!("cannot write {}", path.display()))?;
        }

        let transform = TransformOptions {
            event_names,
            drop_properties: args.drop_property.iter().cloned().collect(),
            token: args.token.clone().filter(|t| !t.expose().is_empty()),
            since,
            until,
        };
        Ok(Common {
            files,
            settings: Settings { transform, selection, now, collect_rejects: args.rejects.is_some() },
            threads,
            rejects: args.rejects.clone(),
            report: args.report.clone(),
            state: args.state.clone(),
            quiet: args.quiet,
            no_progress: args.no_progress,
        })
    }
}

fn parse_time(flag: &str, value: Option<&str>, now: i64) -> Result<Option<i64>> {
    value
        .map(|v| timestamp::parse_instant(v, now).map_err(|e| UsageError::new(format!("{flag}: {e}")).into()))
        .transpose()
}

fn load_event_names(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read --event-names file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "--event-names file {} must be a JSON object of strings, {{\"<currents type>\": \"<mixpanel name>\"}}",
            path.display()
        )
    })
}

fn refuse_overwriting_inputs(files: &[InputFile], outputs: &[&Path]) -> Result<()> {
    for out in outputs {
        if let Some(file) = files.iter().find(|f| output::same_file(&f.path, out)) {
            bail!(UsageError::new(format!("{} is an input file; refusing to overwrite it", file.display())));
        }
    }
    Ok(())
}
