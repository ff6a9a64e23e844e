//! The `--state` ledger: input files already fully accounted for (every event imported,
//! skipped, rejected or recorded as failed), so a rerun of the same command skips them.
//!
//! A file is entered only once its last event is settled, and the ledger is rewritten
//! atomically (temporary file, fsync, rename), so a crash loses at most the last few entries,
//! whose files are then simply sent again (Mixpanel deduplicates on `$insert_id`).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::input::InputFile;
use crate::output;

const SAVE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot read the state file {path}")]
    Read { path: String, source: io::Error },
    #[error("the state file {path} is not a currents2mixpanel state file: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write the state file {path}")]
    Write { path: String, source: io::Error },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerFile {
    version: u32,
    /// Absolute path → what the file was when it was settled.
    files: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    size: u64,
}

#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    data: LedgerFile,
    unsaved: bool,
    last_save: Instant,
}

impl Ledger {
    /// Loads the ledger; a missing file is an empty ledger.
    pub fn load(path: &Path) -> Result<Ledger, StateError> {
        let shown = || path.display().to_string();
        let data = match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StateError::Parse { path: shown(), message: e.to_string() })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => LedgerFile { version: 1, ..Default::default() },
            Err(source) => return Err(StateError::Read { path: shown(), source }),
        };
        Ok(Ledger { path: path.to_path_buf(), data, unsaved: false, last_save: Instant::now() })
    }

    /// Whether this file (same path, same size) was settled by an earlier run.
    pub fn contains(&self, file: &InputFile) -> bool {
        self.data.files.get(&key(file)).is_some_and(|e| e.size == file.size)
    }

    /// Records settled files, saving now and then.
    pub fn settle<'a>(&mut self, files: impl IntoIterator<Item = &'a InputFile>) {
        for file in files {
            self.data.files.insert(key(file), Entry { size: file.size });
            self.unsaved = true;
        }
        if self.unsaved && self.last_save.elapsed() >= SAVE_EVERY {
            // A failed periodic save is retried by the final one, which reports errors.
            let _ = self.save();
        }
    }

    /// Writes the ledger atomically if anything changed.
    pub fn save(&mut self) -> Result<(), StateError> {
        if !self.unsaved {
            return Ok(());
        }
        let mut bytes = serde_json::to_vec_pretty(&self.data).expect("serialisable");
        bytes.push(b'\n');
        output::write_atomically(&self.path, &bytes)
            .map_err(|source| StateError::Write { path: self.path.display().to_string(), source })?;
        self.unsaved = false;
        self.last_save = Instant::now();
        Ok(())
    }
}

fn key(file: &InputFile) -> String {
    fs::canonicalize(&file.path).unwrap_or_else(|_| file.path.clone()).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(path: &Path, size: u64) -> InputFile {
        InputFile { path: path.to_path_buf(), event_type: None, date_hour: None, size }
    }

    #[test]
    fn settled_files_survive_a_reload_and_a_changed_size_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a.avro");
        fs::write(&data, b"1234").unwrap();
        let state = dir.path().join("state.json");
        let mut ledger = Ledger::load(&state).unwrap();
        assert!(!ledger.contains(&input(&data, 4)));
        ledger.settle([&input(&data, 4)]);
        ledger.save().unwrap();
        let ledger = Ledger::load(&state).unwrap();
        assert!(ledger.contains(&input(&data, 4)));
        assert!(!ledger.contains(&input(&data, 5)));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        fs::write(&state, b"not json").unwrap();
        assert!(Ledger::load(&state).unwrap_err().to_string().contains("not a currents2mixpanel state file"));
    }
}
