//! The durable alert log: an append-only JSON-lines file that holds every
//! alert the sink reported written, whole, even after `kill -9`.
//!
//! How: the file is opened with `O_APPEND` and each line goes in with one
//! `write` of the whole line, so a line is either in the file or (when the
//! process dies inside that very `write`) a torn tail with no `\n`. Opening
//! cuts such a tail off before anything is appended, so no line is ever glued
//! to a fragment. `Fsync::Always` syncs before `append` returns; `Interval`
//! leaves it to a background thread; `Never` to the kernel. Rotation by size
//! renames `alerts.jsonl` to `alerts.jsonl.1` (`.1` newest, `.keep` oldest)
//! between two whole lines, so no line is split across files.
//!
//! It must never hand back `Ok` for a line that is not in the file, never
//! leave a short write behind (it is cut back), and never panic on what it
//! finds on disk.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::SinkCounters;

/// When the alert log is fsynced.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Before each append returns: a line reported written survives a power
    /// loss.
    #[default]
    Always,
    /// By a background thread every `fsync_interval_ms` when something was
    /// written: a power loss may lose that interval (a killed process loses
    /// nothing: the kernel holds what `write` took).
    Interval,
    /// Left to the kernel.
    Never,
}

impl FromStr for Fsync {
    type Err = String;

    fn from_str(s: &str) -> Result<Fsync, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "interval" => Ok(Fsync::Interval),
            "never" => Ok(Fsync::Never),
            _ => Err(format!(
                "invalid fsync policy `{s}`: use always, interval or never"
            )),
        }
    }
}

impl fmt::Display for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fsync::Always => "always",
            Fsync::Interval => "interval",
            Fsync::Never => "never",
        })
    }
}

/// How an [`AppendLog`] writes.
#[derive(Clone, Debug, PartialEq)]
pub struct LogOptions {
    /// The file (its folder must exist).
    pub path: PathBuf,
    /// When to fsync.
    pub fsync: Fsync,
    /// The period of `Fsync::Interval`.
    pub fsync_interval: Duration,
    /// Start a new file when a line would take the current one past this
    /// many bytes (0: never rotate). A single longer line still goes in
    /// whole, alone in its file.
    pub rotate_bytes: u64,
    /// Rotated files kept (`path.1` newest .. `path.keep` oldest); 0 keeps
    /// none.
    pub keep: u32,
}

/// An append-only file of whole lines.
pub struct AppendLog {
    opts: LogOptions,
    file: Arc<File>,
    /// Bytes in the current file: every line appended is whole, so this is
    /// also where a failed line would start.
    size: u64,
    /// Do not try to rotate again below this size (after a failed rotation).
    rotate_retry_at: u64,
    syncer: Option<Syncer>,
}

