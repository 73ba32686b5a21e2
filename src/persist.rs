//! The snapshot file: written atomically, one write at a time per file, and read back at start.
//!
//! The file is a magic header, a postcard payload (the format number, then the transfer types of
//! `snapshot`), and the SHA-256 of the payload, so a torn or corrupt file is detected rather than
//! half-read. It is written to a temporary file, fsynced, and renamed over the old one, so a crash leaves
//! either the old snapshot or the new one. Writes to one file are serialized: the temporary file is never
//! shared, and the state is captured only once the write holds the file, so a later write never carries
//! older state. A snapshot that cannot be read is moved aside and reported; it never stops the service
//! from starting.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::snapshot::{self, Snapshot};

const MAGIC: &[u8; 8] = b"MWSNAP\x00\x01";

/// Why a snapshot was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("encoding the snapshot: {0}")]
    Encode(#[from] postcard::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, postcard::Error> {
    let payload = snapshot::encode(snapshot)?;
    let mut out = Vec::with_capacity(payload.len() + 8 + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&Sha256::digest(&payload));
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<snapshot::Decoded, String> {
    if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a modelwatch snapshot (bad header)".to_string());
    }
    let (payload, digest) = bytes[MAGIC.len()..].split_at(bytes.len() - MAGIC.len() - 32);
    if Sha256::digest(payload).as_slice() != digest {
        return Err("checksum mismatch (the file is truncated or corrupt)".to_string());
    }
    snapshot::decode(payload).map_err(|e| e.to_string())
}

/// One lock per snapshot file: every write to a file holds its lock from capture to rename.
fn file_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
        LazyLock::new(Default::default);
    LOCKS.lock().entry(path.to_path_buf()).or_default().clone()
}

/// Writes the snapshot that `capture` takes, atomically: temporary file, fsync, rename, fsync of the
/// directory. `capture` runs once this write holds the file, so writes never overlap and each one holds
/// state at least as new as the write before it. Returns the size written.
pub fn write(path: &Path, capture: impl FnOnce() -> Snapshot) -> Result<usize, WriteError> {
    let lock = file_lock(path);
    let _one_writer = lock.lock();
    let bytes = encode(&capture())?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = tmp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable only once the directory entry is.
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path)(e)
    })?;
    Ok(bytes.len())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Checks that snapshots can be written to `path`: its directory exists and a file can be created in it
/// (`check-config`; a read-only or missing directory would otherwise show only when the first snapshot
/// fails).
pub fn check_writable(path: &Path) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Err(e) => return Err(format!("directory {}: {e}", dir.display())),
        Ok(m) if !m.is_dir() => return Err(format!("{} is not a directory", dir.display())),
        Ok(_) => {}
    }
    if path.is_dir() {
        return Err(format!("{} is a directory, not a file", path.display()));
    }
    let probe = dir.join(format!(".modelwatch-write-test-{}", std::process::id()));
    std::fs::File::create(&probe)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("directory {} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// What reading the snapshot at start found.
#[derive(Debug)]
pub enum Loaded {
    /// No snapshot yet.
    Missing,
    /// `format` is the format the file was written in; an older one was migrated to the current types.
    Ok { snapshot: Snapshot, format: u32 },
    /// The file was unreadable and was moved to `moved_to`.
    Quarantined { reason: String, moved_to: PathBuf },
}

/// Reads the snapshot, moving a bad one aside so the next snapshot can be written and the bad one can be
/// inspected.
pub fn read(path: &Path) -> Loaded {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => return quarantine(path, format!("cannot read: {e}")),
    };
    match decode(&bytes) {
        Ok(d) => Loaded::Ok {
            snapshot: d.snapshot,
            format: d.format,
        },
        Err(reason) => quarantine(path, reason),
    }
}

fn quarantine(path: &Path, reason: String) -> Loaded {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{stamp}"));
    let moved_to = path.with_file_name(name);
    if let Err(e) = std::fs::rename(path, &moved_to) {
        return Loaded::Quarantined {
            reason: format!("{reason}; moving it aside also failed: {e}"),
            moved_to: path.to_path_buf(),
        };
    }
    Loaded::Quarantined { reason, moved_to }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mw-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn empty(taken_at_ns: i64) -> Snapshot {
        Snapshot {
            taken_at_ns,
            models: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_atomic_replace() {
        let d = dir("rt");
        let path = d.join("state");
        write(&path, || empty(42)).unwrap();
        write(&path, || empty(43)).unwrap();
        match read(&path) {
            Loaded::Ok { snapshot, format } => {
                assert_eq!((snapshot.taken_at_ns, format), (43, snapshot::VERSION))
            }
            other => panic!("{other:?}"),
        }
        assert!(!tmp_path(&path).exists());
        assert!(matches!(read(&d.join("absent")), Loaded::Missing));
    }

    #[test]
    fn corrupt_files_are_moved_aside() {
        let d = dir("bad");
        let path = d.join("state");
        write(&path, || empty(1)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[MAGIC.len()] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        match read(&path) {
            Loaded::Quarantined { reason, moved_to } => {
                assert!(reason.contains("checksum"), "{reason}");
                assert!(moved_to.exists());
                assert!(!path.exists());
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(read(&path), Loaded::Quarantined { .. }));
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let d = dir("newer");
        let path = d.join("state");
        let payload = postcard::to_stdvec(&(snapshot::VERSION + 1, empty(1))).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&Sha256::digest(&payload));
        std::fs::write(&path, &bytes).unwrap();
        match read(&path) {
            Loaded::Quarantined { reason, .. } => {
                assert!(reason.contains("newer modelwatch"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_or_unwritable_directory_is_reported() {
        let d = dir("check");
        assert_eq!(check_writable(&d.join("state")), Ok(()));
        let missing = check_writable(&d.join("absent/state")).unwrap_err();
        assert!(missing.contains("absent"), "{missing}");
        std::fs::write(d.join("file"), b"").unwrap();
        let not_dir = check_writable(&d.join("file/state")).unwrap_err();
        assert!(not_dir.contains("not a directory"), "{not_dir}");
        assert!(check_writable(&d).is_err(), "the state path is a directory");
    }
}
