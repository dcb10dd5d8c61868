//! Single instance: an exclusive `flock` on the pidfile in the state directory. A second daemon
//! on the same state directory is refused with the pid of the one that holds it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Held for the daemon's lifetime; the lock is released when this is dropped (or the process dies).
#[derive(Debug)]
pub struct InstanceLock {
    _file: Flock<File>,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "nightjard is already running (pid {pid}) on this state directory ({path}); stop it first, or use another --state-dir"
    )]
    AlreadyRunning { pid: String, path: PathBuf },
    #[error("cannot take the instance lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl InstanceLock {
    pub fn acquire(path: &Path) -> Result<InstanceLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, _)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::AlreadyRunning {
                    pid: pid.trim().to_owned(),
                    path: path.to_owned(),
                });
            }
        };
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock {
            _file: file,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nightjard.pid");
        let first = InstanceLock::acquire(&path).unwrap();
        match InstanceLock::acquire(&path) {
            Err(LockError::AlreadyRunning { pid, .. }) => {
                assert_eq!(pid, std::process::id().to_string())
            }
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        drop(first);
        InstanceLock::acquire(&path).unwrap();
    }
}
