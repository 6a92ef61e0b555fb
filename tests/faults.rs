//! Faults during a real run, and a long run under a write storm: what was measured is reported
//! as such, nothing else is, and the host is left as it was.

mod common;

use std::{
    fs,
    io::{BufRead as _, BufReader, Lines},
    path::PathBuf,
    process::{Child, ChildStderr, Command, Stdio},
    thread::sleep,
    time::Duration,
};

use cgbench::host::cgroup::{Host, Scratch};
use common::{CGBENCH, docker, leftover_containers, leftover_pods, stopped_cri_containerd, stopped_dockerd};
use serde_json::Value;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cgbench-faults-{}-{name}", std::process::id()))
}

/// A `cgbench compare` run whose stderr is read as it comes, writing its JSON report to a file
/// of its own.
struct Run {
    child: Child,
    stderr: Lines<BufReader<ChildStderr>>,
    json: PathBuf,
}

/// How a run ended: exit code, the report on stdout, the stderr lines that are not progress or
/// notices (`cgbench: …`), and the JSON report.
struct Ended {
    code: Option<i32>,
    stdout: String,
    errors: Vec<String>,
    report: Value,
}

impl Run {
    /// `cgbench compare ARGS --json FILE`, FILE named after `name`.
    fn start(name: &str, args: &[&str]) -> Run {
        Run::start_with(name, args, &[])
    }

    /// The same with environment variables set for cgbench.
    fn start_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        common::assert_root();
        let json = temp(&format!("{name}.json"));
        let mut child = Command::new(CGBENCH)
            .envs(env.iter().copied())
            .arg("compare")
            .args(args)
            .arg("--json")
            .arg(&json)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        Run { child, stderr, json }
    }

    /// Returns once the trials are under way (and the probes watch runc): off a terminal, progress
    /// comes as a line per tenth of the run.
    fn wait_for_trials(&mut self) {
        // Lines before it may be notices (`cgbench: run … (no longer running): …`, from recovery).
        let progress = |l: &String| l.starts_with("cgbench: ") && l.ends_with(" trials");
        let first = self.stderr.by_ref().map(Result::unwrap).find(progress);
        assert!(first.is_some(), "the run ended before its first progress line");
    }

    fn finish(self) -> Ended {
        let (errors, notices): (Vec<String>, Vec<String>) =
            self.stderr.map(Result::unwrap).partition(|l| !l.starts_with("cgbench: "));
        let out = self.child.wait_with_output().unwrap();
        let written = fs::read_to_string(&self.json).unwrap_or_else(|e| {
            panic!(
                "the run wrote no report ({e}); it exited {:?} (signal {:?}) saying {errors:?} {notices:?}",
                out.status.code(),
                std::os::unix::process::ExitStatusExt::signal(&out.status)
            )
        });
        let report = serde_json::from_str(&written).unwrap();
        common::schema::assert_valid(&report);
        fs::remove_file(&self.json).unwrap();
        Ended { code: out.status.code(), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), errors, report }
    }
}

/// cgbench under the name `runc`, so that compare's probes take the processes it starts for
/// runc (writers are learned from their exec).
struct RuncAlias(PathBuf);

impl RuncAlias {
    fn new() -> RuncAlias {
        let dir = temp("bin");
        fs::create_dir_all(&dir).unwrap();
        let runc = dir.join("runc");
        let _ = fs::remove_file(&runc);
        std::os::unix::fs::symlink(CGBENCH, &runc).unwrap();
        RuncAlias(runc)
    }

