//! The local spool: records that could not reach the database, one JSON object per line,
//! replayed when it answers again.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use super::log::LogRecord;

/// An append-only file of pending records.
pub struct Spool {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Spool {
    /// A spool at `path` (created on first use).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    /// Appends records; returns how many were written.
    pub fn append(&self, records: &[LogRecord]) -> std::io::Result<usize> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        file.write_all(&buf)?;
        file.sync_data()?;
        Ok(records.len())
    }

    /// Takes every pending record out of the spool (the file is emptied).
    pub fn take(&self) -> std::io::Result<Vec<LogRecord>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut records = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line?;
            match serde_json::from_str(&line) {
                Ok(r) => records.push(r),
                Err(e) => tracing::error!(error = %e, "skipping a corrupt spool line"),
            }
        }
        File::create(&self.path)?;
        Ok(records)
    }

    /// Whether anything is pending.
    pub fn is_empty(&self) -> bool {
        std::fs::metadata(&self.path).map_or(true, |m| m.len() == 0)
    }
}
