//! The results reader on arbitrary bytes: a `runs.jsonl` file and a `sweep.json` manifest
//! either parse or give an error; neither may panic. A parsed manifest and records then go
//! through the checks `nalm report` and `nalm merge` make.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tasks::results::{Collection, Manifest, parse_results};
use tasks::sweep::verify;
use tasks::train::RunRecord;

fuzz_target!(|data: &[u8]| {
    // the first line is the manifest, the rest the results file
    let (head, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let manifest = serde_json::from_slice::<Manifest>(head).ok();
    let path = Path::new("runs.jsonl");
    let Ok((runs, _)) = parse_results::<RunRecord>(rest, path) else {
        return;
    };
    let mut collection = Collection::<RunRecord>::default();
    for run in runs {
        let _ = collection.add(run, path);
    }
    if let Some(manifest) = manifest {
        let _ = verify::foreign(&manifest, &collection);
        let _ = manifest.differs(&manifest);
    }
});
