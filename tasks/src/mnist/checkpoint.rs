//! Checkpoints of a run: the whole [`State`] between two epochs, as bincode behind a magic tag
//! and a format version, written atomically. A run resumed from one gives the same record as
//! the run that was not stopped, bit for bit.

use std::path::Path;

use super::run::State;
use crate::sweep::store::write_atomically;

/// The first bytes of every checkpoint.
const MAGIC: &[u8; 8] = b"NALMCKPT";
/// The format this build writes and reads: 2 since the settings name the run's loss and
/// subnormal mode and each logged epoch holds the head's parameters and what the encoder reads.
pub const VERSION: u32 = 2;

/// Why a checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{0}: cannot read it: {1}")]
    Unreadable(String, std::io::Error),
    #[error("{0}: not a nalm checkpoint")]
    Foreign(String),
    #[error(
        "{0}: checkpoint format {1}, this build reads format {VERSION}: use the build that wrote it"
    )]
    Version(String, u32),
    #[error("{0}: truncated or corrupt: {1}")]
    Corrupt(String, String),
    #[error("{0}: cannot write it: {1}")]
    Unwritable(String, String),
}

/// Writes `state` to `path` (atomically: a crash leaves the previous checkpoint).
pub fn save(path: &Path, state: &State) -> Result<(), CheckpointError> {
    let body = bincode::serde::encode_to_vec(state, bincode::config::standard())
        .map_err(|e| CheckpointError::Unwritable(path.display().to_string(), e.to_string()))?;
    let mut bytes = Vec::with_capacity(body.len() + 12);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&body);
    write_atomically(path, &bytes)
        .map_err(|e| CheckpointError::Unwritable(path.display().to_string(), e.to_string()))
}

/// Reads the state saved at `path`.
pub fn load(path: &Path) -> Result<State, CheckpointError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::Unreadable(name.clone(), e))?;
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(CheckpointError::Foreign(name));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("four bytes"));
    if version != VERSION {
        return Err(CheckpointError::Version(name, version));
    }
    let (state, used): (State, usize) =
        bincode::serde::decode_from_slice(&bytes[12..], bincode::config::standard())
            .map_err(|e| CheckpointError::Corrupt(name.clone(), e.to_string()))?;
    if used != bytes.len() - 12 {
        return Err(CheckpointError::Corrupt(
            name,
            format!("{} bytes after the state", bytes.len() - 12 - used),
        ));
    }
    let consistent = state.settings.head().is_some_and(|head| {
        let len = super::network::Network::new(head).train.param_len();
        state.params.len() == len && state.adam.m.len() == len && state.adam.v.len() == len
    });
    if !consistent {
        return Err(CheckpointError::Corrupt(
            name,
            "an inconsistent state".into(),
        ));
    }
    Ok(state)
}
