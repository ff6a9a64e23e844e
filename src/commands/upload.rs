//! `upload`: Currents files → Mixpanel's `/import` (or a dry run of it).

use std::time::Duration;

use anyhow::{Result, bail};

use crate::cli::UploadArgs;
use crate::commands;
use crate::config::{self, Common};
use crate::error::UsageError;
use crate::exit_codes::ExitCode;
use crate::import_api::{self, Auth, Client};
use crate::pipeline::Delivery;
use crate::secret::Secret;
use crate::signals::Interrupt;
use crate::sink::Sink;
use crate::sink::dry_run::DryRunSink;
use crate::sink::mixpanel::{MixpanelSink, UploadSettings};

/// Mixpanel accepts at most this many events per request.
const MAX_BATCH_EVENTS: usize = 2000;
/// Mixpanel accepts at most 10 MB (uncompressed) per request.
const MAX_BATCH_BYTES: usize = 10_000_000;

pub fn run(args: UploadArgs, interrupt: &Interrupt) -> Result<ExitCode> {
    validate(&args)?;
    let base =
        import_api::base_url(args.region, args.api_url.as_deref()).map_err(|e| UsageError::new(e.to_string()))?;
    let auth = auth(&args)?;
    let mut common = Common::from_args(&args.common, config::now(), &[])?;
    if matches!(auth, Some(Auth::ApiSecret(_))) && !common.quiet {
        eprintln!(
            "warning: Mixpanel retires project API secret authentication on 2027-03-03; \
             use a service account (--service-account USER:SECRET --project-id ID)"
        );
    }
    let destination = match &auth {
        Some(auth) => format!("{base} ({}) as {}", region_label(&args), auth.describe()),
        None => format!("{base} ({})", region_label(&args)),
    };
    // A dry run previews the first events in file order, as convert would write them.
    let delivery = if args.dry_run { Delivery::FileOrder } else { Delivery::Arrival };
    let mut report = commands::run_files(&mut common, !args.dry_run, delivery, interrupt, |common| {
        let sink: Box<dyn Sink> = match &auth {
            Some(auth) if !args.dry_run => {
                let settings = UploadSettings {
                    client: Client::new(&base, auth, !args.no_gzip, args.workers, Duration::from_secs(args.timeout)),
                    workers: args.workers,
                    batch_events: args.batch_events,
                    batch_bytes: args.batch_bytes,
                    max_retries: args.max_retries,
                    retry_base: Duration::from_millis(args.retry_base_ms),
                };
                let paths = common.files.iter().map(|f| f.display()).collect();
                Box::new(MixpanelSink::start(settings, paths, interrupt.shared_flag()))
            }
            _ => Box::new(DryRunSink::new(args.batch_events, args.batch_bytes, args.preview, destination.clone())),
        };
        Ok(sink)
    })?;
    if !args.dry_run {
        report.notes.push(format!("sent to {destination}"));
    }
    let code = commands::finish(&report, &common, "upload", interrupt)?;
    if let Some(fatal) = &report.fatal {
        bail!("{fatal}");
    }
    Ok(code)
}

fn validate(args: &UploadArgs) -> Result<()> {
    if args.batch_events == 0 || args.batch_events > MAX_BATCH_EVENTS {
        bail!(UsageError::new(format!("--batch-events must be between 1 and {MAX_BATCH_EVENTS}")));
    }
    if args.batch_bytes < 1_000_000 || args.batch_bytes > MAX_BATCH_BYTES {
        bail!(UsageError::new(format!("--batch-bytes must be between 1000000 and {MAX_BATCH_BYTES}")));
    }
    if args.workers == 0 {
        bail!(UsageError::new("--workers must be at least 1"));
    }
    if args.timeout == 0 {
        bail!(UsageError::new("--timeout must be at least 1 second"));
    }
    Ok(())
}

/// The credential that authenticates: service account, else secret, else token (SPEC §5).
/// `None` only for a dry run.
fn auth(args: &UploadArgs) -> Result<Option<Auth>> {
    let nonempty = |v: &Option<Secret>| v.clone().filter(|s| !s.expose().is_empty());
    if let Some(account) = nonempty(&args.service_account) {
        let Some((user, secret)) = account.expose().split_once(':') else {
            bail!(UsageError::new("--service-account must be USER:SECRET"));
        };
        let Some(project_id) = args.project_id.clone().filter(|p| !p.is_empty()) else {
            bail!(UsageError::new("--service-account needs --project-id (or MIXPANEL_PROJECT_ID)"));
        };
        return Ok(Some(Auth::ServiceAccount { user: user.to_string(), secret: Secret::new(secret), project_id }));
    }
    if let Some(secret) = nonempty(&args.secret) {
        return Ok(Some(Auth::ApiSecret(secret)));
    }
    if let Some(token) = nonempty(&args.common.token) {
        return Ok(Some(Auth::Token(token)));
    }
    if args.dry_run {
        return Ok(None);
    }
    bail!(UsageError::new(
        "no Mixpanel credentials: give --service-account USER:SECRET with --project-id (recommended), \
         --secret, or --token (or their MIXPANEL_* environment variables)"
    ))
}

fn region_label(args: &UploadArgs) -> String {
    if args.api_url.is_some() {
        return "custom --api-url".to_string();
    }
    format!("region {:?}", args.region).to_lowercase()
}
