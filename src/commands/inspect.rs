//! `inspect`: what an export holds, per event type: files, events, time range, codecs, share
//! of events without `external_user_id`, Mixpanel names, and the union of fields with their
//! types (fields found in only some files reveal schema changes). `--fast` reads only headers
//! and block counts.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde_json::json;

use crate::avro::AvroFile;
use crate::catalogue;
use crate::cli::InspectArgs;
use crate::exit_codes::ExitCode;
use crate::input::{self, InputFile};
use crate::record::Value;
use crate::report::thousands;
use crate::timestamp::format_utc;
use crate::transform::{self, CUSTOM_EVENT, TransformOptions};

/// Distinct custom event names listed per type, at most.
const MAX_NAMES: usize = 20;

/// What one file holds.
#[derive(Debug, Default)]
struct FileFacts {
    event_type: String,
    codec: String,
    schema_json: String,
    fields: Vec<(String, String)>,
    events: u64,
    time_range: Option<(i64, i64)>,
    without_user: u64,
    names: BTreeSet<String>,
    error: Option<String>,
}

/// What one event type holds, over its files.
#[derive(Debug, Default)]
struct TypeFacts {
    files: u64,
    /// Files whose header (and so whose fields) could be read.
    with_schema: u64,
    events: u64,
    time_range: Option<(i64, i64)>,
    without_user: u64,
    codecs: BTreeMap<String, u64>,
    /// Field → type → number of files.
    fields: Vec<(String, BTreeMap<String, u64>)>,
    names: BTreeSet<String>,
}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let files = input::collect(&args.inputs)?;
    if let Some(event_type) = &args.schema {
        return print_schema(&files, event_type);
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().context("starting threads")?;
    let facts: Vec<FileFacts> = pool.install(|| files.par_iter().map(|f| read_facts(f, args.fast)).collect());

    let mut types: BTreeMap<String, TypeFacts> = BTreeMap::new();
    let mut failed = Vec::new();
    for (file, facts) in files.iter().zip(facts) {
        if let Some(error) = &facts.error {
            failed.push((file.display(), error.clone()));
        }
        if !facts.event_type.is_empty() {
            merge(types.entry(facts.event_type.clone()).or_default(), facts);
        }
    }
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &to_json(&types, &failed, args.fast))?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &types, &failed, args.fast)?;
    }
    out.flush()?;
    Ok(if failed.is_empty() { ExitCode::Success } else { ExitCode::Partial })
}

fn print_schema(files: &[InputFile], event_type: &str) -> Result<ExitCode> {
    for file in files {
        if file.event_type.as_deref().is_some_and(|t| t != event_type) {
            continue;
        }
        let Ok(avro) = AvroFile::open(&file.path) else { continue };
        let this_type = file.event_type.clone().unwrap_or_else(|| avro.event_type_from_schema().to_string());
        if this_type == event_type {
            let schema: serde_json::Value =
                serde_json::from_str(&avro.schema_json).context("the schema is not JSON")?;
            println!("{}", serde_json::to_string_pretty(&schema)?);
            return Ok(ExitCode::Success);
        }
    }
    bail!("no readable file of event type {event_type} among the inputs")
}

fn read_facts(input: &InputFile, fast: bool) -> FileFacts {
    let mut facts = FileFacts::default();
    let mut avro = match AvroFile::open(&input.path) {
        Ok(avro) => avro,
        Err(e) => {
            facts.event_type = input.event_type.clone().unwrap_or_default();
            facts.error = Some(e.to_string());
            return facts;
        }
    };
    facts.event_type = input.event_type.clone().unwrap_or_else(|| avro.event_type_from_schema().to_string());
    facts.codec = avro.codec.clone();
    facts.schema_json = avro.schema_json.clone();
    facts.fields = avro.field_names.iter().cloned().zip(avro.field_types.iter().cloned()).collect();
    if fast {
        match AvroFile::count_records(&input.path) {
            Ok(n) => facts.events = n,
            Err(e) => facts.error = Some(e.to_string()),
        }
        return facts;
    }
    let position = |name: &str| avro.field_names.iter().position(|f| f == name);
    let (time, user, name) = (position("time"), position("external_user_id"), position("name"));
    let custom = facts.event_type == CUSTOM_EVENT;
    while let Some(next) = avro.next_record() {
        let record = match next {
            Ok(record) => record,
            Err(e) => {
                facts.error = Some(e.to_string());
                break;
            }
        };
        facts.events += 1;
        if let Some(Value::Int(t)) = record.get(time) {
            let (lo, hi) = facts.time_range.unwrap_or((t, t));
            facts.time_range = Some((lo.min(t), hi.max(t)));
        }
        let has_user = match record.get(user) {
            Some(Value::Str(span)) => !record.text(span).is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        facts.without_user += u64::from(!has_user);
        if custom
            && facts.names.len() < MAX_NAMES
            && let Some(Value::Str(span)) = record.get(name)
        {
            facts.names.insert(String::from_utf8_lossy(record.text(span)).into_owned());
        }
    }
    facts
}

fn merge(t: &mut TypeFacts, f: FileFacts) {
    t.files += 1;
    t.with_schema += u64::from(!f.fields.is_empty());
    t.events += f.events;
    t.without_user += f.without_user;
    if !f.codec.is_empty() {
        *t.codecs.entry(f.codec).or_default() += 1;
    }
    if let Some((lo, hi)) = f.time_range {
        let (a, b) = t.time_range.unwrap_or((lo, hi));
        t.time_range = Some((a.min(lo), b.max(hi)));
    }
    for (name, ty) in f.fields {
        match t.fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, types)) => *types.entry(ty).or_default() += 1,
            None => t.fields.push((name, BTreeMap::from([(ty, 1)]))),
        }
    }
    t.names.extend(f.names);
    while t.names.len() > MAX_NAMES {
        t.names.pop_last();
    }
}

