//! How a job that fills a results folder (a sweep, the MNIST study) shows its progress.

use std::time::Duration;

use indicatif::ProgressBar;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowProgress {
    /// A live bar (for a terminal).
    Bar,
    /// A line on stderr at every tenth of the runs (for logs, such as a cluster job's).
    Lines,
    Off,
}

/// A live bar over `total` items (hidden unless `shown`), in indicatif's `template`.
pub fn progress_bar(total: u64, shown: bool, template: &str) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
