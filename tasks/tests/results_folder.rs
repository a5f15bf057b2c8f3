//! A results folder shared by writers that run side by side: shards of different plans
//! adding their runs to one manifest lose none of each other's.

use std::path::PathBuf;

use tasks::results::{self, Manifest, RunKey, RunKind};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nalm-results-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn key(model: &str, seed: u32) -> RunKey {
    RunKey {
        model: model.into(),
        setting: "U[1,2]".into(),
        seed,
    }
}

#[test]
fn writers_of_different_plans_sharing_a_manifest_lose_none_of_each_others_runs() {
    let dir = scratch("manifests");
    let (writers, rounds) = (6, 25);
    std::thread::scope(|scope| {
        for w in 0..writers {
            let dir = &dir;
            scope.spawn(move || {
                let model = format!("model {w}");
                // each round a plan with one more seed, as a sweep file grown between runs
                for round in 0..rounds {
                    let mine = Manifest::new(
                        "shared".into(),
                        RunKind::Modules,
                        vec![model.clone()],
                        vec!["U[1,2]".into()],
                        (0..=round).map(|seed| key(&model, seed)).collect(),
                    );
                    results::write_manifest(dir, mine).unwrap();
                }
            });
        }
    });
    let manifest = results::read_manifest(&dir).unwrap().unwrap();
    assert_eq!(manifest.models.len(), writers, "{:?}", manifest.models);
    assert_eq!(manifest.runs.len(), writers * rounds as usize);
    for w in 0..writers {
        for seed in 0..rounds {
            assert!(manifest.runs.contains(&key(&format!("model {w}"), seed)));
        }
    }
    // nothing but the manifest and its lock is left in the folder
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".manifest.lock", "sweep.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
