//! Each raw route against its floor: the same writes on the same files, made in the same run
//! outside any trial, with nothing of cgbench around them. A route whose median is its floor's
//! has nothing of the instrument in it.

use serde::Serialize;

use super::{stats::median, summary::Group};
use crate::{resource::Resource, trial::Route};

/// One floor measurement: a raw trial's writes, made beside it in its route's shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FloorSample {
    pub route: Route,
    pub resource: Resource,
    pub ns: u64,
    #[serde(skip)]
    pub warmup: bool,
}

/// A raw route's floor, and the route against it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Floor {
    pub route: Route,
    pub resource: Resource,
    pub n: usize,
    pub median_ns: f64,
    /// The route's median over the floor's; `None` when the route has no median.
    pub route_over_floor: Option<f64>,
}

/// The floor of every raw route and resource that has samples, warm-up left out.
pub fn summarize(samples: &[FloorSample], groups: &[Group]) -> Vec<Floor> {
    let mut keys: Vec<(Route, Resource)> = samples.iter().map(|s| (s.route, s.resource)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|(route, resource)| {
            let of_key: Vec<f64> = samples
                .iter()
                .filter(|s| !s.warmup && (s.route, s.resource) == (route, resource))
                .map(|s| s.ns as f64)
                .collect();
            let median_ns = median(&of_key)?;
            let route_median = groups
                .iter()
                .find(|g| (g.route, g.resource) == (route, resource))
                .and_then(|g| g.summary)
                .map(|s| s.median_ns);
            Some(Floor {
                route,
                resource,
                n: of_key.len(),
                median_ns,
                route_over_floor: route_median.filter(|_| median_ns > 0.0).map(|m| m / median_ns),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Analysis, fixtures::trials};

    #[test]
    fn the_floor_is_a_median_and_the_route_is_set_against_it() {
        let groups = Analysis::of(trials(), 0).groups;
        let sample = |ns, warmup| FloorSample { route: Route::Raw, resource: Resource::Memory, ns, warmup };
        let samples = [sample(5_000, false), sample(6_000, false), sample(7_000, false), sample(1, true)];
        let floors = summarize(&samples, &groups);
        assert_eq!(floors.len(), 1);
        let floor = floors[0];
        assert_eq!((floor.n, floor.median_ns), (3, 6_000.0));
        // The fixture's raw memory median is 6.0 µs.
        assert_eq!(floor.route_over_floor, Some(1.0));
        assert!(summarize(&[sample(1, true)], &groups).is_empty(), "warm-up only: no floor");
    }
}
