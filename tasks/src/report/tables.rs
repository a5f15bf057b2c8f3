//! The report's tables: a success-rate matrix for the terminal and Markdown, the group
//! statistics and the per-run table as CSV, and the list of failed runs.

use std::fmt::Write;

use super::groups::Group;
use crate::results::Collection;
use crate::stats::{Estimate, Method};

/// The row (setting) and column (model) labels in report order.
pub fn axes(groups: &[Group]) -> (Vec<&str>, Vec<&str>) {
    let mut settings: Vec<&str> = Vec::new();
    let mut models: Vec<&str> = Vec::new();
    for g in groups {
        if !settings.contains(&g.setting.as_str()) {
            settings.push(&g.setting);
        }
        if !models.contains(&g.model.as_str()) {
            models.push(&g.model);
        }
    }
    (settings, models)
}

fn cell(group: Option<&Group>) -> String {
    match group {
        Some(g) if g.runs > 0 => {
            let missing = if g.missing > 0 {
                format!(" (+{} missing)", g.missing)
            } else {
                String::new()
            };
            format!(
                "{} {}/{}{missing}",
                percent(g.solved, g.runs),
                g.solved,
                g.runs
            )
        }
        Some(g) if g.missing > 0 => format!("- (0/{} run)", g.missing),
        _ => "-".to_string(),
    }
}

/// A share as a whole percentage, rounded to nearest (2 of 3 is 67%).
fn percent(part: usize, whole: usize) -> String {
    format!("{:.0}%", 100.0 * part as f64 / whole as f64)
}

fn find<'a>(groups: &'a [Group], model: &str, setting: &str) -> Option<&'a Group> {
    groups
        .iter()
        .find(|g| g.model == model && g.setting == setting)
}

/// Success rates as a matrix: one line per setting, one column per model.
pub fn success_matrix(groups: &[Group]) -> String {
    let (settings, models) = axes(groups);
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("success rate".to_string())
            .chain(models.iter().map(|m| m.to_string()))
            .collect(),
    ];
    for s in &settings {
        rows.push(
            std::iter::once(s.to_string())
                .chain(models.iter().map(|m| cell(find(groups, m, s))))
                .collect(),
        );
    }
    aligned(&rows)
}

/// Rows as text columns: the first left-aligned, the others right-aligned.
pub fn aligned(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (text, w))| {
                if c == 0 {
                    format!("{text:<w$}")
                } else {
                    format!("{text:>w$}")
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Iterations as whole numbers.
fn whole(v: f64) -> String {
    format!("{v:.0}")
}

/// Sparsity errors span orders of magnitude: two significant digits.
fn small(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:.1e}")
    }
}

fn estimate_text(e: &Option<Estimate>, show: fn(f64) -> String) -> String {
    match e {
        None => "-".into(),
        Some(e) => match e.interval {
            Some((lo, hi)) => format!("{} [{}, {}]", show(e.point), show(lo), show(hi)),
            None => show(e.point),
        },
    }
}

fn method_text(e: &Option<Estimate>) -> &'static str {
    match e.map(|e| e.method) {
        None => "",
        Some(Method::ProfileLikelihood) => "profile-likelihood",
        Some(Method::TInterval) => "t-interval",
        Some(Method::Single) => "single value",
    }
}

/// The success matrix as a markdown table: settings down, models across.
pub fn success_markdown(groups: &[Group]) -> String {
    let (settings, models) = axes(groups);
    let mut md = format!("| setting | {} |\n", models.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(models.len()));
    for s in &settings {
        let cells: Vec<String> = models.iter().map(|m| cell(find(groups, m, s))).collect();
        let _ = writeln!(md, "| {s} | {} |", cells.join(" | "));
    }
    md
}

/// The report of sweep `name` in Markdown, whose runs used the derivative `conventions`:
/// the success matrix, every group's statistics, gradient health, failed runs.
pub fn markdown(name: &str, groups: &[Group], conventions: &[String]) -> String {
    let mut md = format!(
        "# Sweep `{name}`\n\nDerivative conventions (clamp bounds, min/max ties): {}.\n\n## Success rate\n\n",
        conventions.join(", ")
    );
    md.push_str(&success_markdown(groups));
    md.push_str(
        "\n## Groups\n\nSuccess: Wilson 95% interval. Solved-at: gamma fit as the reference \
         computes it (profile likelihood with the variance held at the fit). Sparsity: the \
         reference's beta fit (density evaluated at the raw values, so about half the mean) \
         and, beside it, the plain mean. Solved runs only for both.\n\n",
    );
    md.push_str(
        "| model | setting | solved | success [95%] | solved at [95%] | sparsity, beta fit [95%] | sparsity, mean | diverged |\n|---|---|---|---|---|---|---|---|\n",
    );
    for g in groups {
        let success = g.success.map_or("-".into(), |w| {
            format!("{:.3} [{:.3}, {:.3}]", w.point, w.lower, w.upper)
        });
        let _ = writeln!(
            md,
            "| {} | {} | {}/{} | {success} | {} | {} | {} | {} |",
            g.model,
            g.setting,
            g.solved,
            g.runs,
            estimate_text(&g.solved_at, whole),
            // every solved run exact: no distribution to fit (the fit would show its floor)
            if g.sparsity_mean == Some(0.0) {
                "0 (every run exact)".to_string()
            } else {
                estimate_text(&g.sparsity_beta_fit, small)
            },
            g.sparsity_mean.map_or("-".into(), small),
            g.diverged
        );
    }
    md.push_str(&gradient_section(groups));
    md.push_str("\n## Failed runs (seeds)\n\n");
    let mut any = false;
    for g in groups.iter().filter(|g| !g.failed_seeds.is_empty()) {
        any = true;
        let seeds: Vec<String> = g.failed_seeds.iter().map(u32::to_string).collect();
        let _ = writeln!(md, "- {} / {}: {}", g.model, g.setting, seeds.join(", "));
    }
    if !any {
        md.push_str("None.\n");
    }
    md
}

