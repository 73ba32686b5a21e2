//! The snapshot's data: explicit, versioned transfer types, converted from and to the internal state.
//!
//! The snapshot file (see `persist`) holds these types, never the internal structures, so that windows,
//! references and events can change their layout without making old files unreadable. Each format
//! version is a module of frozen types (`v1`, `v2`); the current one is re-exported here. A file of an
//! older format is migrated, one version at a time, on load; a file of a newer format is refused.
//!
//! | format | written by | read by this version |
//! |---|---|---|
//! | 1 | the first releases: the internal structures, encoded directly | migrated to 2 (`v1`) |
//! | 2 | this version: the types of `v2` | as is |

mod convert;
pub mod v1;
pub mod v2;

pub use v2::*;

/// The format this version writes.
pub const VERSION: u32 = 2;

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "written by a newer modelwatch (snapshot format {0}; this version reads formats 1 to {VERSION})"
    )]
    Newer(u32),
    #[error("unknown snapshot format {0}")]
    Unknown(u32),
    #[error("undecodable snapshot of format {version}: {message}")]
    Undecodable { version: u32, message: String },
}

/// A decoded snapshot, and the format it was read from.
#[derive(Debug)]
pub struct Decoded {
    pub snapshot: Snapshot,
    pub format: u32,
}

/// The payload of the current format: the format number, then the snapshot.
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(&(VERSION, snapshot))
}

/// Reads a payload of any known format, migrating an older one to the current types.
pub fn decode(payload: &[u8]) -> Result<Decoded, FormatError> {
    let undecodable = |version: u32| {
        move |e: postcard::Error| FormatError::Undecodable {
            version,
            message: e.to_string(),
        }
    };
    // Every format starts with its number (format 1 as the first field of its struct).
    let (format, rest) = postcard::take_from_bytes::<u32>(payload).map_err(undecodable(0))?;
    let snapshot = match format {
        1 => postcard::from_bytes::<v1::Snapshot>(payload)
            .map_err(undecodable(1))?
            .into(),
        2 => postcard::from_bytes::<v2::Snapshot>(rest).map_err(undecodable(2))?,
        n if n > VERSION => return Err(FormatError::Newer(n)),
        n => return Err(FormatError::Unknown(n)),
    };
    Ok(Decoded { snapshot, format })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_number_leads_the_payload() {
        let s = Snapshot {
            taken_at_ns: 7,
            models: Vec::new(),
        };
        let bytes = encode(&s).unwrap();
        assert_eq!(bytes[0], VERSION as u8);
        let back = decode(&bytes).unwrap();
        assert_eq!((back.snapshot, back.format), (s, VERSION));
        let mut newer = bytes.clone();
        newer[0] = 9;
        assert!(matches!(decode(&newer), Err(FormatError::Newer(9))));
        newer[0] = 0;
        assert!(matches!(decode(&newer), Err(FormatError::Unknown(0))));
    }
}
