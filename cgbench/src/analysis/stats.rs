//! Summary statistics of a latency sample, as the best benchmark tools report them.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean_ns: f64,
    pub stddev_ns: f64,
    pub median_ns: f64,
    /// 95 % bootstrap confidence interval of the median (percentile method).
    pub median_ci95_ns: [f64; 2],
    pub p90_ns: f64,
    pub p99_ns: f64,
    pub p999_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
    /// Samples whose modified Z-score exceeds `OUTLIER_Z`.
    pub outliers: usize,
}

/// Iglewicz and Hoaglin's threshold for the modified Z-score (as hyperfine uses).
pub const OUTLIER_Z: f64 = 3.5;
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// The bootstrap is seeded so that the same sample always gives the same interval.
pub const BOOTSTRAP_SEED: u64 = 0x5eed;

/// The `p`-th percentile (0–100) of sorted values, interpolating linearly between the closest
/// ranks (the definition NumPy and R use by default).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of an empty sample");
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// The values in ascending order, as `percentile` wants them.
pub fn ascending(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// The median of a sample in any order; `None` for an empty one, where there is no median to
/// report and none is made up.
pub fn median(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| percentile(&ascending(values.iter().copied()), 50.0))
}

/// Modified Z-scores, `0.6745 (x − median) / MAD`; all zero when the MAD is zero.
pub fn modified_z_scores(values: &[f64]) -> Vec<f64> {
    let Some(centre) = median(values) else { return Vec::new() };
    let deviations: Vec<f64> = values.iter().map(|v| (v - centre).abs()).collect();
    let mad = median(&deviations).unwrap_or(0.0);
    values.iter().map(|v| if mad > 0.0 { 0.6745 * (v - centre) / mad } else { 0.0 }).collect()
}

/// A 95 % confidence interval for the median: the 2.5th and 97.5th percentiles of the medians
/// of resamples drawn with replacement.
pub fn bootstrap_median_ci(sorted: &[f64], resamples: usize, seed: u64) -> [f64; 2] {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut sample = Resampled::of(sorted);
    central_95((0..resamples).map(|_| sample.median(&mut rng)).collect())
}

/// A 95 % confidence interval for the change of the median from `base` to `new` (new − base):
/// the 2.5th and 97.5th percentiles of the differences of the medians of resamples, each sample
/// resampled on its own, as two runs are independent.
pub fn bootstrap_median_change_ci(base: &[f64], new: &[f64], resamples: usize, seed: u64) -> [f64; 2] {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut base, mut new) = (Resampled::of(base), Resampled::of(new));
    central_95((0..resamples).map(|_| new.median(&mut rng) - base.median(&mut rng)).collect())
}

/// A sample and the buffer its resamples are drawn into, so a bootstrap allocates once.
struct Resampled<'a> {
    sample: &'a [f64],
    drawn: Vec<f64>,
}

