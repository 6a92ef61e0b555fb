//! Summary statistics of a latency sample.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean_ns: f64,
    pub stddev_ns: f64,
    pub median_ns: f64,
    pub p90_ns: f64,
    pub p99_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
}

/// The `p`-th percentile (0–100) of sorted values, interpolating linearly between the closest
/// ranks (the definition NumPy and R use by default).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of an empty sample");
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// `None` for an empty sample: there is nothing to summarise, and no number is made up.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let variance = if n > 1 { sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    Some(Summary {
        n,
        mean_ns: mean,
        stddev_ns: variance.sqrt(),
        median_ns: percentile(&sorted, 50.0),
        p90_ns: percentile(&sorted, 90.0),
        p99_ns: percentile(&sorted, 99.0),
        min_ns: sorted[0],
        max_ns: sorted[n - 1],
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
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&hundred, 99.0) - 99.01).abs() < 1e-9);
    }

    #[test]
    fn summary_of_a_known_sample() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.n, s.median_ns, s.min_ns, s.max_ns, s.mean_ns), (5, 3.0, 1.0, 5.0, 3.0));
        assert!((s.stddev_ns - 2.5f64.sqrt()).abs() < 1e-12);
        assert!((s.p90_ns - 4.6).abs() < 1e-12);
    }

    #[test]
    fn single_and_empty_samples() {
        let s = summarize(&[7.0]).unwrap();
        assert_eq!((s.median_ns, s.p99_ns, s.stddev_ns), (7.0, 7.0, 0.0));
        assert!(summarize(&[]).is_none());
    }
}
