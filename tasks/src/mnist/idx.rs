//! Reading the MNIST files: gzip-compressed IDX, each checked against the SHA-256 of the
//! canonical decompressed file before it is used (`tasks/docs/mnist-task.md` section 2; `tasks/data/mnist/`).
//!
//! The four files are built into the binary, so an installed `nalm` needs no source tree;
//! `--data DIR` or `NALM_MNIST_DIR` read another copy from a folder instead ([`Mnist::locate`]).
//! A missing, unreadable, truncated, corrupt or foreign file is an error naming the file,
//! never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The folder of the MNIST files in this repository (the source of the copy built into the
/// binary; for tests and tools that work on the files themselves).
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("mnist")
}

/// The environment variable naming a folder to read the MNIST files from, when no
/// `--data` is given.
pub const DIR_VARIABLE: &str = "NALM_MNIST_DIR";

/// The four compressed files as built into the binary, by name.
const EMBEDDED: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// Where the MNIST files are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The copy built into this binary.
    Embedded,
    /// A folder holding the four files.
    Dir(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Embedded => write!(f, "the copy built into nalm"),
            Source::Dir(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// One of the four files, with what it must hold.
#[derive(Clone, Copy, Debug)]
struct FileSpec {
    name: &'static str,
    /// The IDX magic number: 0x803 for images (unsigned bytes, 3 dimensions), 0x801 for
    /// labels (1 dimension).
    magic: u32,
    count: usize,
    /// SHA-256 of the decompressed file.
    sha256: &'static str,
}

const TRAIN_IMAGES: FileSpec = FileSpec {
    name: "train-images-idx3-ubyte.gz",
    magic: 0x803,
    count: 60_000,
    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
};
const TRAIN_LABELS: FileSpec = FileSpec {
    name: "train-labels-idx1-ubyte.gz",
    magic: 0x801,
    count: 60_000,
    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
};
const TEST_IMAGES: FileSpec = FileSpec {
    name: "t10k-images-idx3-ubyte.gz",
    magic: 0x803,
    count: 10_000,
    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
};
const TEST_LABELS: FileSpec = FileSpec {
    name: "t10k-labels-idx1-ubyte.gz",
    magic: 0x801,
    count: 10_000,
    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
};

/// Image side in pixels.
pub const SIDE: usize = 28;

/// Why an MNIST file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: cannot read it: {source}")]
    Unreadable {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: not a valid gzip stream (truncated or corrupt): {source}")]
    Gzip {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{file}: the decompressed content is not the MNIST file (SHA-256 {found}, expected {expected})"
    )]
    Checksum {
        file: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{file}: {what}")]
    Format { file: PathBuf, what: String },
}

/// One split: its images (row-major bytes, 28 x 28 each) and labels.
#[derive(Clone, Debug)]
pub struct Split {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * SIDE * SIDE..][..SIDE * SIDE]
    }
}

/// The MNIST training and test splits.
#[derive(Clone, Debug)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

impl Mnist {
    /// Where to read the files: `data` (a `--data` folder) if given, else the folder that
    /// [`DIR_VARIABLE`] names, else the copy built into the binary.
    pub fn locate(data: Option<&Path>) -> Source {
        match data {
            Some(dir) => Source::Dir(dir.to_path_buf()),
            None => match std::env::var_os(DIR_VARIABLE) {
                Some(dir) if !dir.is_empty() => Source::Dir(PathBuf::from(dir)),
                _ => Source::Embedded,
            },
        }
    }

    /// Reads and checks the four files from `source`.
    pub fn from_source(source: &Source) -> Result<Mnist, DataError> {
        match source {
            Source::Embedded => Mnist::embedded(),
            Source::Dir(dir) => Mnist::load(dir),
        }
    }

    /// Reads and checks the four files in `dir`.
    pub fn load(dir: &Path) -> Result<Mnist, DataError> {
        Mnist::from_files(|spec| {
            let file = dir.join(spec.name);
            let compressed = std::fs::read(&file).map_err(|source| DataError::Unreadable {
                file: file.clone(),
                source,
            })?;
            Ok((file, compressed))
        })
    }

