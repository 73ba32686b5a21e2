//! State snapshots: windows, references, pending labels and counters, written atomically and restored at
//! start.
//!
//! The file is a magic header, a postcard-encoded `Snapshot`, and the SHA-256 of the payload, so a torn
//! or corrupt file is detected rather than half-read. It is written to a temporary file, fsynced, and
//! renamed over the old one, so a crash leaves either the old snapshot or the new one. A snapshot that
//! cannot be read is moved aside and reported; it never stops the service from starting.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::persist::ModelData;

const MAGIC: &[u8; 8] = b"MWSNAP\x00\x01";
/// Bumped whenever `Snapshot` changes incompatibly; an older file is moved aside, not misread.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// Unix nanoseconds when it was taken.
    pub taken_at: i64,
    pub models: Vec<ModelData>,
}

fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, String> {
    let payload =
        postcard::to_stdvec(snapshot).map_err(|e| format!("encoding the snapshot: {e}"))?;
    let mut out = Vec::with_capacity(payload.len() + 8 + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&Sha256::digest(&payload));
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
    if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a modelwatch snapshot (bad header)".to_string());
    }
    let (payload, digest) = bytes[MAGIC.len()..].split_at(bytes.len() - MAGIC.len() - 32);
    if Sha256::digest(payload).as_slice() != digest {
        return Err("checksum mismatch (the file is truncated or corrupt)".to_string());
    }
    let snapshot: Snapshot =
        postcard::from_bytes(payload).map_err(|e| format!("undecodable snapshot: {e}"))?;
    if snapshot.version != FORMAT_VERSION {
        return Err(format!(
            "snapshot format {} is not the supported format {FORMAT_VERSION}",
            snapshot.version
        ));
    }
    Ok(snapshot)
}

/// Writes a snapshot atomically: temporary file, fsync, rename, fsync of the directory. Returns the size.
pub fn write(path: &Path, snapshot: &Snapshot) -> Result<usize, String> {
    let bytes = encode(snapshot)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
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
        format!("{}: {e}", path.display())
    })?;
    Ok(bytes.len())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// What reading the snapshot at start found.
#[derive(Debug)]
pub enum Loaded {
    /// No snapshot yet.
    Missing,
    Ok(Snapshot),
    /// The file was unreadable and was moved to `moved_to`.
    Quarantined {
        reason: String,
        moved_to: PathBuf,
    },
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
        Ok(s) => Loaded::Ok(s),
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

    #[test]
    fn round_trip_and_atomic_replace() {
        let d = dir("rt");
        let path = d.join("state");
        let s = Snapshot {
            version: FORMAT_VERSION,
            taken_at: 42,
            models: Vec::new(),
        };
        write(&path, &s).unwrap();
        write(&path, &Snapshot { taken_at: 43, ..s }).unwrap();
        match read(&path) {
            Loaded::Ok(back) => assert_eq!(back.taken_at, 43),
            other => panic!("{other:?}"),
        }
        assert!(!tmp_path(&path).exists());
        assert!(matches!(read(&d.join("absent")), Loaded::Missing));
    }

    #[test]
    fn corrupt_files_are_moved_aside() {
        let d = dir("bad");
        let path = d.join("state");
        write(
            &path,
            &Snapshot {
                version: FORMAT_VERSION,
                taken_at: 1,
                models: Vec::new(),
            },
        )
        .unwrap();
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
}
