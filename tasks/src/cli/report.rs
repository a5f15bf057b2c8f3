//! `nalm report`: the statistics, tables and figure of a sweep directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args as ClapArgs;

use crate::mnist;
use crate::report::{self, figure, groups, study, tables};
use crate::results::write_atomically;
use crate::results::{self, Collection, Manifest, RunKind, StudyManifest};
use crate::sweep::{Experiment, verify};

/// Summarise a sweep: success rates (Wilson), solved-at (gamma fit), sparsity (the
/// reference's beta fit and the plain mean), failed seeds; tables and the study's figure.
/// For an MNIST study: mean, sd and se per head and metric over the folds, the paper's last
/// claim checked head by head, what each run learned, the bar chart, the violins and the
/// learning curves.
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

/// Prints the success matrix and writes report.md, groups.csv, runs.csv and the figure;
/// for a study, every experiment's report and the study's index with its claims.
pub fn report(dir: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("{}: not a sweep directory", dir.display());
    }
    if let Some(study) = results::read_study(dir)? {
        return study_report(dir, out, &study);
    }
    let task = match results::read_manifest(dir)? {
        Some(m) => m.task,
        None => match results::results_files(dir)?.first() {
            Some(file) => RunKind::of_results(file)?,
            None => RunKind::Modules,
        },
    };
    if task == RunKind::Mnist {
        return mnist_report(dir, out);
    }
    let written = sweep_report(dir, out)?;
    println!("{}", tables::success_matrix(&written.groups));
    let missing: usize = written.groups.iter().map(|g| g.missing).sum();
    if missing > 0 {
        println!("{missing} planned runs have no result yet (re-run the sweep to finish them)");
    }
    let out = &written.out;
    println!(
        "report: {}  tables: {}, {}  figures: {}, {}",
        out.join("report.md").display(),
        out.join("groups.csv").display(),
        out.join("runs.csv").display(),
        out.join(FIGURE_SVG).display(),
        out.join(FIGURE_PNG).display()
    );
    Ok(())
}

/// The figure of a sweep's report, as a vector and as a bitmap.
const FIGURE_SVG: &str = "figure.svg";
const FIGURE_PNG: &str = "figure.png";

/// A sweep's report as written: its groups and where the files are.
struct Written {
    name: String,
    groups: Vec<report::Group>,
    out: PathBuf,
}

/// Writes the report files of the single-module sweep in `dir`.
fn sweep_report(dir: &Path, out: Option<&Path>) -> anyhow::Result<Written> {
    let results: Collection = Collection::of_dir(dir)?;
    let manifest = match results::read_manifest(dir)? {
        Some(m) => {
            if let Some(problem) = verify::foreign(&m, &results) {
                anyhow::bail!("{problem}; report it from its own directory");
            }
            m
        }
        None => manifest_of(dir, RunKind::Modules, &results),
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
    for name in [FIGURE_SVG, FIGURE_PNG] {
        let path = out.join(name);
        figure::draw(&path, &title, &groups)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(Written {
        name: manifest.name,
        groups,
        out,
    })
}

/// The study's report: each experiment's report in its own directory, and `index.md` with
/// every success table and figure and the paper's claims checked against them.
fn study_report(dir: &Path, out: Option<&Path>, study: &StudyManifest) -> anyhow::Result<()> {
    let out = out.map_or_else(|| dir.join("report"), Path::to_path_buf);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    let mut absent = Vec::new();
    for name in &study.experiments {
        let sub = dir.join(name);
        if results::results_files(&sub).map_or(true, |files| files.is_empty()) {
            absent.push(name.as_str());
            continue;
        }
        written.push(sweep_report(&sub, None)?);
    }
    let relative = |w: &Written, file: &str| -> String {
        let target = w.out.join(file);
        pathdiff(&target, &out)
    };
    let entries: Vec<study::Entry> = written
        .iter()
        .map(|w| study::Entry {
            name: &w.name,
            about: Experiment::by_name(&w.name).map_or("", |e| e.about),
            groups: &w.groups,
            figure: relative(w, FIGURE_PNG),
            report: relative(w, "report.md"),
        })
        .collect();
    let index = out.join("index.md");
    let claims = study::claims(&entries);
    write_atomically(&index, study::index(&entries, &claims, &absent).as_bytes())?;
    for w in &written {
        let runs: usize = w.groups.iter().map(|g| g.runs).sum();
        let solved: usize = w.groups.iter().map(|g| g.solved).sum();
        println!("{:<18} {solved:>5}/{runs:<5} solved", w.name);
    }
    print!("{}", report::claims::terminal(&claims));
    println!("study report: {}", index.display());
    Ok(())
}

/// `target` relative to the directory `base` when it lies below the same root (the study's
/// report links into its experiments' directories), else `target` as given.
fn pathdiff(target: &Path, base: &Path) -> String {
    let (t, b) = (
        target.components().collect::<Vec<_>>(),
        base.components().collect::<Vec<_>>(),
    );
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}

/// The MNIST study's report: the per-head table and the claims, report.md, two CSV files,
/// three figures.
fn mnist_report(dir: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let results = Collection::<mnist::run::Record>::of_dir(dir)?;
    if results.runs.is_empty() {
        anyhow::bail!("{}: no finished runs", dir.display());
    }
    let manifest = match results::read_manifest(dir)? {
        Some(m) => m,
        None => manifest_of(dir, RunKind::Mnist, &results),
    };
    let out = out.map_or_else(|| dir.join("report"), Path::to_path_buf);
    let (table, claims) = report::mnist::write(&manifest, &results, &out)?;
    println!("{table}");
    print!("{}", report::claims::terminal(&claims));
    let figures: Vec<String> = report::mnist::FIGURES
        .iter()
        .map(|f| out.join(format!("{f}.png")).display().to_string())
        .collect();
    println!(
        "report: {}  tables: {}, {}  figures (also as .svg): {}",
        out.join("report.md").display(),
        out.join("summary.csv").display(),
        out.join("folds.csv").display(),
        figures.join(", ")
    );
    Ok(())
}

/// A manifest for results without one: groups in the order found.
fn manifest_of<R>(dir: &Path, task: RunKind, results: &Collection<R>) -> Manifest {
    let mut m = Manifest::new(
        dir.file_name()
            .map_or("sweep".into(), |n| n.to_string_lossy().into_owned()),
        task,
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
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