impl<'a> Resampled<'a> {
    fn of(sample: &'a [f64]) -> Resampled<'a> {
        Resampled { sample, drawn: vec![0.0; sample.len()] }
    }

    /// The median of a fresh resample, drawn with replacement.
    fn median(&mut self, rng: &mut fastrand::Rng) -> f64 {
        for slot in self.drawn.iter_mut() {
            *slot = self.sample[rng.usize(..self.sample.len())];
        }
        self.drawn.sort_by(f64::total_cmp);
        percentile(&self.drawn, 50.0)
    }
}

/// The 2.5th and 97.5th percentiles of bootstrap statistics.
fn central_95(statistics: Vec<f64>) -> [f64; 2] {
    let statistics = ascending(statistics);
    [percentile(&statistics, 2.5), percentile(&statistics, 97.5)]
}

/// `None` for an empty sample: there is nothing to summarise, and no number is made up.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let sorted = ascending(values.iter().copied());
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let variance = if n > 1 { sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    Some(Summary {
        n,
        mean_ns: mean,
        stddev_ns: variance.sqrt(),
        median_ns: percentile(&sorted, 50.0),
        median_ci95_ns: bootstrap_median_ci(&sorted, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED),
        p90_ns: percentile(&sorted, 90.0),
        p99_ns: percentile(&sorted, 99.0),
        p999_ns: percentile(&sorted, 99.9),
        min_ns: sorted[0],
        max_ns: sorted[n - 1],
        outliers: modified_z_scores(&sorted).iter().filter(|z| z.abs() > OUTLIER_Z).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 90.0) - 3.7).abs() < 1e-12);
        let thousand: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert!((percentile(&thousand, 99.0) - 990.01).abs() < 1e-9);
        assert!((percentile(&thousand, 99.9) - 999.001).abs() < 1e-9);
    }

    #[test]
    fn median_of_an_unsorted_sample() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn summary_of_a_known_sample() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.n, s.median_ns, s.min_ns, s.max_ns, s.mean_ns), (5, 3.0, 1.0, 5.0, 3.0));
        assert!((s.stddev_ns - 2.5f64.sqrt()).abs() < 1e-12);
        assert!((s.p90_ns - 4.6).abs() < 1e-12);
        assert_eq!(s.outliers, 0);
    }

    #[test]
    fn single_and_empty_samples() {
        let s = summarize(&[7.0]).unwrap();
        assert_eq!((s.median_ns, s.p99_ns, s.stddev_ns, s.median_ci95_ns), (7.0, 7.0, 0.0, [7.0, 7.0]));
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn outliers_by_modified_z_score() {
        // median 10, MAD 1: 20 scores 0.6745 * 10 = 6.7 > 3.5; 14 scores 2.7.
        let values = [9.0, 10.0, 10.0, 10.0, 11.0, 14.0, 20.0];
        let z = modified_z_scores(&values);
        assert!((z[6] - 6.745).abs() < 1e-9);
        assert!((z[5] - 2.698).abs() < 1e-9);
        assert_eq!(summarize(&values).unwrap().outliers, 1);
        assert!(modified_z_scores(&[3.0, 3.0, 3.0, 9.0]).iter().all(|&z| z == 0.0), "MAD 0: no score");
    }

    #[test]
    fn bootstrap_interval_brackets_the_median_and_narrows_with_n() {
        let mut rng = fastrand::Rng::with_seed(9);
        let sample =
            |n: usize, rng: &mut fastrand::Rng| ascending((0..n).map(|_| 100.0 + f64::from(rng.u32(..1000)) / 10.0));
        let small = sample(30, &mut rng);
        let large = sample(3000, &mut rng);
        let [lo_s, hi_s] = bootstrap_median_ci(&small, 1000, 1);
        let [lo_l, hi_l] = bootstrap_median_ci(&large, 1000, 1);
        let median = percentile(&small, 50.0);
        assert!(lo_s <= median && median <= hi_s);
        assert!(hi_l - lo_l < (hi_s - lo_s) / 3.0, "[{lo_l}, {hi_l}] vs [{lo_s}, {hi_s}]");
        assert_eq!(bootstrap_median_ci(&small, 1000, 1), [lo_s, hi_s], "seeded: reproducible");
    }

    #[test]
    fn change_interval_brackets_the_change_and_excludes_zero_only_for_a_shift() {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut sample = |shift: f64| -> Vec<f64> { (0..200).map(|_| shift + f64::from(rng.u32(..1000))).collect() };
        let (base, same, shifted) = (sample(0.0), sample(0.0), sample(300.0));
        let [lo, hi] = bootstrap_median_change_ci(&base, &same, 1000, 1);
        assert!(lo < 0.0 && 0.0 < hi, "same distribution: [{lo}, {hi}]");
        let [lo, hi] = bootstrap_median_change_ci(&base, &shifted, 1000, 1);
        assert!(100.0 < lo && hi < 500.0, "shifted by 300: [{lo}, {hi}]");
        assert_eq!(bootstrap_median_change_ci(&base, &shifted, 1000, 1), [lo, hi], "seeded: reproducible");
    }
}