/// Gradient health per group, and every group whose runs met a non-finite gradient.
fn gradient_section(groups: &[Group]) -> String {
    if groups.iter().all(|g| g.gradients.runs == 0) {
        return String::new();
    }
    let mut md = String::from(
        "\n## Gradient health\n\nPer group: the median over runs of a run's largest gradient \
         norm (before clipping), the largest |g| of any run, and the runs that met a NaN or \
         infinite gradient entry.\n\n| model | setting | median largest norm | largest abs(g) | runs with non-finite gradients |\n|---|---|---|---|---|\n",
    );
    for g in groups.iter().filter(|g| g.gradients.runs > 0) {
        let h = &g.gradients;
        let flag = if h.non_finite.is_empty() {
            ""
        } else {
            " **!**"
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {}/{}{flag} |",
            g.model,
            g.setting,
            h.median_largest_norm.map_or("-".into(), small),
            h.largest.map_or("-".into(), small),
            h.non_finite.len(),
            h.runs
        );
    }
    let flagged: Vec<&Group> = groups
        .iter()
        .filter(|g| !g.gradients.non_finite.is_empty())
        .collect();
    if !flagged.is_empty() {
        md.push_str("\nRuns with non-finite gradients, and where the first began:\n\n");
        for g in flagged {
            for (seed, at) in &g.gradients.non_finite {
                let _ = writeln!(md, "- {} / {} seed {seed}: {at}", g.model, g.setting);
            }
        }
    }
    md
}

fn optional(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// Every group's statistics, one CSV row each.
pub fn groups_csv(groups: &[Group]) -> csv::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "model",
        "setting",
        "runs",
        "missing",
        "solved",
        "success_rate",
        "success_lower",
        "success_upper",
        "solved_at",
        "solved_at_lower",
        "solved_at_upper",
        "solved_at_method",
        "sparsity_beta_fit",
        "sparsity_beta_fit_lower",
        "sparsity_beta_fit_upper",
        "sparsity_beta_fit_method",
        "sparsity_mean",
        "diverged",
        "failed_seeds",
        "median_largest_gradient_norm",
        "largest_abs_gradient",
        "runs_with_non_finite_gradients",
    ])?;
    for g in groups {
        let interval = |e: &Option<Estimate>| {
            let i = e.and_then(|e| e.interval);
            (optional(i.map(|i| i.0)), optional(i.map(|i| i.1)))
        };
        let (at_lo, at_hi) = interval(&g.solved_at);
        let (sp_lo, sp_hi) = interval(&g.sparsity_beta_fit);
        let seeds: Vec<String> = g.failed_seeds.iter().map(u32::to_string).collect();
        w.write_record([
            g.model.clone(),
            g.setting.clone(),
            g.runs.to_string(),
            g.missing.to_string(),
            g.solved.to_string(),
            optional(g.success.map(|s| s.point)),
            optional(g.success.map(|s| s.lower)),
            optional(g.success.map(|s| s.upper)),
            optional(g.solved_at.map(|e| e.point)),
            at_lo,
            at_hi,
            method_text(&g.solved_at).into(),
            optional(g.sparsity_beta_fit.map(|e| e.point)),
            sp_lo,
            sp_hi,
            method_text(&g.sparsity_beta_fit).into(),
            optional(g.sparsity_mean),
            g.diverged.to_string(),
            seeds.join(" "),
            optional(g.gradients.median_largest_norm),
            optional(g.gradients.largest),
            g.gradients.non_finite.len().to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// One row per run: the chosen row, its MSEs, the verdict.
pub fn runs_csv(results: &Collection) -> csv::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "model",
        "setting",
        "seed",
        "chosen_step",
        "valid_mse",
        "test_mse",
        "solved",
        "solved_at",
        "sparsity",
        "gate_sparsity",
        "diverged",
        "updates",
        "threshold",
        "first_non_finite_iteration",
    ])?;
    for (run, _) in results.runs.values() {
        let r = &run.record;
        let v = &r.verdict;
        w.write_record([
            run.key.model.clone(),
            run.key.setting.clone(),
            run.key.seed.to_string(),
            v.chosen.step.to_string(),
            v.chosen.valid_mse.to_string(),
            v.chosen.test_mse.to_string(),
            v.solved.to_string(),
            v.solved_at.map_or(String::new(), |s| s.to_string()),
            v.chosen.sparsity.to_string(),
            v.chosen
                .gate_sparsity
                .map_or(String::new(), |s| s.to_string()),
            r.diverged.to_string(),
            r.updates.to_string(),
            r.threshold.value.to_string(),
            r.first_non_finite
                .as_ref()
                .map_or(String::new(), |f| f.iteration.to_string()),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_rounded_to_the_nearest_percent() {
        assert_eq!(percent(2, 3), "67%");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(25, 25), "100%");
        assert_eq!(percent(0, 7), "0%");
    }
}
