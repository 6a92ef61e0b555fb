//! Under `--load`: per route, resource and direction, when the limit was applied and when the
//! workload felt it, and what became of the trials whose effect was not a time.

use serde::Serialize;

use super::{
    pairing::{
        TrialResult,
        effect::{Direction, Effect},
    },
    stats::{Summary, summarize},
};
use crate::{resource::Resource, trial::Route};

/// One row of the effect table.
#[derive(Clone, Debug, Serialize)]
pub struct EffectGroup {
    pub route: Route,
    pub resource: Resource,
    pub direction: Direction,
    pub trials: usize,
    /// The caller starts → the kernel has applied the limit, over the trials whose effect was
    /// seen (so that the two spans are of the same trials).
    pub applied: Option<Summary>,
    /// The caller starts → the workload feels the limit.
    pub in_effect: Option<Summary>,
    /// The kernel has applied the limit → the workload feels it.
    pub applied_to_effect: Option<Summary>,
    pub seen: usize,
    pub oom_kills: usize,
    /// Nothing to feel: an increase that found the workload running, a memory value above it.
    pub nothing: usize,
    pub refused: usize,
    pub missing: usize,
    /// What was felt (the first seen trial's signal) and why, for each kind of trial without a
    /// time, once each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The groups of the trials that carry an effect, in route, resource, direction order.
pub fn groups(trials: &[TrialResult]) -> Vec<EffectGroup> {
    let mut keys: Vec<(Route, Resource, Direction)> = trials
        .iter()
        .filter_map(|t| Some((t.trial.planned.route, t.trial.planned.limit.resource(), t.effect.as_ref()?.direction)))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(route, resource, direction)| {
            let of_group: Vec<(&TrialResult, &Effect)> = trials
                .iter()
                .filter(|t| (t.trial.planned.route, t.trial.planned.limit.resource()) == (route, resource))
                .filter_map(|t| t.effect.as_ref().filter(|e| e.direction == direction).map(|e| (t, &e.effect)))
                .collect();
            let timed: Vec<(u64, u64)> = of_group
                .iter()
                .filter_map(|(t, e)| match e {
                    Effect::Seen { after_applied_ns, .. } | Effect::OomKill { after_applied_ns, .. } => {
                        Some((t.latency_ns()?, *after_applied_ns))
                    }
                    _ => None,
                })
                .collect();
            let count = |f: fn(&Effect) -> bool| of_group.iter().filter(|(_, e)| f(e)).count();
            let mut notes: Vec<String> = Vec::new();
            if let Some(Effect::Seen { signal, .. }) =
                of_group.iter().map(|(_, e)| *e).find(|e| matches!(e, Effect::Seen { .. }))
            {
                notes.push(format!("e.g. {signal}"));
            }
            for (_, e) in &of_group {
                if let Effect::Nothing { reason } | Effect::Refused { reason } | Effect::Missing { reason } = e
                    && !notes.contains(reason)
                {
                    notes.push(reason.clone());
                }
            }
            let spans = |f: fn(&(u64, u64)) -> u64| summarize(&timed.iter().map(|p| f(p) as f64).collect::<Vec<_>>());
            EffectGroup {
                route,
                resource,
                direction,
                trials: of_group.len(),
                applied: spans(|(applied, _)| *applied),
                in_effect: spans(|(applied, after)| applied + after),
                applied_to_effect: spans(|(_, after)| *after),
                seen: count(|e| matches!(e, Effect::Seen { .. })),
                oom_kills: count(|e| matches!(e, Effect::OomKill { .. })),
                nothing: count(|e| matches!(e, Effect::Nothing { .. })),
                refused: count(|e| matches!(e, Effect::Refused { .. })),
                missing: count(|e| matches!(e, Effect::Missing { .. })),
                notes,
            }
        })
        .collect()
}