    /// `cgbench storm`: pwrite at full speed to `cgroup_file` and a plain file, for `millis`.
    fn storm(&self, cgroup_file: &std::path::Path, millis: u64, value: Option<&str>) -> Child {
        Command::new(&self.0)
            .arg("storm")
            .arg(cgroup_file)
            .arg(temp("storm.txt"))
            .arg(millis.to_string())
            .args(value.map(|v| ["--value", v]).into_iter().flatten())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for RuncAlias {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(self.0.parent().unwrap());
        let _ = fs::remove_file(temp("storm.txt"));
    }
}

/// Someone removes the container mid-run: the run ends with one line saying why, the trials
/// measured before are reported as a partial run, and nothing is left behind.
#[test]
fn a_container_removed_mid_run_ends_it_with_partial_results() {
    let mut run = Run::start("removed", &["--iterations", "500", "--routes", "cli,raw"]);
    run.wait_for_trials();
    docker(&["rm", "-f", &leftover_containers()]);

    assert_partial(&run.finish());
    assert_eq!(leftover_containers(), "");
}

/// Someone kills the container mid-run: Docker refuses to update a stopped container, its
/// cgroups go; the run ends the same way, and cgbench still removes the stopped container.
#[test]
fn a_container_killed_mid_run_ends_it_with_partial_results() {
    let mut run = Run::start("killed", &["--iterations", "500", "--routes", "api,raw-open"]);
    run.wait_for_trials();
    docker(&["kill", &leftover_containers()]);

    assert_partial(&run.finish());
    assert_eq!(leftover_containers(), "");
}

/// Paired from the kernel's events, or timed by cgbench's clock (the raw routes).
fn complete(trial: &Value) -> bool {
    ["paired", "timed"].contains(&trial["outcome"]["status"].as_str().unwrap_or_default())
}

/// What every fault that ends a run must give: exit 1, one error line, the trials measured
/// before it reported as a partial run, each of them complete.
fn assert_partial(ended: &Ended) {
    let Ended { code, stdout, errors, report } = ended;
    assert_eq!(*code, Some(1), "{errors:?}");
    assert_eq!(errors.len(), 1, "one error line: {errors:?}");
    assert!(errors[0].starts_with("error: "), "{errors:?}");
    assert!(stdout.contains("PARTIAL RUN:"), "{stdout}");
    assert!(report["ended_early"].is_string(), "{}", report["ended_early"]);
    let trials = report["trials"].as_array().unwrap();
    // The first progress line came after a tenth of the trials, warm-up (4) included.
    assert!(trials.len() >= 96 && trials.len() < 1000, "{} trials", trials.len());
    // Every trial before the fault is complete. The one in flight when the container went may
    // not be — Docker accepts an update of a stopping container without applying it — and then
    // it is the last one, and says why.
    let unpaired: Vec<usize> = (0..trials.len()).filter(|&i| !complete(&trials[i])).collect();
    assert_eq!(report["honesty"]["unpaired_trials"], unpaired.len(), "{unpaired:?}");
    for i in unpaired {
        let trial = &trials[i];
        assert_eq!(i, trials.len() - 1, "only the trial in flight may be unpaired: {trial}");
        assert_eq!(trial["container_gone"], true, "{trial}");
        assert!(trial["outcome"]["reason"].as_str().unwrap().starts_with("the container stopped while"), "{trial}");
    }
}

/// dockerd restarts mid-run (it kills its containers on the way down): the next update fails
/// and ends the run, and cgbench waits for the daemon to remove its container.
#[test]
fn dockerd_restarted_mid_run_ends_it_and_the_container_is_still_removed() {
    let mut run = Run::start("restart", &["--iterations", "500", "--routes", "cli,raw"]);
    run.wait_for_trials();
    let dockerd = stopped_dockerd();
    sleep(Duration::from_secs(1));
    dockerd.start();
    let ended = run.finish();

    assert_partial(&ended);
    // dockerd closes its socket, then kills its containers: either may be seen first.
    let why = ["error: dockerd stopped answering during the run: ", "error: container cgbench-"];
    assert!(why.iter().any(|w| ended.errors[0].starts_with(w)), "{:?}", ended.errors);
    assert!(!ended.errors[0].contains("left behind"), "{:?}", ended.errors);
    assert_eq!(leftover_containers(), "");
}

/// dockerd stops and stays down: after waiting for it, cgbench says which container it had to
/// leave behind and how to remove it — nothing is left quietly.
#[test]
fn dockerd_stopped_for_good_names_the_container_left_behind() {
    let mut run = Run::start("stop", &["--iterations", "500", "--routes", "api,raw"]);
    run.wait_for_trials();
    let dockerd = stopped_dockerd();
    let ended = run.finish();
    dockerd.start();

    assert_partial(&ended);
    let short = &ended.report["environment"]["container_id"].as_str().unwrap()[..12];
    assert!(
        ended.errors[0].starts_with(&format!("error: container {short} is left behind: dockerd stopped answering")),
        "{:?}",
        ended.errors
    );
    assert!(ended.errors[0].contains(&format!("remove it with `docker rm -f {short}`")), "{:?}", ended.errors);
    assert!(leftover_containers().starts_with(short), "the container named must be the one left");
    docker(&["rm", "-f", short]);
}

/// The CRI containerd stops mid-run and comes back a second later (its shims, and so the pod,
/// live on meanwhile): the next CRI update fails and ends the run with one line saying so, the
/// trials before it are reported, and cgbench waits for the runtime to remove its pod.
#[test]
fn the_cri_runtime_stopped_mid_run_ends_it_and_the_pod_is_removed_once_it_is_back() {
    let mut run = Run::start("cri", &["--iterations", "500", "--routes", "cri,raw"]);
    run.wait_for_trials();
    let cri = stopped_cri_containerd();
    sleep(Duration::from_secs(1));
    cri.start();
    let ended = run.finish();

    let Ended { code, stdout, errors, report } = &ended;
    assert_eq!(*code, Some(1), "{errors:?}");
    assert_eq!(errors.len(), 1, "one error line: {errors:?}");
    assert!(
        errors[0].starts_with(
            "error: the CRI runtime at unix:///run/cgbench-cri/containerd.sock stopped answering during the run"
        ),
        "{errors:?}"
    );
    assert!(stdout.contains("PARTIAL RUN:"), "{stdout}");
    let trials = report["trials"].as_array().unwrap();
    assert!(trials.len() >= 96, "{} trials", trials.len());
    assert!(trials.iter().all(complete), "every trial before the fault is complete");
    assert_eq!(leftover_pods(), "", "the pod must be removed once the runtime is back");
    assert_eq!(leftover_containers(), "");
}

/// A burst of host writes fills the ring buffer mid-run: the lost events are counted, every
/// trial that lost any is reported unpaired (never paired from what was left), the others pair,
/// and `--strict` fails the run. The burst, by a process named runc, writes a harmless file of
/// the container's own memory cgroup, so it passes the in-kernel filters.
#[test]
fn a_ring_buffer_overflow_leaves_the_affected_trials_unpaired() {
    let host = Host::detect().unwrap();
    let runc = RuncAlias::new();
    // A 16 KiB ring (56 events) overflows under a burst of any speed between two trials' drains;
    // the real 2 MiB one may not, on a busy machine that slows the burst.
    let mut run = Run::start_with(
        "overflow",
        &["--iterations", "100", "--routes", "cli", "--strict"],
        &[("CGBENCH_RING_BUFFER_BYTES", "16384")],
    );
    run.wait_for_trials();
    let id = leftover_containers();
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &id]);
    let memory = host.files_of(&fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()).unwrap().memory;
    // Resets the peak-usage watermark: v1's memory.max_usage_in_bytes, v2's memory.peak.
    let harmless = ["memory.max_usage_in_bytes", "memory.peak"].map(|f| memory.path.join(f));
    let harmless = harmless.iter().find(|f| f.exists()).expect("a peak-usage file");
    let storm = runc.storm(harmless, 1000, Some("0")).wait_with_output().unwrap();
    assert!(storm.status.success());
    let ended = run.finish();

    assert_eq!(ended.code, Some(1), "{:?}", ended.errors);
    assert!(ended.errors[0].starts_with("error: --strict: "), "{:?}", ended.errors);
    let report = &ended.report;
    assert!(report["ended_early"].is_null());
    let lost = report["honesty"]["lost_events"].as_u64().unwrap();
    assert!(lost > 0, "the burst must overflow the ring buffer: {}", report["honesty"]);
    let trials = report["trials"].as_array().unwrap();
    let lossy: Vec<&Value> = trials.iter().filter(|t| t["lost_events"].as_u64().unwrap() > 0).collect();
    // The burst lasts about a third of the run: some trials lose events, the others do not.
    assert!(!lossy.is_empty() && lossy.len() < trials.len(), "{} of {} trials lost events", lossy.len(), trials.len());
    assert!(lossy.iter().map(|t| t["lost_events"].as_u64().unwrap()).sum::<u64>() <= lost);
    for trial in trials {
        let lossy = trial["lost_events"].as_u64().unwrap() > 0;
        let status = trial["outcome"]["status"].as_str().unwrap();
        assert_eq!(status, if lossy { "unpaired" } else { "paired" }, "{trial}");
        if lossy {
            assert!(trial["outcome"]["reason"].as_str().unwrap().contains("were lost while it ran"), "{trial}");
        }
    }
    assert_eq!(report["honesty"]["unpaired_trials"].as_u64().unwrap(), lossy.len() as u64);
    assert_eq!(leftover_containers(), "");
}

