//! Deterministic slices of a sweep for clusters: shard K of N (1-based); the plan deals its
//! groups of runs that share data among the shards by cost (`plan::deal`).

use std::fmt;

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Whether the item at `position` belongs to this shard.
    pub fn has(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// The shard a SLURM job array task stands for, from `SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT` and `SLURM_ARRAY_TASK_MIN` (so `--array=0-3` and
    /// `--array=1-4` both give shards 1/4 .. 4/4). None outside a job array.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, ShardError> {
        Shard::slurm_slice(var).map_err(ShardError)
    }

    fn slurm_slice(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
        let number = |name: &str| -> Result<Option<usize>, String> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("{name}='{v}' is not a whole number"))
                })
                .transpose()
        };
        let (id, count) = match (
            number("SLURM_ARRAY_TASK_ID")?,
            number("SLURM_ARRAY_TASK_COUNT")?,
        ) {
            (Some(id), Some(count)) => (id, count),
            (None, None) => return Ok(None),
            // half a job array's variables: running the whole sweep silently would be wrong
            (Some(_), None) => {
                return Err(
                    "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give the slice with --shard K/N".into(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "SLURM_ARRAY_TASK_COUNT is set but SLURM_ARRAY_TASK_ID is not; give the slice with --shard K/N".into(),
                );
            }
        };
        if count == 0 {
            return Err("SLURM_ARRAY_TASK_COUNT=0: an array has at least one task".into());
        }
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let index = id
            .checked_sub(min)
            .map(|i| i + 1)
            .filter(|&i| i <= count)
            .ok_or_else(|| {
                format!("SLURM_ARRAY_TASK_ID={id} lies outside the array (min {min}, count {count}); use --array with consecutive ids")
            })?;
        Ok(Some(Shard { index, count }))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A shard that cannot be read (from `--shard` or a SLURM array's variables).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

impl std::str::FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let bad = || {
            ShardError(format!(
                "'{text}' is not a shard: expected K/N with 1 <= K <= N"
            ))
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_plan() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for position in 0..100 {
            assert_eq!(shards.iter().filter(|s| s.has(position)).count(), 1);
        }
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn slurm_arrays_from_zero_or_one() {
        let env = |id: &'static str, min: &'static str| {
            move |name: &str| match name {
                "SLURM_ARRAY_TASK_ID" => Some(id.to_string()),
                "SLURM_ARRAY_TASK_COUNT" => Some("4".to_string()),
                "SLURM_ARRAY_TASK_MIN" => Some(min.to_string()),
                _ => None,
            }
        };
        let first = Shard { index: 1, count: 4 };
        assert_eq!(Shard::from_slurm(env("0", "0")).unwrap(), Some(first));
        assert_eq!(Shard::from_slurm(env("1", "1")).unwrap(), Some(first));
        assert_eq!(
            Shard::from_slurm(env("4", "1")).unwrap(),
            Some(Shard { index: 4, count: 4 })
        );
        assert!(Shard::from_slurm(env("9", "0")).is_err());
        assert_eq!(Shard::from_slurm(|_| None).unwrap(), None);
    }

    #[test]
    fn half_a_job_arrays_variables_is_an_error() {
        let only = |set: &'static str| move |name: &str| (name == set).then(|| "2".to_string());
        let id = Shard::from_slurm(only("SLURM_ARRAY_TASK_ID"))
            .unwrap_err()
            .to_string();
        assert!(id.contains("SLURM_ARRAY_TASK_COUNT is not"), "{id}");
        let count = Shard::from_slurm(only("SLURM_ARRAY_TASK_COUNT"))
            .unwrap_err()
            .to_string();
        assert!(count.contains("--shard"), "{count}");
        // the minimum alone says nothing about a slice
        assert_eq!(
            Shard::from_slurm(only("SLURM_ARRAY_TASK_MIN")).unwrap(),
            None
        );
    }
}
