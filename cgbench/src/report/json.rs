//! `--json FILE`: the whole run, every trial with all its timestamps, in a versioned schema
//! (described in the README).

use serde::Serialize;

use super::Report;

/// Bumped on any change that could break a reader of the JSON.
pub const SCHEMA_VERSION: u32 = 2;

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
    fn json_from_fixture() {
        let text = render(&super::super::fixtures::report()).unwrap();
        insta::assert_snapshot!(text);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["trials"].as_array().unwrap().len(), 12);
        assert_eq!(v["trials"][0]["outcome"]["latency_ns"], 31_200_000);
        assert_eq!(v["honesty"]["unpaired_trials"], 1);
    }
}
