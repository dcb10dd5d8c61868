//! The checkpoint file: `(seq, count, head_hash, time)` of the newest checkpointed event, kept
//! outside the sled directory so that deleting the newest events from the log is detectable.

use std::io::{self, Write};
use std::path::Path;

use schemas::event::Checkpoint;
use schemas::projection::Snapshot;

/// Read the checkpoint file; `Ok(None)` when there is none yet.
pub fn read(path: &Path) -> io::Result<Option<Checkpoint>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replace the checkpoint file atomically and durably: write a temp file, fsync, rename over the
/// old one, fsync the directory. A crash leaves either the old or the new checkpoint, never half.
pub fn write(path: &Path, checkpoint: &Checkpoint) -> io::Result<()> {
    write_json(path, checkpoint)
}

/// Read a projection snapshot; `Ok(None)` when there is none.
pub fn read_snapshot(path: &Path) -> io::Result<Option<Snapshot>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replace a projection snapshot, as atomically as the checkpoint.
pub fn write_snapshot(path: &Path, snapshot: &Snapshot) -> io::Result<()> {
    write_json(path, snapshot)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Replace the file at `path` with `bytes` atomically and durably: a temp file beside it,
/// fsync, rename over the old one, fsync the directory. A crash leaves the old file or the new
/// one, never half of either. Also used for the ticket history index.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.json");
        assert_eq!(read(&path).unwrap(), None);
        let cp = Checkpoint {
            seq: 41,
            count: 42,
            head_hash: "ab".repeat(32),
            time: "2026-11-23T03:00:00Z".parse().unwrap(),
        };
        write(&path, &cp).unwrap();
        assert_eq!(read(&path).unwrap(), Some(cp));
        assert!(!path.with_extension("json.tmp").exists());
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(read(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
