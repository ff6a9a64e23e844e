//! Inputs → the sorted, de-duplicated list of Currents files to read.
//!
//! An input is a file, a folder (every `*.avro` below it) or a glob pattern. What the Braze
//! layout says about a file (`event_type=`, `date=`) is read off its path here.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::timestamp;

#[derive(Debug, Error)]
pub enum InputError {
    #[error("input not found: {0}")]
    NotFound(String),
    #[error("invalid glob pattern {pattern:?}: {message}")]
    BadPattern { pattern: String, message: String },
    #[error("cannot read {path}")]
    Io { path: String, source: io::Error },
}

/// One Currents file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    /// The innermost `event_type=` folder, if the path has one.
    pub event_type: Option<String>,
    /// Start (Unix seconds) of the innermost `date=YYYY-MM-DD-HH` folder's hour, if any.
    pub date_hour: Option<i64>,
    pub size: u64,
}

impl InputFile {
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

/// Expands inputs into files, sorted by path with duplicates removed.
pub fn collect(inputs: &[String]) -> Result<Vec<InputFile>, InputError> {
    let mut paths = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.exists() {
            add_path(path, &mut paths)?;
        } else if is_pattern(input) {
            expand_glob(input, &mut paths)?;
        } else {
            return Err(InputError::NotFound(input.clone()));
        }
    }
    paths.sort();
    let mut seen = HashSet::new();
    paths.retain(|p| seen.insert(fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(paths.into_iter().map(describe).collect())
}

fn is_pattern(input: &str) -> bool {
    input.contains(['*', '?', '['])
}

fn expand_glob(pattern: &str, paths: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let matches = glob::glob(pattern)
        .map_err(|e| InputError::BadPattern { pattern: pattern.to_string(), message: e.msg.to_string() })?;
    for entry in matches {
        let path = entry.map_err(|e| InputError::Io { path: e.path().display().to_string(), source: e.into() })?;
        add_path(&path, paths)?;
    }
    Ok(())
}

/// A file is taken as named; a folder contributes every `*.avro` file below it.
fn add_path(path: &Path, paths: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io_err = |source| InputError::Io { path: path.display().to_string(), source };
    if !fs::metadata(path).map_err(io_err)?.is_dir() {
        paths.push(clean(path));
        return Ok(());
    }
    for entry in fs::read_dir(path).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let child = entry.path();
        // Symlinked folders are not followed, so a link cycle cannot loop.
        let kind = entry.file_type().map_err(io_err)?;
        if kind.is_dir() {
            add_path(&child, paths)?;
        } else if child.extension().is_some_and(|e| e == "avro") && fs::metadata(&child).is_ok_and(|m| m.is_file()) {
            paths.push(clean(&child));
        }
    }
    Ok(())
}

/// `./a/b.avro` and `a/b.avro` name the same file; keep paths tidy for messages.
fn clean(path: &Path) -> PathBuf {
    path.strip_prefix(".").map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

fn describe(path: PathBuf) -> InputFile {
    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let segment = |prefix: &str| {
        path.components()
            .rev()
            .filter_map(|c| c.as_os_str().to_str())
            .find_map(|c| c.strip_prefix(prefix).map(str::to_string))
    };
    let event_type = segment("event_type=").filter(|t| !t.is_empty());
    let date_hour = segment("date=").and_then(|d| timestamp::parse_date_hour(&d));
    InputFile { path, event_type, date_hour, size }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"x").unwrap();
    }

    #[test]
    fn folders_globs_and_files_are_sorted_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "p/event_type=users.b.Y/date=2026-10-01-13/1/0/f+0+1.avro");
        touch(root, "p/event_type=users.a.X/date=2026-10-01-12/1/0/f+0+2.avro");
        touch(root, "p/event_type=users.a.X/notes.txt");
        let r = |s: &str| root.join(s).display().to_string();
        let files = collect(&[
            r("p"),
            r("p/event_type=users.a.X/*/*/*/*.avro"),
            r("p/event_type=users.b.Y/date=2026-10-01-13/1/0/f+0+1.avro"),
        ])
        .unwrap();
        let types: Vec<_> = files.iter().map(|f| f.event_type.clone().unwrap()).collect();
        assert_eq!(types, ["users.a.X", "users.b.Y"]);
        assert_eq!(files[0].date_hour, timestamp::parse_date_hour("2026-10-01-12"));
        assert_eq!(files[0].size, 1);
    }

    #[test]
    fn missing_path_is_an_error_but_an_empty_glob_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope").display().to_string();
        assert!(matches!(collect(&[missing]), Err(InputError::NotFound(_))));
        let pattern = dir.path().join("*.avro").display().to_string();
        assert_eq!(collect(&[pattern]).unwrap(), vec![]);
    }

    #[test]
    fn innermost_segments_win() {
        let f =
            describe(PathBuf::from("x/event_type=outer/date=2020-01-01-00/event_type=inner/date=2026-11-01-05/f.avro"));
        assert_eq!(f.event_type.as_deref(), Some("inner"));
        assert_eq!(f.date_hour, timestamp::parse_date_hour("2026-11-01-05"));
    }
}
