//! The figures of every run, their statistics, the failures, and the final tables.

use std::collections::{HashMap, HashSet};

use crate::procstat::Cpu;

/// median, min and max of one figure over the runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// The middle value; of an even count, the mean of the middle two.
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Stats {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// `median (min–max)` with `decimals`, or just the median when all runs agree.
    pub fn cell(&self, decimals: usize) -> String {
        let f = |x: f64| format!("{x:.decimals$}");
        if f(self.min) == f(self.max) {
            f(self.median)
        } else {
            format!("{} ({}–{})", f(self.median), f(self.min), f(self.max))
        }
    }
}

/// Everything measured so far, keyed by (figure, config label).
#[derive(Default)]
pub struct Results {
    values: HashMap<(&'static str, String), Vec<f64>>,
    cpu: HashMap<(&'static str, String), Vec<Cpu>>,
    /// (phase, config) of runs that left PostgreSQL different from MariaDB: their figures get a `!`.
    bad: HashSet<(&'static str, String)>,
    pub failures: Vec<String>,
}

impl Results {
    pub fn add(&mut self, figure: &'static str, cfg: &str, v: f64) {
        self.values
            .entry((figure, cfg.to_string()))
            .or_default()
            .push(v);
    }

    pub fn add_cpu(&mut self, figure: &'static str, cfg: &str, c: Cpu) {
        self.cpu
            .entry((figure, cfg.to_string()))
            .or_default()
            .push(c);
    }

    pub fn fail(&mut self, what: String) {
        crate::log(&format!("FAILED: {what}"));
        self.failures.push(what);
    }

    /// A run of `phase` with `cfg` left the tables different.
    pub fn fail_wrong(&mut self, phase: &'static str, cfg: &str, what: String) {
        self.bad.insert((phase, cfg.to_string()));
        self.fail(what);
    }

    fn stats(&self, figure: &'static str, cfg: &str) -> Option<Stats> {
        Stats::of(self.values.get(&(figure, cfg.to_string()))?)
    }

    /// `median (min–max)` of a figure, `-` without values.
    pub fn cell(&self, figure: &'static str, cfg: &str, decimals: usize) -> String {
        self.stats(figure, cfg)
            .map_or("-".to_string(), |s| s.cell(decimals))
    }

    /// The median of a throughput over the median COPY ceiling.
    pub fn ratio(&self, figure: &'static str, cfg: &str) -> String {
        self.ratio_to(figure, cfg, COPY, "-")
    }

    /// The median of `figure` of `cfg` over the median of `base` of `base_cfg`.
    pub fn ratio_to(
        &self,
        figure: &'static str,
        cfg: &str,
        base: &'static str,
        base_cfg: &str,
    ) -> String {
        match (self.stats(figure, cfg), self.stats(base, base_cfg)) {
            (Some(a), Some(b)) => format!("{:.2}", a.median / b.median),
            _ => "-".to_string(),
        }
    }

    /// The median of a figure, if measured.
    pub fn median(&self, figure: &'static str, cfg: &str) -> Option<f64> {
        self.stats(figure, cfg).map(|s| s.median)
    }

    /// The medians of the three CPU figures: `sync/pg/my`.
    pub fn cpu_cell(&self, figure: &'static str, cfg: &str) -> String {
        let Some(runs) = self.cpu.get(&(figure, cfg.to_string())) else {
            return "-".to_string();
        };
        let med = |f: fn(&Cpu) -> f64| {
            let v: Vec<f64> = runs.iter().map(f).collect();
            Stats::of(&v).map_or(0.0, |s| s.median)
        };
        format!(
            "{:.2}/{:.2}/{:.2}",
            med(|c| c.sync),
            med(|c| c.pg),
            med(|c| c.my)
        )
    }

    /// `!` when a run of `phase` with `cfg` left the tables different.
    pub fn mark(&self, phase: &'static str, cfg: &str) -> &'static str {
        if self.bad.contains(&(phase, cfg.to_string())) {
            "!"
        } else {
            ""
        }
    }

    pub fn has_copy(&self) -> bool {
        self.stats(COPY, "-").is_some()
    }
}

/// The COPY ceiling's figure (config `-`).
pub const COPY: &str = "copy";
/// Backlog B's ceiling: its work sent by one tight client (config `-`).
pub const B_CEILING: &str = "b_ceiling";

/// Rows of cells as aligned columns joined by ` | ` (what `column -t -o ' | '` printed).
pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| {
        rows.iter()
            .filter_map(|r| r.get(c))
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..cols).map(width).collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c + 1 == r.len() {
                    s.clone()
                } else {
                    format!("{s:<w$}", w = widths[c])
                }
            })
            .collect();
        println!("{}", cells.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stats::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn cells() {
        assert_eq!(Stats::of(&[5.0]).unwrap().cell(1), "5.0");
        assert_eq!(Stats::of(&[1.0, 2.0, 4.0]).unwrap().cell(0), "2 (1–4)");
    }
}
