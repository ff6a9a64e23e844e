//! `c2m-mock`: the mock Mixpanel `/import` server as a standalone process, for benchmarks and
//! manual runs. Prints `listening on http://127.0.0.1:PORT` on stdout, then serves until killed
//! or until stdin closes; a `stats` line on stdin prints the counters as JSON to stderr.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use c2m_testkit::mock::{ExpectedAuth, InsertIdKey, MockConfig, MockMixpanel};

const USAGE: &str = "\
usage: c2m-mock [--port N] [--fast]
                [--token T | --secret S | --service-account USER:SECRET --project-id P | --any-auth]
                [--max-events N] [--max-body-bytes N] [--reject-distinct-id ID]...
                [--dollar-insert-id] [--ignore-stdin]

  --fast             count lines only: no validation, no storage (throughput benchmarks)
  --ignore-stdin     serve until killed, even when stdin is closed or /dev/null
                     (background jobs of a non-interactive shell get /dev/null as stdin)
  Without an auth flag, any credentials are accepted.
  stdin: a line `stats` prints the counters as JSON to stderr; end of input stops the server.";

struct Args {
    port: u16,
    config: MockConfig,
    ignore_stdin: bool,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("c2m-mock: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mock = match MockMixpanel::start_on(&format!("127.0.0.1:{}", args.port), args.config) {
        Ok(mock) => mock,
        Err(e) => {
            eprintln!("c2m-mock: cannot listen on port {}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = io::stdout();
    let _ = writeln!(stdout, "listening on {}", mock.url());
    let _ = stdout.flush();
    if args.ignore_stdin {
        loop {
            std::thread::park();
        }
    }
    for line in io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "stats" => print_stats(&mock),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    print_stats(&mock);
    ExitCode::SUCCESS
}

fn print_stats(mock: &MockMixpanel) {
    let stats = serde_json::to_string(&mock.stats()).unwrap_or_default();
    eprintln!("{stats}");
}

/// `Ok(None)` means `--help`.
fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args { port: 0, config: MockConfig::default(), ignore_stdin: false };
    let (mut service_account, mut project_id) = (None, None);
    let mut auths = 0;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => args.port = number(&flag, &value()?)?,
            "--fast" => args.config.validate = false,
            "--ignore-stdin" => args.ignore_stdin = true,
            "--dollar-insert-id" => args.config.insert_id_key = InsertIdKey::DollarInsertId,
            "--max-events" => args.config.max_events_per_request = number(&flag, &value()?)?,
            "--max-body-bytes" => args.config.max_body_bytes = number(&flag, &value()?)?,
            "--reject-distinct-id" => args.config.reject_distinct_ids.push(value()?),
            "--token" => (args.config.auth, auths) = (ExpectedAuth::Token(value()?), auths + 1),
            "--secret" => (args.config.auth, auths) = (ExpectedAuth::Secret(value()?), auths + 1),
            "--any-auth" => (args.config.auth, auths) = (ExpectedAuth::Any, auths + 1),
            "--service-account" => (service_account, auths) = (Some(value()?), auths + 1),
            "--project-id" => project_id = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if auths > 1 {
        return Err("give at most one of --token, --secret, --service-account, --any-auth".into());
    }
    if let Some(sa) = service_account {
        let (user, secret) = sa.split_once(':').ok_or("--service-account must be USER:SECRET")?;
        let project_id = project_id.ok_or("--service-account needs --project-id")?;
        args.config.auth = ExpectedAuth::ServiceAccount { user: user.into(), secret: secret.into(), project_id };
    } else if project_id.is_some() {
        return Err("--project-id only goes with --service-account".into());
    }
    Ok(Some(args))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: invalid number {value:?}"))
}
