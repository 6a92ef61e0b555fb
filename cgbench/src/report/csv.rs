//! `--csv FILE`: one row per trial with every timestamp (CLOCK_MONOTONIC ns), for spreadsheets
//! and plotting scripts. Absent timestamps are empty cells, as are the effect's cells of a run
//! without `--load` and of the other resource's trials.

use super::Report;
use crate::analysis::{Outcome, pairing::effect::Effect};

const HEADER: &str = "index,route,resource,target_file,target_value,status,reason,start_ns,request_ns,request_syscall,exec_ns,first_write_ns,write_enter_ns,write_exit_ns,end_ns,writer_pid,writer_comm,latency_ns,daemon_latency_ns,read_back,effect_direction,effect_status,effect_ns,effect_after_applied_ns,effect_signal,effect_reason";

/// RFC 4180 quoting, only where a field needs it.
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub fn render(r: &Report) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for t in &r.trials {
        let e = &t.trial;
        let (status, reason, timeline) = match &t.outcome {
            Outcome::Paired(timeline) => ("paired", "", Some(timeline)),
            Outcome::Unpaired { reason } => ("unpaired", reason.as_str(), None),
            Outcome::Failed { reason } => ("failed", reason.as_str(), None),
            Outcome::Timed { .. } => ("timed", "", None),
        };
        let cells = [
            e.planned.index.to_string(),
            e.planned.route.flag().to_owned(),
            e.planned.limit.resource().to_string(),
            e.target.file.clone(),
            e.target.value.clone(),
            status.to_owned(),
            reason.to_owned(),
            e.start_ns.to_string(),
            opt(timeline.and_then(|t| t.request_ns)),
            opt(timeline.and_then(|t| t.request_syscall.clone())),
            opt(timeline.and_then(|t| t.exec_ns)),
            opt(timeline.map(|t| t.first_write_ns)),
            opt(timeline.map(|t| t.write_enter_ns)),
            opt(timeline.map(|t| t.write_exit_ns)),
            e.end_ns.to_string(),
            opt(timeline.map(|t| t.writer_pid)),
            opt(timeline.map(|t| t.writer_comm.clone())),
            opt(t.latency_ns()),
            opt(timeline.and_then(|t| t.daemon_latency_ns)),
            opt(e.read_back.as_ref()),
            opt(t.effect.as_ref().map(|effect| effect.direction)),
        ];
        let effect = t.effect.as_ref().map(|in_effect| effect_cells(&in_effect.effect)).unwrap_or_default();
        out.push_str(&cells.iter().chain(&effect).map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// Status, time, time after the applied write, signal and reason of an effect.
fn effect_cells(effect: &Effect) -> [String; 5] {
    let status = |s: &str| s.to_owned();
    match effect {
        Effect::Seen { ns, after_applied_ns, signal } => {
            [status("seen"), ns.to_string(), after_applied_ns.to_string(), signal.clone(), String::new()]
        }
        Effect::OomKill { ns, after_applied_ns, pid } => [
            status("oom_kill"),
            ns.to_string(),
            after_applied_ns.to_string(),
            format!("oom victim pid {pid}"),
            String::new(),
        ],
        Effect::Nothing { reason } => [status("nothing"), String::new(), String::new(), String::new(), reason.clone()],
        Effect::Refused { reason } => [status("refused"), String::new(), String::new(), String::new(), reason.clone()],
        Effect::Missing { reason } => [status("missing"), String::new(), String::new(), String::new(), reason.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_from_fixture() {
        insta::assert_snapshot!(render(&super::super::fixtures::report()));
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("50000 100000"), "50000 100000");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
