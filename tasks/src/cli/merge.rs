//! `nalm merge`: one results directory from the shards' directories or files.

use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;

use crate::mnist;
use crate::results::write_atomically;
use crate::results::{self, Appender, Collection, Manifest, RunKey, RunKind, StoredRecord};
use crate::sweep::verify;
use crate::train::RunRecord;

/// Combine shard outputs (directories or results files) into one directory: identical
/// duplicates count once, disagreeing duplicates are an error, missing runs are listed. The
/// shards of a study (`nalm sweep all`) merge experiment by experiment.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Sweep directories or runs*.jsonl files.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<PathBuf>,
    /// The merged directory (must not hold results yet).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    let studies = args
        .sources
        .iter()
        .map(|s| {
            if s.is_dir() {
                results::read_study(s)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    match studies.iter().filter(|s| s.is_some()).count() {
        0 => merge_sweep(&args.sources, &args.out),
        n if n == studies.len() => {
            merge_study(&args.sources, studies.into_iter().flatten(), &args.out)
        }
        _ => anyhow::bail!(
            "some sources are studies (`nalm sweep all`) and some single sweeps; merge like with like"
        ),
    }
}

/// Merges the shards of a study: each experiment's subdirectories into the same
/// subdirectory of `out`, and the study's manifest. Returns the worst exit code.
fn merge_study(
    sources: &[PathBuf],
    studies: impl Iterator<Item = results::StudyManifest>,
    out: &Path,
) -> anyhow::Result<i32> {
    let mut experiments: Vec<String> = Vec::new();
    for study in studies {
        for name in study.experiments {
            if !experiments.contains(&name) {
                experiments.push(name);
            }
        }
    }
    results::write_study(
        out,
        results::StudyManifest {
            experiments: experiments.clone(),
        },
    )?;
    let mut code = 0;
    for name in &experiments {
        let parts: Vec<PathBuf> = sources
            .iter()
            .map(|s| s.join(name))
            .filter(|d| d.is_dir())
            .collect();
        if parts.is_empty() {
            println!("{name}: no results in any source");
            code = 1;
            continue;
        }
        print!("{name}: ");
        code = code.max(merge_sweep(&parts, &out.join(name))?);
    }
    Ok(code)
}

/// Merges the shards of one sweep into `out`.
fn merge_sweep(sources: &[PathBuf], out: &Path) -> anyhow::Result<i32> {
    let mut manifest: Option<Manifest> = None;
    let mut files = Vec::new();
    for source in sources {
        if source.is_dir() {
            if let Some(m) = results::read_manifest(source)? {
                manifest = Some(match manifest {
                    None => m,
                    Some(old) => match old.differs(&m) {
                        Some(other) => anyhow::bail!(
                            "{}: holds {other}, which the other sources are not; merge only the shards of one sweep",
                            source.display()
                        ),
                        None => old.union(&m),
                    },
                });
            }
            files.extend(results::results_files(source)?);
        } else if source.is_file() {
            files.push(source.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", source.display());
        }
    }
    let task = match &manifest {
        Some(m) => m.task,
        None => files
            .first()
            .map_or(Ok(RunKind::Modules), |f| RunKind::of_results(f))?,
    };
    match task {
        RunKind::Modules => merge::<RunRecord>(&files, manifest.as_ref(), out),
        RunKind::Mnist => merge::<mnist::run::Record>(&files, manifest.as_ref(), out),
    }
}

/// Merges the runs of `files` (records of type `R`) into the directory `out`.
fn merge<R: StoredRecord>(
    files: &[PathBuf],
    manifest: Option<&Manifest>,
    out: &Path,
) -> anyhow::Result<i32> {
    let mut results = Collection::<R>::default();
    for file in files {
        results.add_file(file)?;
    }
    if results.runs.is_empty() {
        anyhow::bail!("no finished runs in the sources: nothing to merge");
    }
    if let Some(problem) = manifest.and_then(|m| verify::foreign(m, &results)) {
        anyhow::bail!("{problem}");
    }
    std::fs::create_dir_all(out)?;
    if !results::results_files(out)?.is_empty() {
        anyhow::bail!(
            "{}: already holds results; merge into an empty directory",
            out.display()
        );
    }
    // runs in the manifest's order, then any the manifest does not list
    let order: Vec<RunKey> = match manifest {
        Some(m) => m
            .runs
            .iter()
            .filter(|k| results.runs.contains_key(*k))
            .cloned()
            .chain(results.runs.keys().filter(|k| !m.runs.contains(k)).cloned())
            .collect(),
        None => results.runs.keys().cloned().collect(),
    };
    let mut appender = Appender::open(&results::results_file(out, None))?;
    for key in &order {
        appender.append(&results.runs[key].0)?;
    }
    appender.sync()?;
    if let Some(m) = manifest {
        let text = serde_json::to_string_pretty(m)?;
        write_atomically(&out.join(results::MANIFEST), text.as_bytes())?;
    }
    println!(
        "merged {} runs into {} ({} identical duplicates folded)",
        order.len(),
        out.display(),
        results.duplicates
    );
    if let Some(m) = manifest {
        let missing: Vec<&RunKey> = m
            .runs
            .iter()
            .filter(|k| !results.runs.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            println!("{} planned runs are missing:", missing.len());
            for key in missing.iter().take(20) {
                println!("  {key}");
            }
            if missing.len() > 20 {
                println!("  ... and {} more", missing.len() - 20);
            }
            return Ok(1);
        }
    }
    Ok(0)
}
