//! Checkpoints of a run: the whole [`State`] between two epochs, as bincode behind a magic
//! tag, a format version, the body's length and its SHA-256, written atomically. A run
//! resumed from one gives the same record as the run that was not stopped, bit for bit; a
//! checkpoint cut short or changed anywhere is refused as damaged (and a study starts its run
//! over), never read as another state.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::run::{State, StateBefore4};
use crate::results::write_atomically;

/// The first bytes of every checkpoint.
const MAGIC: &[u8; 8] = b"NALMCKPT";
/// The format this build writes: 4 since the settings say how the second convolution is
/// computed; 3 added the body's length and digest after the version. (2 and 3 are still read,
/// as runs with direct convolutions: their settings name the run's loss and subnormal mode and
/// each logged epoch holds the head's parameters and what the encoder reads.)
pub const VERSION: u32 = 4;
/// The oldest format this build reads.
const OLDEST: u32 = 2;
/// Magic, version, and from format 3 on the body's length (u64) and SHA-256.
const HEAD: usize = 12;
const HEAD_3: usize = HEAD + 8 + 32;

/// Why a checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{0}: cannot read it: {1}")]
    Unreadable(String, std::io::Error),
    #[error("{0}: not a nalm checkpoint")]
    Foreign(String),
    #[error(
        "{0}: checkpoint format {1}, this build reads formats {OLDEST} to {VERSION}: use the build that wrote it"
    )]
    Version(String, u32),
    #[error("{0}: truncated or corrupt: {1}")]
    Corrupt(String, String),
    #[error("{0}: cannot write it: {1}")]
    Unwritable(String, String),
}

impl CheckpointError {
    /// Whether the file is not a whole checkpoint (cut short, or overwritten with something
    /// else), as a crash on a file system that does not keep its promises can leave it: its
    /// run can start over. A checkpoint of another format or one that cannot be read is not
    /// damaged; those need the user.
    pub fn is_damaged(&self) -> bool {
        matches!(
            self,
            CheckpointError::Foreign(_) | CheckpointError::Corrupt(..)
        )
    }
}

/// Writes `state` to `path` (atomically: a crash leaves the previous checkpoint).
pub fn save(path: &Path, state: &State) -> Result<(), CheckpointError> {
    let body = bincode::serde::encode_to_vec(state, bincode::config::standard())
        .map_err(|e| CheckpointError::Unwritable(path.display().to_string(), e.to_string()))?;
    let mut bytes = Vec::with_capacity(body.len() + HEAD_3);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(&body));
    bytes.extend_from_slice(&body);
    write_atomically(path, &bytes)
        .map_err(|e| CheckpointError::Unwritable(path.display().to_string(), e.to_string()))
}

/// Reads the state saved at `path`.
pub fn load(path: &Path) -> Result<State, CheckpointError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::Unreadable(name.clone(), e))?;
    decode(&bytes, name)
}

/// The state in the bytes of a checkpoint (named `name` in errors).
pub fn decode(bytes: &[u8], name: String) -> Result<State, CheckpointError> {
    let corrupt = |problem: String| CheckpointError::Corrupt(name.clone(), problem);
    if bytes.len() < HEAD {
        return Err(if MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
            corrupt(format!("{} bytes, cut short", bytes.len()))
        } else {
            CheckpointError::Foreign(name)
        });
    }
    if &bytes[..8] != MAGIC {
        return Err(CheckpointError::Foreign(name));
    }
    let version = u32::from_le_bytes(bytes[8..HEAD].try_into().expect("four bytes"));
    if !(OLDEST..=VERSION).contains(&version) {
        return Err(CheckpointError::Version(name, version));
    }
    let body = if version == 2 {
        &bytes[HEAD..]
    } else {
        if bytes.len() < HEAD_3 {
            return Err(corrupt(format!("{} bytes, cut short", bytes.len())));
        }
        let length = u64::from_le_bytes(bytes[HEAD..HEAD + 8].try_into().expect("eight bytes"));
        let body = &bytes[HEAD_3..];
        if body.len() as u64 != length {
            return Err(corrupt(format!(
                "{} bytes of state where it wrote {length}",
                body.len()
            )));
        }
        if Sha256::digest(body)[..] != bytes[HEAD + 8..HEAD_3] {
            return Err(corrupt("its contents changed since it was written".into()));
        }
        body
    };
    let config = bincode::config::standard();
    let (state, used): (State, usize) = if version < 4 {
        // before the settings said how the second convolution is computed
        bincode::serde::decode_from_slice::<StateBefore4, _>(body, config)
            .map(|(state, used)| (state.into(), used))
    } else {
        bincode::serde::decode_from_slice(body, config)
    }
    .map_err(|e| corrupt(e.to_string()))?;
    if used != body.len() {
        return Err(corrupt(format!(
            "{} bytes after the state",
            body.len() - used
        )));
    }
    let consistent = state.settings.head().is_some_and(|head| {
        let len = super::network::Network::new(head).train.param_len();
        state.params.len() == len && state.adam.m.len() == len && state.adam.v.len() == len
    });
    if !consistent {
        return Err(corrupt("an inconsistent state".into()));
    }
    Ok(state)
}
