//! The MNIST files in the repository, the folds' samples, and files that must be refused.

use std::io::Write;
use std::path::PathBuf;

use tasks::mnist::dataset::FoldData;
use tasks::mnist::idx::{DataError, Mnist, default_dir};

#[test]
fn the_repository_holds_the_mnist_files_the_readme_describes() {
    let mnist = Mnist::load(&default_dir()).expect("the MNIST files load");
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    assert_eq!(&mnist.train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&mnist.test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let counts = |labels: &[u8]| {
        let mut c = [0usize; 10];
        labels.iter().for_each(|&l| c[usize::from(l)] += 1);
        c
    };
    assert_eq!(
        counts(&mnist.train.labels),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        counts(&mnist.test.labels),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let sum = |pixels: &[u8]| pixels.iter().map(|&p| u64::from(p)).sum::<u64>();
    assert_eq!(sum(&mnist.train.pixels), 1_567_298_545);
    assert_eq!(sum(&mnist.test.pixels), 264_923_200);

    // the folds' samples: the documented counts, images of the right digits from the right split
    for (fold, (train, test)) in [(0, (72_000, 9_000)), (3, (73_000, 8_000))] {
        let data = FoldData::build(&mnist, fold, fold as u64, 1000);
        assert_eq!(
            (data.train.len(), data.test.len()),
            (train, test),
            "fold {fold}"
        );
        for s in data.train.iter().step_by(97) {
            assert_eq!(mnist.train.labels[s.left as usize], s.pair.a);
            assert_eq!(mnist.train.labels[s.right as usize], s.pair.b);
        }
        for s in data.test.iter().step_by(31) {
            assert_eq!(mnist.test.labels[s.left as usize], s.pair.a);
            assert_eq!(mnist.test.labels[s.right as usize], s.pair.b);
        }
    }
    // the same seed draws the same samples; another seed others
    let (a, b) = (
        FoldData::build(&mnist, 2, 2, 20),
        FoldData::build(&mnist, 2, 2, 20),
    );
    assert_eq!(a.train, b.train);
    assert_ne!(a.train, FoldData::build(&mnist, 2, 3, 20).train);
}

/// A copy of the MNIST folder, one file replaced by `bytes` (or removed when None).
fn damaged_copy(tag: &str, name: &str, bytes: Option<Vec<u8>>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nalm-mnist-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    for entry in std::fs::read_dir(default_dir()).expect("the MNIST folder") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "gz") {
            std::fs::copy(&path, dir.join(path.file_name().expect("a name"))).expect("a copy");
        }
    }
    let target = dir.join(name);
    match bytes {
        Some(bytes) => std::fs::write(&target, bytes).expect("a write"),
        None => std::fs::remove_file(&target).expect("a removal"),
    }
    dir
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(content).expect("compressed");
    encoder.finish().expect("compressed")
}

#[test]
fn missing_truncated_corrupt_and_foreign_files_are_refused_naming_the_file() {
    let labels = "t10k-labels-idx1-ubyte.gz";
    let original = std::fs::read(default_dir().join(labels)).expect("the labels");
    let cases: [(&str, Option<Vec<u8>>); 4] = [
        ("missing", None),
        ("truncated", Some(original[..original.len() / 2].to_vec())),
        ("foreign", Some(gzip(b"not an IDX file at all"))),
        ("wrong-magic", Some(gzip(&[0, 0, 8, 3, 0, 0, 39, 16]))),
    ];
    for (tag, bytes) in cases {
        let dir = damaged_copy(tag, labels, bytes);
        let error = Mnist::load(&dir).expect_err(tag);
        let message = error.to_string();
        assert!(message.contains(labels), "{tag}: {message}");
        match (tag, &error) {
            ("missing", DataError::Unreadable { .. }) | ("truncated", DataError::Gzip { .. }) => {}
            ("foreign" | "wrong-magic", DataError::Checksum { .. }) => {}
            _ => panic!("{tag}: {error:?}"),
        }
        std::fs::remove_dir_all(dir).expect("cleaned up");
    }
    // a flipped byte inside the compressed stream: the gzip check or the checksum catches it
    let mut corrupt = original.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x40;
    let dir = damaged_copy("corrupt", labels, Some(corrupt));
    let message = Mnist::load(&dir).expect_err("corrupt").to_string();
    assert!(message.contains(labels), "{message}");
    std::fs::remove_dir_all(dir).expect("cleaned up");
}
