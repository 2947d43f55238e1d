//! The live recorder: writes every record the engine sees, in the engine's
//! order, as zstd fixture files in one directory, rotated by size or age.
//!
//! A file is written as `<name>.part` and renamed to `<name>` when complete
//! (rotation or shutdown), so a finished name always holds a complete zstd
//! stream; a `.part` left by a crash still reads up to its last full line.
//! Names sort in time order (`live-<first recv_ns>-<seq>.fixture.zst`).
//! It must never change a record, never lose one on rotation, and never
//! hold more than one open file.

use crate::fixture::{Compression, FixtureError, FixtureWriter};

use crate::model::Nanos;
use crate::record::Record;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Open {
    writer: FixtureWriter<BufWriter<File>>,
    part: PathBuf,
    done: PathBuf,
    first_ns: Nanos,
}

/// Rotating fixture writer for `run --record DIR`.
pub struct Recorder {
    dir: PathBuf,
    rotate_bytes: u64,
    rotate_ns: Nanos,
    seq: u32,
    open: Option<Open>,
    finished: Vec<PathBuf>,
}

impl Recorder {
    /// Records into `dir` (created if missing), starting a new file past
    /// `rotate_bytes` uncompressed bytes or `rotate_after` of record time.
    pub fn new(
        dir: &Path,
        rotate_bytes: u64,
        rotate_after: Duration,
    ) -> Result<Recorder, FixtureError> {
        std::fs::create_dir_all(dir).map_err(|source| FixtureError::Open {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            rotate_bytes: rotate_bytes.max(1),
            rotate_ns: Nanos::try_from(rotate_after.as_nanos())
                .unwrap_or(Nanos::MAX)
                .max(1),
            seq: 0,
            open: None,
            finished: Vec::new(),
        })
    }

    /// Appends one record, first rotating if the current file is full or old.
    pub fn write(&mut self, rec: &Record<'_>) -> Result<(), FixtureError> {
        let rotate = self.open.as_ref().is_some_and(|o| {
            o.writer.stats().bytes >= self.rotate_bytes
                || rec.recv_ns.saturating_sub(o.first_ns) >= self.rotate_ns
        });
        if rotate {
            self.close_current()?;
        }
        if self.open.is_none() {
            let name = format!("live-{}-{:05}.fixture.zst", rec.recv_ns, self.seq);
            self.seq = self.seq.wrapping_add(1);
            let done = self.dir.join(&name);
            let part = self.dir.join(format!("{name}.part"));
            let writer = FixtureWriter::create_with(&part, Compression::Zstd)?;
            self.open = Some(Open {
                writer,
                part,
                done,
                first_ns: rec.recv_ns,
            });
        }
        match self.open.as_mut() {
            Some(o) => o.writer.write(rec),
            None => Ok(()),
        }
    }

    fn close_current(&mut self) -> Result<(), FixtureError> {
        if let Some(o) = self.open.take() {
            o.writer.finish()?;
            std::fs::rename(&o.part, &o.done).map_err(|source| FixtureError::Write {
                path: o.done.display().to_string(),
                source,
            })?;
            self.finished.push(o.done);
        }
        Ok(())
    }

    /// Completes the open file; returns every complete file, in order.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, FixtureError> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.finished))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::FixtureReader;
    use crate::model::Venue;
    use crate::record::RecordKind;
    use std::borrow::Cow;

    #[test]
    fn rotation_loses_nothing_and_keeps_order() {
        let dir = std::env::temp_dir().join(format!("feedwatch-rec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Tiny limits: rotate by size after a few records, and by age.
        let mut r = Recorder::new(&dir, 200, Duration::from_secs(5)).unwrap();
        let text = "{\"stream\":\"btcusdt@trade\",\"data\":{}}";
        for i in 0..20i64 {
            let rec = Record {
                recv_ns: 1_000_000_000 * i,
                venue: Venue::BinanceSpot,
                conn: Cow::Borrowed("c1"),
                kind: RecordKind::Frame(Cow::Owned(format!("{text}{i}"))),
            };
            r.write(&rec).unwrap();
        }
        let files = r.finish().unwrap();
        assert!(files.len() > 2, "{files:?}");
        let mut seen = Vec::new();
        for f in &files {
            assert!(!f.display().to_string().ends_with(".part"));
            let mut rd = FixtureReader::open(f).unwrap();
            while let Some(rec) = rd.next_record() {
                seen.push(rec.unwrap().recv_ns);
            }
        }
        assert_eq!(seen, (0..20).map(|i| 1_000_000_000 * i).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
