//! Output files that never look finished when they are not: written under a temporary name
//! in the destination folder and renamed into place on commit. A `.gz` name gzips.

use std::fs;
use std::io::{self, BufWriter, Stdout, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use tempfile::NamedTempFile;

use crate::json;

/// Chunks of NDJSON (256 KiB) are larger than this, so they go to the file without an extra copy.
const BUFFER_BYTES: usize = 64 * 1024;

/// A file written atomically: nothing appears at `path` until [`AtomicFile::commit`]; dropping
/// it uncommitted removes the temporary file. An existing path that is not a regular file
/// (`/dev/stdout`, a FIFO) is written directly: renaming over it would replace it.
pub struct AtomicFile {
    path: PathBuf,
    writer: Option<Writer>,
}

enum Writer {
    Plain(BufWriter<Target>),
    Gzip(Box<GzEncoder<BufWriter<Target>>>),
}

enum Target {
    Temp(NamedTempFile),
    Direct(fs::File),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Temp(f) => f.write(buf),
            Target::Direct(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Temp(f) => f.flush(),
            Target::Direct(f) => f.flush(),
        }
    }
}

impl AtomicFile {
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            Target::Direct(fs::OpenOptions::new().write(true).open(path)?)
        } else {
            Target::Temp(tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?)
        };
        let buffered = BufWriter::with_capacity(BUFFER_BYTES, target);
        let gzip = path.extension().is_some_and(|e| e == "gz");
        let writer = if gzip {
            Writer::Gzip(Box::new(GzEncoder::new(buffered, Compression::new(6))))
        } else {
            Writer::Plain(buffered)
        };
        Ok(AtomicFile { path: path.to_path_buf(), writer: Some(writer) })
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> io::Result<()> {
        let buffered = match self.writer.take().expect("committed once") {
            Writer::Plain(w) => w,
            Writer::Gzip(gz) => gz.finish()?,
        };
        match buffered.into_inner().map_err(io::IntoInnerError::into_error)? {
            Target::Temp(temp) => {
                temp.as_file().sync_all()?;
                temp.persist(&self.path).map_err(|e| e.error)?;
            }
            Target::Direct(mut file) => file.flush()?,
        }
        Ok(())
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self.writer.as_mut().expect("not committed") {
            Writer::Plain(w) => w,
            Writer::Gzip(w) => w.as_mut(),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

/// Where NDJSON goes: stdout, or a file committed at the end.
pub enum Output {
    Stdout(BufWriter<Stdout>),
    File(Box<AtomicFile>),
}

impl Output {
    /// `None` or `-` is stdout.
    pub fn open(path: Option<&Path>) -> io::Result<Output> {
        match path {
            None => Ok(Output::Stdout(BufWriter::with_capacity(BUFFER_BYTES, io::stdout()))),
            Some(p) if p == Path::new("-") => Output::open(None),
            Some(p) => Ok(Output::File(Box::new(AtomicFile::create(p)?))),
        }
    }

    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush(),
            Output::File(f) => f.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(f) => f.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.write_all(buf),
            Output::File(f) => f.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(f) => f.flush(),
        }
    }
}

/// Writes a small file (report, state) atomically in one go.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Fails early, before any work, when a file could not be written at the end because its
/// folder does not exist.
pub fn check_folder_exists(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("folder {} does not exist", dir.display())))
        }
        _ => Ok(()),
    }
}

/// True when two paths name the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The `--rejects` NDJSON file, or nothing when it was not asked for.
pub struct RejectsFile {
    file: Option<AtomicFile>,
}

impl RejectsFile {
    pub fn open(path: Option<&Path>) -> io::Result<RejectsFile> {
        Ok(RejectsFile { file: path.map(AtomicFile::create).transpose()? })
    }

    /// Appends complete lines.
    pub fn write(&mut self, lines: &[u8]) -> io::Result<()> {
        match &mut self.file {
            Some(f) if !lines.is_empty() => f.write_all(lines),
            _ => Ok(()),
        }
    }

    pub fn commit(self) -> io::Result<()> {
        self.file.map_or(Ok(()), AtomicFile::commit)
    }
}

/// One line of the rejects file: `{"reason","message","file","event_type","record"}`.
pub fn write_reject(
    out: &mut Vec<u8>,
    reason: &str,
    message: &str,
    file: &str,
    event_type: &str,
    record: impl FnOnce(&mut Vec<u8>),
) {
    out.extend_from_slice(b"{\"reason\":");
    json::write_str(out, reason.as_bytes());
    out.extend_from_slice(b",\"message\":");
    json::write_str(out, message.as_bytes());
    out.extend_from_slice(b",\"file\":");
    json::write_str(out, file.as_bytes());
    out.extend_from_slice(b",\"event_type\":");
    json::write_str(out, event_type.as_bytes());
    out.extend_from_slice(b",\"record\":");
    record(out);
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn nothing_appears_until_commit_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"line\n").unwrap();
        assert!(!path.exists());
        drop(f);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "the temporary file is removed");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"line\n").unwrap();
        f.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"line\n");
    }

    #[test]
    fn gz_suffix_gzips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson.gz");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"{}\n").unwrap();
        f.commit().unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(fs::File::open(&path).unwrap()).read_to_string(&mut text).unwrap();
        assert_eq!(text, "{}\n");
    }
}