/// A long run while another process storms an unrelated cgroup and a plain file under the name
/// `runc`, so that compare's probes take it for a writer and only the in-kernel cgroup filter
/// keeps it out: every trial still pairs and no event is lost.
#[test]
fn two_thousand_iterations_under_a_write_storm_pair_cleanly() {
    let scratch = Scratch::new(&Host::detect().unwrap(), &format!("cgbench-faults-{}", std::process::id())).unwrap();
    let runc = RuncAlias::new();
    let mut run = Run::start("load", &["--iterations", "2000", "--strict", "--routes", "api,raw,raw-open"]);
    // Started once the probes watch runc, so its exec makes it a writer.
    run.wait_for_trials();
    let mut storm = runc.storm(&scratch.memory_limit_file(), 120_000, None);
    let ended = run.finish();
    let storm_was_running = storm.try_wait().unwrap().is_none();
    let _ = storm.kill();
    let _ = storm.wait();
    drop(scratch);

    assert_eq!(ended.code, Some(0), "{:?}", ended.errors);
    assert!(storm_was_running, "the storm must outlast the run");
    let report = &ended.report;
    assert_eq!(report["trials"].as_array().unwrap().len(), 6000);
    assert_eq!(
        report["honesty"],
        serde_json::json!({"lost_events": 0, "unpaired_trials": 0, "failed_trials": 0, "out_of_order_trials": 0})
    );
    assert_eq!(leftover_containers(), "");
}