impl AppendLog {
    /// Opens (or creates) the file for appending, first cutting off a torn
    /// last line (no trailing `\n`) left by a process killed inside a
    /// `write`; a warning says how many bytes were cut. Errors name the file.
    pub fn open(opts: LogOptions) -> io::Result<AppendLog> {
        let (file, size) = open_repaired(&opts.path)?;
        let file = Arc::new(file);
        let syncer = match opts.fsync {
            Fsync::Interval => Some(Syncer::start(file.clone(), opts.fsync_interval)?),
            Fsync::Always | Fsync::Never => None,
        };
        Ok(AppendLog {
            opts,
            file,
            size,
            rotate_retry_at: 0,
            syncer,
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.opts.path
    }

    /// Bytes in the current file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one line (`line` must end with `\n`) with a single `write`,
    /// rotating first when it would take the file past `rotate_bytes`.
    /// `Ok` means the whole line is in the file (and synced under
    /// `Fsync::Always`); on error nothing of it is left in the file.
    /// Returns whether the file was rotated.
    pub fn append(&mut self, line: &[u8]) -> io::Result<bool> {
        let one_line = matches!(line.split_last(), Some((b'\n', body)) if !body.contains(&b'\n'));
        if !one_line {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an alert log line must be one line ended by a newline",
            ));
        }
        let len = line.len() as u64;
        let mut rotated = false;
        if self.opts.rotate_bytes > 0
            && self.size > 0
            && self.size + len > self.opts.rotate_bytes
            && self.size >= self.rotate_retry_at
        {
            match self.rotate() {
                Ok(()) => rotated = true,
                Err(e) => {
                    // Keep appending to the current file (losing nothing)
                    // and try again after another rotate_bytes.
                    self.rotate_retry_at = self.size + self.opts.rotate_bytes;
                    tracing::error!(
                        "cannot rotate alert log {}: {e}; still appending to it",
                        self.opts.path.display()
                    );
                }
            }
        }
        let written = loop {
            match (&*self.file).write(line) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match written {
            Ok(n) if n == line.len() => {}
            Ok(n) => {
                self.cut_back();
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!(
                        "{}: short write ({n} of {} bytes), cut back",
                        self.opts.path.display(),
                        line.len()
                    ),
                ));
            }
            Err(e) => {
                self.cut_back();
                return Err(named(&self.opts.path, e));
            }
        }
        self.size += len;
        match self.opts.fsync {
            Fsync::Always => self
                .file
                .sync_data()
                .map_err(|e| named(&self.opts.path, e))?,
            Fsync::Interval => {
                if let Some(s) = &self.syncer {
                    s.mark_dirty();
                }
            }
            Fsync::Never => {}
        }
        Ok(rotated)
    }

    /// Syncs the file now (whatever the policy).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| named(&self.opts.path, e))
    }

    /// After a failed or short write: the file must end at the last whole
    /// line again, or the next line would be glued to a fragment.
    fn cut_back(&mut self) {
        let now = self.file.metadata().map(|m| m.len()).unwrap_or(self.size);
        if now > self.size
            && let Err(e) = self.file.set_len(self.size)
        {
            tracing::error!(
                "alert log {}: cannot cut back a partial line ({} bytes): {e}; it is cut when the file is next opened",
                self.opts.path.display(),
                now - self.size
            );
        }
    }

    /// `path` -> `path.1` -> ... -> `path.keep` (the oldest is removed),
    /// then a new empty `path`.
    fn rotate(&mut self) -> io::Result<()> {
        if self.opts.fsync != Fsync::Never {
            self.sync()?;
        }
        let path = &self.opts.path;
        let numbered = |k: u32| {
            let mut s = path.clone().into_os_string();
            s.push(format!(".{k}"));
            PathBuf::from(s)
        };
        if self.opts.keep == 0 {
            std::fs::remove_file(path).map_err(|e| named(path, e))?;
        } else {
            ignore_missing(std::fs::remove_file(numbered(self.opts.keep)))
                .map_err(|e| named(&numbered(self.opts.keep), e))?;
            for k in (1..self.opts.keep).rev() {
                ignore_missing(std::fs::rename(numbered(k), numbered(k + 1)))
                    .map_err(|e| named(&numbered(k), e))?;
            }
            std::fs::rename(path, numbered(1)).map_err(|e| named(path, e))?;
        }
        let (file, size) = open_repaired(path)?;
        self.file = Arc::new(file);
        self.size = size;
        self.rotate_retry_at = 0;
        if let Some(s) = &self.syncer {
            s.replace(self.file.clone());
        }
        if self.opts.fsync != Fsync::Never {
            // The renames themselves must survive a power loss too.
            if let Some(dir) = path.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
                    tracing::warn!("cannot sync folder {}: {e}", dir.display());
                }
            }
        }
        Ok(())
    }
}

impl Drop for AppendLog {
    fn drop(&mut self) {
        // Stop the syncer first; then one last sync unless told never to.
        self.syncer = None;
        if self.opts.fsync != Fsync::Never
            && let Err(e) = self.sync()
        {
            tracing::error!("{e}");
        }
    }
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// An I/O error that names its file.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// How far back a torn tail is searched for the last `\n` at a time.
const TAIL_CHUNK: u64 = 64 * 1024;

/// Opens `path` for appending; cuts a torn last line. Returns the file and
/// its size after the repair.
fn open_repaired(path: &Path) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| named(path, e))?;
    let cut = repair_tail(&mut file).map_err(|e| named(path, e))?;
    if cut > 0 {
        tracing::warn!(
            "{}: cut a torn last line of {cut} bytes (written by a process killed inside a write, never reported written)",
            path.display()
        );
    }
    let size = file.metadata().map_err(|e| named(path, e))?.len();
    Ok((file, size))
}

/// Cuts everything after the last `\n` of `file` (all of it when there is
/// none). Returns the number of bytes cut.
pub fn repair_tail(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut end = len;
    let mut buf = vec![0u8; TAIL_CHUNK as usize];
    let keep = loop {
        let start = end.saturating_sub(TAIL_CHUNK);
        let n = (end - start) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep)?;
    }
    Ok(len - keep)
}

/// The `Fsync::Interval` thread: syncs the current file every interval when
/// something was written since the last sync.
struct Syncer {
    shared: Arc<SyncShared>,
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

struct SyncShared {
    file: Mutex<Arc<File>>,
    dirty: std::sync::atomic::AtomicBool,
}

impl Syncer {
    fn start(file: Arc<File>, every: Duration) -> io::Result<Syncer> {
        let shared = Arc::new(SyncShared {
            file: Mutex::new(file),
            dirty: std::sync::atomic::AtomicBool::new(false),
        });
        let (stop, stopped) = mpsc::channel::<()>();
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("feedwatch-alert-log-sync".into())
            .spawn(move || {
                // A message or a hang-up both mean stop.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    s.sync_if_dirty();
                }
                s.sync_if_dirty();
            })?;
        Ok(Syncer {
            shared,
            stop: Some(stop),
            handle: Some(handle),
        })
    }

    fn mark_dirty(&self) {
        self.shared.dirty.store(true, Ordering::Release);
    }

    fn replace(&self, file: Arc<File>) {
        // The old file was synced before the rotation.
        *self.shared.file.lock().unwrap_or_else(|p| p.into_inner()) = file;
    }
}

