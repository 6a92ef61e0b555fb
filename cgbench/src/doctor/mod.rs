//! `cgbench doctor`: what this host allows, checked for real (attach methods by loading a tiny
//! program of each kind), each with a hint when something is missing. Exit 0 only when
//! `cgbench compare` can run.

mod host;
mod kernel;

use std::fmt::Write as _;

use serde::Serialize;

use crate::host::docker::DockerHost;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not needed by `compare`, but worth knowing.
    Warn,
    /// `compare` cannot run.
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
}

pub(crate) fn check(name: &'static str, status: Status, detail: impl Into<String>, hint: Option<&str>) -> Check {
    Check { name, status, detail: detail.into(), hint: hint.map(str::to_owned) }
}

pub fn can_compare(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

pub async fn run() -> Vec<Check> {
    let mut checks =
        vec![kernel::privileges(), kernel::release(), kernel::btf(), kernel::lockdown(), kernel::tracefs()];
    if checks[0].status == Status::Ok {
        checks.extend(kernel::attach_methods());
    }
    checks.push(host::cgroups());
    let docker = DockerHost::connect().await;
    checks.extend(host::docker(&docker).await);
    checks.push(host::leftovers(docker.as_ref().ok()).await);
    checks
}

pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = write!(out, "{mark}  {:<26}{}", c.name, c.detail);
        if let Some(hint) = &c.hint {
            let _ = write!(out, " → {hint}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}",
        if can_compare(checks) {
            "cgbench compare can run here."
        } else {
            "cgbench compare cannot run here: see FAIL above."
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::{kernel::kernel_version, *};

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.44-fc-v445"), Some((6, 18)));
        assert_eq!(kernel_version("5.8.0"), Some((5, 8)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn any_fail_blocks_compare_and_is_shown_with_its_hint() {
        let checks = vec![check("a", Status::Ok, "fine", None), check("b", Status::Warn, "meh", Some("try x"))];
        assert!(can_compare(&checks));
        let mut failing = checks.clone();
        failing.push(check("c", Status::Fail, "broken", Some("fix it")));
        assert!(!can_compare(&failing));
        let text = render(&failing);
        assert!(text.contains("FAIL  c                         broken → fix it"), "{text}");
        assert!(text.contains("warn  b"));
        assert!(text.ends_with("cgbench compare cannot run here: see FAIL above.\n"));
    }
}
