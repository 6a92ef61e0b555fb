//! `--json FILE`: the whole run, every trial with all its timestamps, in a versioned schema
//! (described in the README).

use serde::Serialize;

use super::Report;

/// Bumped on any change that could break a reader of the JSON.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    #[serde(flatten)]
    report: &'a Report,
}

pub fn render(report: &Report) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Document { schema_version: SCHEMA_VERSION, report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_carries_schema_summary_and_every_trial() {
        let text = render(&super::super::fixtures::report()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["environment"]["cgroup_layout"], "hybrid");
        assert_eq!(v["trials"].as_array().unwrap().len(), 8);
        let first = &v["trials"][0];
        assert_eq!(first["route"], "docker_cli");
        assert_eq!(first["limit"]["resource"], "memory");
        assert_eq!(first["target"]["file"], "memory.limit_in_bytes");
        assert_eq!(first["outcome"]["status"], "paired");
        assert_eq!(first["outcome"]["latency_ns"], 31_200_000);
        assert_eq!(first["outcome"]["writer_comm"], "runc");
        assert_eq!(v["trials"][6]["outcome"]["status"], "unpaired");
        assert_eq!(v["groups"][0]["summary"]["n"], 2);
        assert_eq!(v["unpaired_trials"], 1);
        assert_eq!(v["lost_events"], 0);
    }
}
