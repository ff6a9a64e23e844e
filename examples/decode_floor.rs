//! The decode floor: the tool's own Avro reader turning files into JSON lines with no mapping
//! (each record → `Record::write_json`, nulls included), single-threaded. The benchmark compares
//! `convert --threads 1` against this: the difference is what the transform and pipeline cost.
//!
//! Usage: `decode_floor OUT INPUT...` (folders are searched recursively for `*.avro`, sorted).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use currents2mixpanel::avro::{self, AvroFile};

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect(&entry?.path(), out)?;
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, inputs @ ..] = &args[..] else {
        return Err("usage: decode_floor OUT INPUT...".into());
    };
    let mut files = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            let mut found = Vec::new();
            collect(path, &mut found)?;
            files.extend(found.into_iter().filter(|p| p.extension().is_some_and(|e| e == "avro")));
        } else {
            files.push(path.to_path_buf());
        }
    }
    files.sort();
    files.dedup();

    avro::init();
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let mut line = Vec::with_capacity(64 * 1024);
    let mut records: u64 = 0;
    for path in &files {
        let mut file = AvroFile::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let names = file.field_names.clone();
        while let Some(record) = file.next_record() {
            let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
            line.clear();
            record.write_json(&names, &mut line);
            line.push(b'\n');
            writer.write_all(&line)?;
            records += 1;
        }
    }
    writer.flush()?;
    eprintln!("decode_floor: {records} records from {} files", files.len());
    Ok(())
}
