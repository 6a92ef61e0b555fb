//! A containerd serving CRI for the `cri` route, started beside Docker's when none answers on
//! cgbench's default endpoint (Docker's own containerd has CRI disabled). Everything of its own —
//! config, socket, root, state and runc root — so Docker's containerd is untouched. Its sandbox
//! image is provided by cgbench (no registry here); `restrict_oom_score_adj` because root may
//! lack CAP_SYS_RESOURCE, which the sandbox's oom_score_adj of -998 needs.

use std::{path::Path, process::Command};

use crate::{
    process::{start_daemon, succeeds},
    setup::say,
};

/// Where the CRI containerd lives: cgbench's default `--cri-endpoint` is the socket in `CRI_RUN`.
const CRI_RUN: &str = "/run/cgbench-cri";
const CRI_ROOT: &str = "/var/lib/cgbench-cri";
const CRI_LOG: &str = "/var/log/cgbench-cri-containerd.log";

pub fn containerd() -> anyhow::Result<()> {
    let socket = format!("{CRI_RUN}/containerd.sock");
    let answers = || succeeds(Command::new("ctr").args(["--address", &socket, "version"]));
    if answers() {
        say("cri", &format!("a containerd answers at unix://{socket}"));
        return Ok(());
    }
    let config = Path::new(CRI_ROOT).join("config.toml");
    std::fs::create_dir_all(CRI_ROOT)?;
    std::fs::create_dir_all(CRI_RUN)?;
    std::fs::write(&config, config_toml(&socket))?;
    let config = config.to_string_lossy();
    start_daemon("the CRI containerd", &["containerd", "--config", &config], Path::new(CRI_LOG), answers)?;
    say("cri", &format!("containerd with CRI started at unix://{socket} (log: {CRI_LOG})"));
    Ok(())
}

fn config_toml(socket: &str) -> String {
    format!(
        r#"version = 2
root = "{CRI_ROOT}/root"
state = "{CRI_RUN}/state"
disabled_plugins = ["io.containerd.internal.v1.opt"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[debug]
  address = "{CRI_RUN}/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/cgbench-sandbox:idle"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{CRI_RUN}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CRI_RUN}/cni/bin"
    conf_dir = "{CRI_RUN}/cni/net.d"
"#
    )
}