impl SyncShared {
    fn sync_if_dirty(&self) {
        if self.dirty.swap(false, Ordering::AcqRel) {
            // Sync outside the lock: the writer only takes it to rotate.
            let file = self.file.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Err(e) = file.sync_data() {
                self.dirty.store(true, Ordering::Release);
                tracing::error!("cannot fsync the alert log: {e}");
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Most lines kept for a retry while the log cannot be written.
const PENDING_MAX_LINES: usize = 10_000;
/// Most bytes kept for a retry while the log cannot be written.
const PENDING_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The alert log sink: an [`AppendLog`] that never stops the run. A line
/// that cannot be written is reported (tracing::error, counted) and kept,
/// in order, to be written before the next line; while the file is broken
/// it is reopened at each alert. At most [`PENDING_MAX_LINES`] lines (16 MiB)
/// wait; beyond that the oldest is given up, counted and logged whole on
/// stderr so it is still not lost without a trace.
pub struct AlertLog {
    opts: LogOptions,
    log: Option<AppendLog>,
    pending: VecDeque<Vec<u8>>,
    pending_bytes: usize,
    counters: Arc<SinkCounters>,
    /// Errors since the log last worked (for the "working again" message).
    failing_since: Option<(Instant, u64)>,
}

impl AlertLog {
    /// Opens the log; an error here (bad path, no permission) stops the
    /// command before any alert, with the file named.
    pub fn open(opts: LogOptions, counters: Arc<SinkCounters>) -> io::Result<AlertLog> {
        let log = AppendLog::open(opts.clone())?;
        Ok(AlertLog {
            opts,
            log: Some(log),
            pending: VecDeque::new(),
            pending_bytes: 0,
            counters,
            failing_since: None,
        })
    }

    /// Lines waiting for a retry.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Writes `line` (ended by `\n`) after any lines still waiting. Never
    /// fails: a line that cannot be written waits for the next call.
    pub fn write(&mut self, line: &[u8]) {
        if self.pending.is_empty() {
            if let Err(e) = self.try_append(line) {
                self.failed(e);
                self.keep(line.to_vec());
            }
            return;
        }
        self.keep(line.to_vec());
        self.retry();
    }

    /// Writes the waiting lines, oldest first, up to the first failure.
    pub fn retry(&mut self) {
        while let Some(front) = self.pending.pop_front() {
            self.pending_bytes = self.pending_bytes.saturating_sub(front.len());
            if let Err(e) = self.try_append(&front) {
                self.pending_bytes += front.len();
                self.pending.push_front(front);
                self.failed(e);
                break;
            }
        }
        self.counters
            .log_pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    fn try_append(&mut self, line: &[u8]) -> io::Result<()> {
        if self.log.is_none() {
            self.log = Some(AppendLog::open(self.opts.clone())?);
        }
        let Some(log) = self.log.as_mut() else {
            return Err(io::Error::other("alert log not open"));
        };
        match log.append(line) {
            Ok(rotated) => {
                if rotated {
                    self.counters.log_rotations.fetch_add(1, Ordering::Relaxed);
                }
                self.counters.log_written.fetch_add(1, Ordering::Relaxed);
                if let Some((since, errors)) = self.failing_since.take() {
                    tracing::warn!(
                        "alert log {} is written again after {errors} write error(s) over {:.1} s",
                        self.opts.path.display(),
                        since.elapsed().as_secs_f64()
                    );
                }
                Ok(())
            }
            Err(e) => {
                // Reopen at the next try: the file may have been replaced or
                // the descriptor gone bad.
                self.log = None;
                Err(e)
            }
        }
    }

    fn failed(&mut self, e: io::Error) {
        let errors = self
            .counters
            .log_write_errors
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let (_, n) = self.failing_since.get_or_insert((Instant::now(), 0));
        *n += 1;
        tracing::error!(
            "cannot write the alert log ({errors} error(s) so far, {} line(s) waiting, kept for a retry at the next alert): {e}",
            self.pending.len() + 1
        );
    }

    fn keep(&mut self, line: Vec<u8>) {
        self.pending_bytes += line.len();
        self.pending.push_back(line);
        while self.pending.len() > PENDING_MAX_LINES || self.pending_bytes > PENDING_MAX_BYTES {
            let Some(old) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes = self.pending_bytes.saturating_sub(old.len());
            self.counters.log_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "alert log retry buffer full: giving up on this line for the log (it went to the other sinks): {}",
                String::from_utf8_lossy(&old).trim_end()
            );
        }
        self.counters
            .log_pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }
}

impl Drop for AlertLog {
    fn drop(&mut self) {
        // A last try for lines that waited, so a healed disk loses nothing.
        if !self.pending.is_empty() {
            self.retry();
        }
        for line in &self.pending {
            tracing::error!(
                "alert never written to the log {}: {}",
                self.opts.path.display(),
                String::from_utf8_lossy(line).trim_end()
            );
        }
    }
}
