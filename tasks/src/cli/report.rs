//! `nalm report`: the statistics, tables and figure of a sweep directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args as ClapArgs;

use crate::mnist;
use crate::report::{self, figure, groups, tables};
use crate::sweep::store::{self, Task, write_atomically};
use crate::sweep::{Collection, Manifest};

/// Summarise a sweep: success rates (Wilson), solved-at (gamma fit), sparsity (the
/// reference's beta fit and the plain mean), failed seeds; tables and the study's figure.
/// For an MNIST study: mean, sd and se per head and metric over the folds, the bar chart
/// and the violins.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The sweep's results directory (what `nalm sweep --out` or `nalm merge --out` wrote).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Where to write the report files [default: DIR/report].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<i32> {
    report(&args.dir, args.out.as_deref())?;
    Ok(0)
}

/// Prints the success matrix and writes report.md, groups.csv, runs.csv and figure.svg.
pub fn report(dir: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("{}: not a sweep directory", dir.display());
    }
    let task = match store::read_manifest(dir)? {
        Some(m) => m.task,
        None => match store::results_files(dir)?.first() {
            Some(file) => Task::of_results(file)?,
            None => Task::Modules,
        },
    };
    if task == Task::Mnist {
        return mnist_report(dir, out);
    }
    let results: Collection = Collection::of_dir(dir)?;
    let manifest = match store::read_manifest(dir)? {
        Some(m) => m,
        None => manifest_of(dir, Task::Modules, &results),
    };
    if results.runs.is_empty() {
        anyhow::bail!("{}: no finished runs", dir.display());
    }
    let groups = groups(&manifest, &results);
    let out = out.map_or_else(|| dir.join("report"), Path::to_path_buf);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut conventions: Vec<String> = Vec::new();
    for (run, _) in results.runs.values() {
        let name = run.record.settings.conventions.name().to_string();
        if !conventions.contains(&name) {
            conventions.push(name);
        }
    }
    write_atomically(
        &out.join("report.md"),
        tables::markdown(&manifest.name, &groups, &conventions).as_bytes(),
    )?;
    write_atomically(&out.join("groups.csv"), &tables::groups_csv(&groups)?)?;
    write_atomically(&out.join("runs.csv"), &tables::runs_csv(&results)?)?;
    let figure_path = out.join("figure.svg");
    let mut sizes: Vec<usize> = results
        .runs
        .values()
        .map(|(run, _)| run.record.settings.input_size)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
    let title = format!(
        "Sweep {}: {} inputs, {} runs",
        manifest.name,
        sizes.join(" and "),
        results.runs.len()
    );
    figure::draw(&figure_path, &title, &groups)
        .map_err(|e| anyhow::anyhow!("{}: {e}", figure_path.display()))?;

    println!("{}", tables::success_matrix(&groups));
    let missing: usize = groups.iter().map(|g| g.missing).sum();
    if missing > 0 {
        println!("{missing} planned runs have no result yet (re-run the sweep to finish them)");
    }
    println!(
        "report: {}  tables: {}, {}  figure: {}",
        out.join("report.md").display(),
        out.join("groups.csv").display(),
        out.join("runs.csv").display(),
        figure_path.display()
    );
    Ok(())
}

/// The MNIST study's report: the per-head table, report.md, two CSV files, two figures.
fn mnist_report(dir: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let results = Collection::<mnist::run::Record>::of_dir(dir)?;
    if results.runs.is_empty() {
        anyhow::bail!("{}: no finished runs", dir.display());
    }
    let manifest = match store::read_manifest(dir)? {
        Some(m) => m,
        None => manifest_of(dir, Task::Mnist, &results),
    };
    let out = out.map_or_else(|| dir.join("report"), Path::to_path_buf);
    let table = report::mnist::write(&manifest, &results, &out)?;
    println!("{table}");
    println!(
        "report: {}  tables: {}, {}  figures: {}, {}",
        out.join("report.md").display(),
        out.join("summary.csv").display(),
        out.join("folds.csv").display(),
        out.join("accuracy.svg").display(),
        out.join("violin.svg").display()
    );
    Ok(())
}

/// A manifest for results without one: groups in the order found.
fn manifest_of<R>(dir: &Path, task: Task, results: &Collection<R>) -> Manifest {
    let mut m = Manifest {
        name: dir
            .file_name()
            .map_or("sweep".into(), |n| n.to_string_lossy().into_owned()),
        task,
        models: Vec::new(),
        settings: Vec::new(),
        runs: Vec::new(),
    };
    for key in results.runs.keys() {
        if !m.models.contains(&key.model) {
            m.models.push(key.model.clone());
        }
        if !m.settings.contains(&key.setting) {
            m.settings.push(key.setting.clone());
        }
        m.runs.push(key.clone());
    }
    m
}
