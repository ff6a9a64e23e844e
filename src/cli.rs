//! The command line (clap derive): one `Args` struct per subcommand, shared options flattened in.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::secret::Secret;

#[derive(Debug, Parser)]
#[command(
    name = "currents2mixpanel",
    version,
    about = "Convert Braze Currents Avro exports into Mixpanel events: NDJSON, or straight to Mixpanel's /import",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert Currents files into Mixpanel NDJSON (stdout or -o FILE)
    Convert(ConvertArgs),
    /// Upload Currents files to Mixpanel's /import API
    Upload(UploadArgs),
    /// Summarise Currents files: types, files, events, time range, codecs, fields
    Inspect(InspectArgs),
    /// List the known Currents event types, their Mixpanel names and default selection
    Events(EventsArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man,
}

/// Options shared by `convert` and `upload`.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Currents files, folders (every *.avro below) or quoted glob patterns
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Convert only event types matching GLOB (repeatable), e.g. 'users.messages.email.*'
    #[arg(long = "events", value_name = "GLOB", help_heading = "Selection")]
    pub events: Vec<String>,

    /// Leave out event types matching GLOB (repeatable)
    #[arg(long = "exclude-events", value_name = "GLOB", help_heading = "Selection")]
    pub exclude_events: Vec<String>,

    /// Only events at or after TIME: 2026-11-01, 2026-11-01T06:00:00Z, or relative: 36h, 7d
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    pub since: Option<String>,

    /// Only events before TIME (same forms as --since)
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    pub until: Option<String>,

    /// JSON map {"<currents type>": "<mixpanel name>"} overriding the catalogue; {name} = the record's name
    #[arg(long, value_name = "FILE", help_heading = "Mapping")]
    pub event_names: Option<PathBuf>,

    /// Remove the property NAME (as named in Mixpanel) from every event (repeatable)
    #[arg(long = "drop-property", value_name = "NAME", help_heading = "Mapping")]
    pub drop_property: Vec<String>,

    /// Mixpanel project token: added to every event as `token` (and used to authenticate uploads)
    #[arg(long, env = "MIXPANEL_TOKEN", hide_env_values = true, value_name = "TOKEN", help_heading = "Mapping")]
    pub token: Option<Secret>,

    /// Write every rejected or failed event to FILE (NDJSON, with reason and message)
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub rejects: Option<PathBuf>,

    /// Write the run report to FILE (JSON)
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report: Option<PathBuf>,

    /// Skip input files already done by an earlier run, and record the ones this run settles
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub state: Option<PathBuf>,

    /// Files converted in parallel [default: all cores]
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,

    /// Print only errors (no summary, no progress)
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// No progress bar or progress lines
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Write NDJSON to FILE (`.gz` gzips; `-` is stdout) [default: stdout]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    /// api.mixpanel.com
    Us,
    /// api-eu.mixpanel.com (EU data residency)
    Eu,
    /// api-in.mixpanel.com (India data residency)
    In,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Your project's data residency; EU and India projects ingest nothing sent to the US host
    #[arg(long, value_enum, default_value = "us", help_heading = "Mixpanel")]
    pub region: Region,

    /// Base URL instead of the region's host (http:// only for loopback)
    #[arg(long, value_name = "URL", help_heading = "Mixpanel")]
    pub api_url: Option<String>,

    /// Service account USER:SECRET (recommended; needs --project-id)
    #[arg(
        long,
        env = "MIXPANEL_SERVICE_ACCOUNT",
        hide_env_values = true,
        value_name = "USER:SECRET",
        help_heading = "Mixpanel"
    )]
    pub service_account: Option<Secret>,

    /// Project id (with --service-account)
    #[arg(long, env = "MIXPANEL_PROJECT_ID", value_name = "ID", help_heading = "Mixpanel")]
    pub project_id: Option<String>,

    /// Project API secret (deprecated by Mixpanel; retired on 2027-03-03)
    #[arg(long, env = "MIXPANEL_API_SECRET", hide_env_values = true, value_name = "SECRET", help_heading = "Mixpanel")]
    pub secret: Option<Secret>,

    /// Convert and batch everything, send nothing; preview events on stdout
    #[arg(long, help_heading = "Mixpanel")]
    pub dry_run: bool,

    /// Events shown by --dry-run
    #[arg(long, value_name = "N", default_value_t = 5, help_heading = "Mixpanel")]
    pub preview: usize,

    /// Requests in flight
    #[arg(long, value_name = "N", default_value_t = 10, help_heading = "Batching and retries")]
    pub workers: usize,

    /// Events per request (Mixpanel's maximum is 2000)
    #[arg(long, value_name = "N", default_value_t = 2000, help_heading = "Batching and retries")]
    pub batch_events: usize,

    /// Uncompressed bytes per request (Mixpanel's limit is 10 MB)
    #[arg(long, value_name = "BYTES", default_value_t = 9_500_000, help_heading = "Batching and retries")]
    pub batch_bytes: usize,

    /// Send request bodies uncompressed
    #[arg(long, help_heading = "Batching and retries")]
    pub no_gzip: bool,

    /// Retries of a batch after 429, 408, 5xx, resets and timeouts
    #[arg(long, value_name = "N", default_value_t = 10, help_heading = "Batching and retries")]
    pub max_retries: u32,

    /// First retry delay in milliseconds (doubles up to 60 s, plus jitter)
    #[arg(long, value_name = "MS", default_value_t = 2000, help_heading = "Batching and retries")]
    pub retry_base_ms: u64,

    /// Seconds to wait for Mixpanel's answer before retrying
    #[arg(long, value_name = "SECS", default_value_t = 60, help_heading = "Batching and retries")]
    pub timeout: u64,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Currents files, folders or quoted glob patterns
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Print the writer schema of event type TYPE (from its first file)
    #[arg(long, value_name = "TYPE")]
    pub schema: Option<String>,

    /// Read only headers and block counts: no time range, no user share
    #[arg(long)]
    pub fast: bool,

    /// Files read in parallel [default: all cores]
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn debug_of_parsed_arguments_never_shows_secrets() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "currents2mixpanel",
            "upload",
            "x",
            "--service-account",
            "bot:sa-SECRET",
            "--project-id",
            "1",
            "--secret",
            "api-SECRET",
            "--token",
            "tok-SECRET",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
