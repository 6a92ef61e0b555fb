//! `cgbench diff` as a pull request's CI runs it: exit 0 when nothing regressed, 1 when something
//! did, 2 for bad input with one line that says what to do. On a real report recorded by
//! `compare --json` and variants of it; needs neither root nor Docker.

mod common;

use std::{fs, path::PathBuf, process::Output};

use common::{cgbench, stderr};
use serde_json::Value;

const REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/diff/fixtures/report.json");

/// A test's own directory for the files it writes, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cgbench-diff-{test}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// The recorded report, changed by `change`, written as `name`.
    fn variant(&self, name: &str, change: impl FnOnce(&mut Value)) -> String {
        let mut report: Value = serde_json::from_str(&fs::read_to_string(REPORT).unwrap()).unwrap();
        change(&mut report);
        let path = self.0.join(name);
        fs::write(&path, report.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn diff(args: &[&str]) -> Output {
    cgbench(&[&["diff"], args].concat())
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

#[test]
fn nothing_regressed_exits_0_and_writes_markdown() {
    let scratch = Scratch::new("unchanged");
    let markdown = scratch.0.join("pr-comment.md");
    let out = diff(&[REPORT, REPORT, "--markdown", markdown.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 regressed, 0 improved, 8 unchanged"));
    let table = fs::read_to_string(&markdown).unwrap();
    assert!(table.contains("| raw write | cpu | 4 / 4 |"), "{table}");
}

#[test]
fn a_doubled_median_exits_1() {
    let scratch = Scratch::new("regressed");
    let slower = scratch.variant("slower.json", |report| {
        for trial in report["trials"].as_array_mut().unwrap().iter_mut().filter(|t| t["route"] == "raw") {
            let latency = &mut trial["outcome"]["latency_ns"];
            *latency = (2 * latency.as_u64().unwrap()).into();
        }
    });
    let out = diff(&[REPORT, &slower]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 regressed, 0 improved, 6 unchanged"), "{stdout}");
    assert_eq!(stderr(&out), "", "the table says it all");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let scratch = Scratch::new("bad-input");
    let future = scratch.variant("future.json", |report| report["schema_version"] = 3.into());
    let elsewhere = scratch.variant("elsewhere.json", |report| report["environment"]["kernel"] = "6.1.0".into());
    let cases: [(&[&str], &str); 5] = [
        (&[REPORT, &future], "has schema_version 3, which this cgbench does not read (it reads 2)"),
        (&[REPORT, "/nonexistent.json"], "error: /nonexistent.json cannot be read ("),
        (
            &[REPORT, REPORT, "--threshold", "abc"],
            "error: --threshold `abc` is not a percentage: use one such as 5% or 2.5",
        ),
        (
            &[REPORT, &elsewhere],
            "error: the runs differ in kernel (6.18.44-fc-v657 vs 6.1.0): compare like with like, or pass --force",
        ),
        (&[REPORT], "error: the following required arguments were not provided:"),
    ];
    for (args, message) in cases {
        let out = diff(args);
        let said = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {said}");
        assert!(said.contains(message), "{args:?}: {said}");
        assert_eq!(said.lines().count(), 1, "{args:?}: {said}");
    }
    let forced = diff(&[REPORT, &elsewhere, "--force"]);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
}
