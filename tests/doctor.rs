//! `cgbench doctor` and `--attach` against the real kernel: what it reports must be what the
//! kernel does, and a forced method the kernel refuses must fail with one clear line.

mod common;

use common::{cgbench, leftover_containers, stderr};
use serde_json::Value;

fn checks() -> Vec<Value> {
    let out = cgbench(&["doctor", "--json"]);
    assert!(out.status.success(), "doctor says compare cannot run here: {}", String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn status_of<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    &checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name} check in {checks:?}"))["status"]
}

#[test]
fn doctor_reports_every_area_and_the_method_compare_uses() {
    common::assert_root();
    let checks = checks();
    for name in ["privileges", "kernel", "BTF", "lockdown", "tracefs", "attach: tracepoint", "cgroups", "docker daemon"]
    {
        assert_eq!(status_of(&checks, name), "ok", "{name}: {checks:?}");
    }
    let method = checks.iter().find(|c| c["name"] == "attach method").unwrap();
    assert_eq!(method["detail"], "compare will use tracepoints");
    let text = String::from_utf8(cgbench(&["doctor"]).stdout).unwrap();
    assert!(text.ends_with("cgbench compare can run here.\n"), "{text}");
}

#[test]
fn a_forced_attach_method_is_refused_in_one_line_or_used() {
    common::assert_root();
    let checks = checks();
    for (flag, check) in [("fentry", "attach: fentry/fexit"), ("kprobe", "attach: kprobe/kretprobe")] {
        let out = cgbench(&["compare", "--iterations", "2", "--quiet", "--attach", flag]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert_eq!(err.lines().count(), 1, "{flag}: {err}");
        let expected = if status_of(&checks, check) == "ok" {
            format!("error: --attach {flag}: this kernel permits")
        } else {
            format!("error: --attach {flag}: this kernel refuses")
        };
        assert!(err.starts_with(&expected), "{flag}: expected `{expected}…`, got `{err}`");
        assert!(err.contains("use --attach tracepoint or auto"), "{err}");
        assert_eq!(leftover_containers(), "");
    }
    let out = cgbench(&["compare", "--iterations", "2", "--quiet", "--attach", "tracepoint"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