fn mixpanel_names(event_type: &str, t: &TypeFacts) -> Vec<String> {
    let defaults = TransformOptions::default();
    let template = transform::event_name_template(event_type, &defaults);
    if template.contains("{name}") && !t.names.is_empty() {
        t.names.iter().map(|n| template.replace("{name}", n)).collect()
    } else {
        vec![template.to_string()]
    }
}

fn default_on(event_type: &str) -> bool {
    catalogue::lookup(event_type).is_some_and(|e| e.default_on)
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 * 1000.0 / whole as f64).round() / 10.0 }
}

fn to_json(types: &BTreeMap<String, TypeFacts>, failed: &[(String, String)], fast: bool) -> serde_json::Value {
    let types: Vec<_> = types
        .iter()
        .map(|(event_type, t)| {
            let fields: Vec<_> = t
                .fields
                .iter()
                .map(|(name, types)| {
                    let in_files: u64 = types.values().sum();
                    json!({"name": name, "types": types.keys().collect::<Vec<_>>(), "in_files": in_files, "in_all_files": in_files == t.with_schema})
                })
                .collect();
            json!({
                "event_type": event_type,
                "mixpanel_names": mixpanel_names(event_type, t),
                "selected_by_default": default_on(event_type),
                "files": t.files,
                "events": t.events,
                "time_min": if fast { None } else { t.time_range.map(|r| format_utc(r.0)) },
                "time_max": if fast { None } else { t.time_range.map(|r| format_utc(r.1)) },
                "without_external_user_id_percent": if fast { None } else { Some(share(t.without_user, t.events)) },
                "codecs": t.codecs,
                "schema_changes": t.fields.iter().any(|(_, types)| types.len() > 1 || types.values().sum::<u64>() != t.with_schema),
                "fields": fields,
            })
        })
        .collect();
    let failed: Vec<_> = failed.iter().map(|(path, why)| json!({"file": path, "error": why})).collect();
    json!({"event_types": types, "files_failed": failed})
}

fn write_table(
    out: &mut impl Write,
    types: &BTreeMap<String, TypeFacts>,
    failed: &[(String, String)],
    fast: bool,
) -> io::Result<()> {
    if types.is_empty() && failed.is_empty() {
        writeln!(out, "no Currents files found")?;
    }
    for (event_type, t) in types {
        let names = mixpanel_names(event_type, t);
        let shown = if names.len() > 3 {
            format!("{} and {} more", names[..3].join(", "), names.len() - 3)
        } else {
            names.join(", ")
        };
        let selected =
            if default_on(event_type) { "converted by default" } else { "not converted unless selected with --events" };
        writeln!(out, "{event_type} → {shown} ({selected})")?;
        let codecs: Vec<String> = t.codecs.iter().map(|(c, n)| format!("{c} {n}")).collect();
        write!(out, "  {} files, {} events, codecs: {}", thousands(t.files), thousands(t.events), codecs.join(", "))?;
        if !fast {
            match t.time_range {
                Some((lo, hi)) => write!(out, ", time {} .. {}", format_utc(lo), format_utc(hi))?,
                None => write!(out, ", no times")?,
            }
            write!(out, ", {}% without external_user_id", share(t.without_user, t.events))?;
        }
        writeln!(out)?;
        let fields: Vec<String> = t
            .fields
            .iter()
            .map(|(name, types)| {
                let in_files: u64 = types.values().sum();
                let ty: Vec<&str> = types.keys().map(String::as_str).collect();
                let partial = if in_files < t.with_schema {
                    format!(" [in {in_files} of {} files]", t.with_schema)
                } else {
                    String::new()
                };
                let changed = if types.len() > 1 { " [type changed]" } else { "" };
                format!("{name}: {}{partial}{changed}", ty.join(" | "))
            })
            .collect();
        writeln!(out, "  fields: {}", fields.join(", "))?;
    }
    if !failed.is_empty() {
        writeln!(out, "{} file(s) could not be read:", failed.len())?;
        for (path, why) in failed {
            writeln!(out, "  {path}: {why}")?;
        }
    }
    Ok(())
}
