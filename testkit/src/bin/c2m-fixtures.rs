//! `c2m-fixtures`: write Currents-shaped Avro fixture trees and a broken-file corpus.
//!
//! Arguments are parsed by hand: the testkit deliberately has no CLI dependencies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use c2m_testkit::fixtures::{self, Codec, EdgeFile, TreeOptions, broken};
use serde_json::json;

const USAGE: &str = "\
usage:
  c2m-fixtures tree OUT_DIR [--seed N] [--files-per-type N] [--events-per-file N]
                            [--codecs null,deflate,python-deflate,snappy,zstandard,bzip2,xz]
                            [--types TYPE,TYPE] [--edge-cases] [--manifest FILE] [--verbose]
  c2m-fixtures broken OUT_DIR
  c2m-fixtures schema EVENT_TYPE        print the embedded Braze writer schema
  c2m-fixtures types [--all]            list the default-on (or all known) event types

tree defaults: --seed 42 --files-per-type 2 --events-per-file 200, all codecs, all default types.
--manifest writes what every edge-case file holds (records, labels, expected outcomes) as JSON.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = String::new();
    let result = run(&args, &mut out);
    // Written in one go at the end; a closed pipe (`| head`) is not an error.
    if let Err(e) = std::io::stdout().lock().write_all(out.as_bytes())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("c2m-fixtures: stdout: {e}");
        return ExitCode::FAILURE;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("c2m-fixtures: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Io(msg)) => {
            eprintln!("c2m-fixtures: {msg}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Io(String),
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

fn run(args: &[String], out: &mut String) -> Result<(), Failure> {
    let Some(cmd) = args.first() else {
        return Err(usage("missing command"));
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "tree" => tree(rest, out),
        "broken" => broken_corpus(rest, out),
        "schema" => {
            let [ty] = rest else {
                return Err(usage("schema takes one EVENT_TYPE"));
            };
            let s = fixtures::schema_json(ty).ok_or_else(|| usage(format!("no embedded schema for {ty:?}")))?;
            let _ = writeln!(out, "{s}");
            Ok(())
        }
        "types" => {
            let all = match rest {
                [] => false,
                [flag] if flag == "--all" => true,
                _ => return Err(usage("types takes only --all")),
            };
            let list: Vec<&str> = if all { fixtures::known_types() } else { fixtures::default_types().to_vec() };
            list.iter().for_each(|t| {
                let _ = writeln!(out, "{t}");
            });
            Ok(())
        }
        "-h" | "--help" | "help" => {
            let _ = writeln!(out, "{USAGE}");
            Ok(())
        }
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

/// The value after a `--flag`, or `--flag=value`.
fn take_value(flag: &str, inline: Option<&str>, it: &mut std::slice::Iter<'_, String>) -> Result<String, Failure> {
    match inline {
        Some(v) => Ok(v.to_string()),
        None => it.next().cloned().ok_or_else(|| usage(format!("{flag} needs a value"))),
    }
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, Failure> {
    v.parse().map_err(|_| usage(format!("{flag}: not a number: {v:?}")))
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn tree(args: &[String], text: &mut String) -> Result<(), Failure> {
    let mut opts = TreeOptions::default();
    let mut out: Option<PathBuf> = None;
    let mut manifest: Option<PathBuf> = None;
    let mut verbose = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        match flag {
            "--seed" => opts.seed = number(flag, &take_value(flag, inline, &mut it)?)?,
            "--files-per-type" => opts.files_per_type = number(flag, &take_value(flag, inline, &mut it)?)?,
            "--events-per-file" => opts.events_per_file = number(flag, &take_value(flag, inline, &mut it)?)?,
            "--codecs" => {
                opts.codecs = list(&take_value(flag, inline, &mut it)?)
                    .map(|c| c.parse::<Codec>().map_err(usage))
                    .collect::<Result<_, _>>()?;
            }
            "--types" => opts.types = list(&take_value(flag, inline, &mut it)?).map(String::from).collect(),
            "--manifest" => manifest = Some(PathBuf::from(take_value(flag, inline, &mut it)?)),
            "--edge-cases" => opts.edge_cases = true,
            "--verbose" | "-v" => verbose = true,
            f if f.starts_with('-') => return Err(usage(format!("unknown option {f:?}"))),
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => return Err(usage(format!("unexpected argument {arg:?}"))),
        }
    }
    let out = out.ok_or_else(|| usage("tree needs OUT_DIR"))?;
    if let Some(bad) = opts.types.iter().find(|t| fixtures::schema_json(t).is_none()) {
        return Err(usage(format!("no embedded schema for event type {bad:?} (see `c2m-fixtures types --all`)")));
    }

    let started = Instant::now();
    let summary = fixtures::generate_tree(&out, &opts).map_err(|e| Failure::Io(format!("{}: {e}", out.display())))?;
    for f in &summary.edge_cases {
        print_edge(text, f, &out, verbose);
    }
    if let Some(path) = &manifest {
        let text = serde_json::to_string_pretty(&manifest_json(&summary.edge_cases)).expect("JSON");
        std::fs::write(path, text + "\n").map_err(|e| Failure::Io(format!("{}: {e}", path.display())))?;
    }
    let codecs: Vec<String> = summary.codecs.iter().map(|(c, n)| format!("{c}={n}")).collect();
    let _ = writeln!(
        text,
        "wrote {} files, {} events, {} types, {:.1} MB to {} in {:.2}s (codecs: {}; edge-case files: {})",
        summary.files_written,
        summary.events_written,
        summary.per_type.len(),
        summary.bytes_written as f64 / 1e6,
        out.display(),
        started.elapsed().as_secs_f64(),
        codecs.join(" "),
        summary.edge_cases.len(),
    );
    Ok(())
}

fn relative<'a>(path: &'a Path, root: &Path) -> &'a Path {
    path.strip_prefix(root).unwrap_or(path)
}

fn print_edge(text: &mut String, f: &EdgeFile, root: &Path, verbose: bool) {
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for r in &f.records {
        *tally.entry(r.expect.to_string()).or_default() += 1;
    }
    let tally: Vec<String> = tally.iter().map(|(k, n)| format!("{k}={n}")).collect();
    let _ = writeln!(
        text,
        "edge  {}  [{}; {}; {}]  {}",
        relative(&f.path, root).display(),
        f.event_type,
        f.codec,
        tally.join(" "),
        f.about
    );
    if verbose {
        for (i, r) in f.records.iter().enumerate() {
            let _ = writeln!(text, "        #{i:<3} {:<40} {}", r.expect.to_string(), r.label.escape_debug());
        }
    }
}

fn manifest_json(files: &[EdgeFile]) -> serde_json::Value {
    json!(
        files
            .iter()
            .map(|f| json!({
                "path": f.path.display().to_string(),
                "event_type": f.event_type,
                "codec": f.codec.name(),
                "about": f.about,
                "records": f.records.iter().map(|r| json!({"label": r.label, "expect": r.expect.to_string()})).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>()
    )
}

fn broken_corpus(args: &[String], text: &mut String) -> Result<(), Failure> {
    let [dir] = args else {
        return Err(usage("broken takes one OUT_DIR"));
    };
    let dir = PathBuf::from(dir);
    let written = broken::write_corpus(&dir).map_err(|e| Failure::Io(format!("{}: {e}", dir.display())))?;
    for (path, b) in &written {
        let _ = writeln!(
            text,
            "broken  {}  ({} bytes, {} intact records)  {}",
            relative(path, &dir).display(),
            b.bytes.len(),
            b.intact_records,
            b.about
        );
    }
    let _ = writeln!(text, "wrote {} broken files to {}", written.len(), dir.display());
    Ok(())
}