    /// Checks and reads the copy of the four files built into the binary.
    pub fn embedded() -> Result<Mnist, DataError> {
        Mnist::from_files(|spec| {
            let (name, bytes) = EMBEDDED
                .iter()
                .find(|(name, _)| *name == spec.name)
                .expect("every file is embedded");
            Ok((
                PathBuf::from(format!("{name} (built into nalm)")),
                bytes.to_vec(),
            ))
        })
    }

    /// The splits from the compressed files that `open` gives (with the name errors show).
    fn from_files(
        open: impl Fn(FileSpec) -> Result<(PathBuf, Vec<u8>), DataError>,
    ) -> Result<Mnist, DataError> {
        let read = |spec: FileSpec| {
            let (file, compressed) = open(spec)?;
            decode(file, &compressed, spec)
        };
        let split = |images: FileSpec, labels: FileSpec| -> Result<Split, DataError> {
            Ok(Split {
                pixels: read(images)?,
                labels: read(labels)?,
            })
        };
        Ok(Mnist {
            train: split(TRAIN_IMAGES, TRAIN_LABELS)?,
            test: split(TEST_IMAGES, TEST_LABELS)?,
        })
    }
}

/// The payload of one compressed file (pixels or labels, named `file` in errors) after
/// every check.
fn decode(file: PathBuf, compressed: &[u8], spec: FileSpec) -> Result<Vec<u8>, DataError> {
    let mut content = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .read_to_end(&mut content)
        .map_err(|source| DataError::Gzip {
            file: file.clone(),
            source,
        })?;
    let found = hex(&Sha256::digest(&content));
    if found != spec.sha256 {
        return Err(DataError::Checksum {
            file,
            found,
            expected: spec.sha256.to_owned(),
        });
    }
    parse(&content, spec).map_err(|what| DataError::Format { file, what })
}

/// The payload of an IDX file checked against `spec` (its magic, count and dimensions).
fn parse(content: &[u8], spec: FileSpec) -> Result<Vec<u8>, String> {
    let word = |i: usize| -> Result<usize, String> {
        let bytes = content
            .get(4 * i..4 * i + 4)
            .ok_or_else(|| format!("the header ends after {} bytes", content.len()))?;
        Ok(u32::from_be_bytes(bytes.try_into().expect("four bytes")) as usize)
    };
    let magic = word(0)?;
    if magic != spec.magic as usize {
        return Err(format!("IDX magic {magic:#x}, expected {:#x}", spec.magic));
    }
    let count = word(1)?;
    let (header, item) = if spec.magic == 0x803 {
        let (rows, cols) = (word(2)?, word(3)?);
        if (rows, cols) != (SIDE, SIDE) {
            return Err(format!("{rows} x {cols} images, expected {SIDE} x {SIDE}"));
        }
        (16, SIDE * SIDE)
    } else {
        (8, 1)
    };
    if count != spec.count {
        return Err(format!("{count} items, expected {}", spec.count));
    }
    let payload = &content[header..];
    if payload.len() != count * item {
        return Err(format!(
            "{} bytes after the header, expected {}",
            payload.len(),
            count * item
        ));
    }
    if spec.magic == 0x801
        && let Some(bad) = payload.iter().find(|&&l| l > 9)
    {
        return Err(format!("label {bad} outside 0..9"));
    }
    Ok(payload.to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_that_lies_is_refused_with_what_is_wrong() {
        let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3];
        let spec = FileSpec {
            count: 3,
            ..TEST_LABELS
        };
        assert_eq!(parse(&labels, spec), Ok(vec![1, 2, 3]));
        labels[10] = 12;
        assert_eq!(parse(&labels, spec), Err("label 12 outside 0..9".into()));
        labels[3] = 3;
        assert!(parse(&labels, spec).unwrap_err().contains("magic 0x803"));
        assert!(
            parse(&[0, 0, 8, 1, 0], spec)
                .unwrap_err()
                .contains("header ends")
        );
        let short = [0, 0, 8, 1, 0, 0, 0, 3, 1, 2];
        assert!(
            parse(&short, spec)
                .unwrap_err()
                .contains("2 bytes after the header")
        );
    }
}
