//! Checks a report against schema/report.schema.json, the contract `compare --json` promises
//! its readers. One file for both kinds of test: the integration tests reach it as
//! `common::schema`, cgbench's own unit tests as `crate::report::schema` (a `#[path]` module),
//! so the report fixture and the reports of real runs are held to the same schema.

use serde_json::Value;

const SCHEMA: &str = include_str!("../../schema/report.schema.json");

/// Every way `report` breaks the schema, one line each (`/trials/3/outcome: …`); none when it
/// keeps to it.
pub fn violations(report: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema/report.schema.json is JSON");
    let validator =
        jsonschema::draft202012::new(&schema).expect("schema/report.schema.json is a valid draft 2020-12 schema");
    validator.iter_errors(report).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// Fails the test, naming each violation, unless `report` keeps to the schema.
pub fn assert_valid(report: &Value) {
    let violations = violations(report);
    assert!(violations.is_empty(), "the report breaks schema/report.schema.json:\n{}", violations.join("\n"));
}
