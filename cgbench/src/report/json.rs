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

/// Streams the document: a long run's JSON is never held in memory as a whole.
pub fn write(report: &Report, w: impl std::io::Write) -> serde_json::Result<()> {
    serde_json::to_writer_pretty(w, &Document { schema_version: SCHEMA_VERSION, report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_from_fixture() {
        let mut bytes = Vec::new();
        write(&super::super::fixtures::report(), &mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        insta::assert_snapshot!(text);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["trials"].as_array().unwrap().len(), 18);
        assert_eq!(v["trials"][0]["outcome"]["latency_ns"], 31_200_000);
        assert_eq!(v["honesty"]["unpaired_trials"], 1);
        super::super::schema::assert_valid(&v);
    }

    #[test]
    fn the_schema_catches_drift() {
        let mut bytes = Vec::new();
        write(&super::super::fixtures::report(), &mut bytes).unwrap();
        let report: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let drifted = |change: fn(&mut serde_json::Value)| {
            let mut v = report.clone();
            change(&mut v);
            super::super::schema::violations(&v)
        };
        assert!(drifted(|_| ()).is_empty());
        let missing = drifted(|v| _ = v["environment"].as_object_mut().unwrap().remove("kernel"));
        assert!(missing[0].starts_with("/environment: "), "{missing:?}");
        let added = drifted(|v| v["groups"][0]["summary"]["p95_ns"] = 1.0.into());
        assert!(added[0].starts_with("/groups/0/summary: "), "{added:?}");
        let renamed = drifted(|v| v["trials"][0]["route"] = "docker".into());
        assert!(renamed[0].starts_with("/trials/0/route: "), "{renamed:?}");
        let retyped = drifted(|v| v["trials"][0]["outcome"]["latency_ns"] = "31 ms".into());
        assert!(retyped[0].starts_with("/trials/0/outcome: "), "{retyped:?}");
    }
}
