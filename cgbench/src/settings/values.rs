//! The values `set`'s flags take, spelled as `docker update`/`docker run` spell them where Docker
//! has the knob. Pure parsing: what needs the host (devices, CPUs, interfaces) is checked by the
//! caller.

use std::{collections::BTreeSet, fmt, path::PathBuf};

use anyhow::{Context as _, bail, ensure};

use super::Sched;
use crate::{resource::Controller, units::parse_bytes};

/// A byte size as `--memory` takes it, or -1 for no limit (as `--memory-swap -1`).
pub fn parse_limit(text: &str) -> anyhow::Result<i64> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    i64::try_from(parse_bytes(text)?).with_context(|| format!("`{text}` is too large"))
}

/// `PATH:RATE`, as `--device-read-bps /dev/sda:1mb` or `--device-read-iops /dev/sda:1000`: the
/// rate in bytes (with units) for a bps flag, a plain count for an iops one.
pub fn parse_throttle(text: &str, bytes: bool) -> anyhow::Result<(PathBuf, u64)> {
    let (path, rate) = text.rsplit_once(':').filter(|(p, r)| !p.is_empty() && !r.is_empty()).with_context(|| {
        format!("`{text}` must be PATH:RATE (e.g. /dev/sda:{})", if bytes { "1mb" } else { "1000" })
    })?;
    let rate = if bytes {
        parse_bytes(rate)?
    } else {
        rate.parse().with_context(|| format!("`{rate}` is not a number of operations per second"))?
    };
    Ok((PathBuf::from(path), rate))
}

/// `fifo:PRIO`, `rr:PRIO` (1–99), `other`, `batch` or `idle`.
pub fn parse_sched(text: &str) -> anyhow::Result<Sched> {
    let bad = || format!("`{text}` is not a policy: use fifo:PRIO or rr:PRIO (PRIO 1-99), other, batch or idle");
    let (policy, priority) = text.split_once(':').map_or((text, None), |(p, n)| (p, Some(n)));
    let priority =
        priority.map(|p| p.parse::<u8>().ok().filter(|p| (1..=99).contains(p)).with_context(bad)).transpose()?;
    Ok(match (policy, priority) {
        ("fifo", Some(p)) => Sched::Fifo(p),
        ("rr", Some(p)) => Sched::Rr(p),
        ("other", None) => Sched::Other,
        ("batch", None) => Sched::Batch,
        ("idle", None) => Sched::Idle,
        _ => bail!(bad()),
    })
}

/// A `net_cls` class id as tc writes it (`10:1`, hex major and minor) or as the file takes it
/// (`0x100001`, `1048577`).
pub fn parse_class_id(text: &str) -> anyhow::Result<u32> {
    let bad = || format!("`{text}` is not a class id: use MAJOR:MINOR in hex as tc does (e.g. 10:1), or 0x100001");
    if let Some((major, minor)) = text.split_once(':') {
        let major = u16::from_str_radix(major, 16).ok().with_context(bad)?;
        let minor = u16::from_str_radix(minor, 16).ok().with_context(bad)?;
        return Ok(u32::from(major) << 16 | u32::from(minor));
    }
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
    .with_context(bad)
}

/// `IFACE=PRIO`, for `net_prio.ifpriomap`.
pub fn parse_interface_priority(text: &str) -> anyhow::Result<(String, u32)> {
    let (name, priority) =
        text.split_once('=').context(format!("`{text}` must be INTERFACE=PRIORITY (e.g. eth0=5)"))?;
    let priority = priority.parse().with_context(|| format!("`{priority}` is not a priority (0 or more)"))?;
    Ok((name.to_owned(), priority))
}

/// `SIZE:LIMIT`, as `2MB:64m`: the page size as the hugetlb files name it (`2MB`, `1GB`,
/// `64KB`), the limit in bytes or -1.
pub fn parse_hugetlb(text: &str) -> anyhow::Result<(String, i64)> {
    let (size, limit) = text.split_once(':').context(format!("`{text}` must be PAGESIZE:LIMIT (e.g. 2MB:64m)"))?;
    let bytes = parse_bytes(size.trim_end_matches(['B', 'b']))
        .ok()
        .filter(|b| b.is_power_of_two() && *b >= 1 << 10)
        .with_context(|| format!("`{size}` is not a huge page size (e.g. 2MB, 1GB)"))?;
    let (value, unit) = [(30, "GB"), (20, "MB"), (10, "KB")]
        .into_iter()
        .find(|(shift, _)| bytes.trailing_zeros() >= *shift)
        .map(|(shift, unit)| (bytes >> shift, unit))
        .expect("at least 1 KiB");
    Ok((format!("{value}{unit}"), parse_limit(limit)?))
}

/// `FILE=VALUE` for a cgroup v2 file of a controller (`memory.high=1g` is written as given, so
/// give bytes).
pub fn parse_unified(text: &str) -> anyhow::Result<(String, String)> {
    let (file, value) =
        text.split_once('=').context(format!("`{text}` must be FILE=VALUE (e.g. memory.high=268435456)"))?;
    ensure!(
        !file.contains('/') && Controller::of_v2_file(file).is_some(),
        "`{file}` is not a controller's file: --unified takes files of cpu, cpuset, io, memory, pids or hugetlb (e.g. memory.high)"
    );
    Ok((file.to_owned(), value.to_owned()))
}

/// A list of CPUs or memory nodes as cpuset files take it (`0-2,5`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub BTreeSet<u32>);

impl std::str::FromStr for CpuList {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<CpuList> {
        let bad = || format!("`{text}` is not a list such as 0-2,5");
        let mut set = BTreeSet::new();
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let (low, high): (u32, u32) = (low.parse().with_context(bad)?, high.parse().with_context(bad)?);
            ensure!(low <= high, bad());
            set.extend(low..=high);
        }
        Ok(CpuList(set))
    }
}

impl fmt::Display for CpuList {
    /// The kernel's spelling: ranges joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for &n in &self.0 {
            match ranges.last_mut() {
                Some((_, high)) if *high + 1 == n => *high = n,
                _ => ranges.push((n, n)),
            }
        }
        let parts: Vec<String> =
            ranges.iter().map(|&(l, h)| if l == h { l.to_string() } else { format!("{l}-{h}") }).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_split_at_the_last_colon_and_take_units_for_bytes() {
        assert_eq!(parse_throttle("/dev/sda:1mb", true).unwrap(), (PathBuf::from("/dev/sda"), 1 << 20));
        assert_eq!(parse_throttle("/mnt/a:b:500", false).unwrap(), (PathBuf::from("/mnt/a:b"), 500));
        assert!(parse_throttle("/dev/sda", true).unwrap_err().to_string().contains("must be PATH:RATE"));
        assert!(parse_throttle("/dev/sda:1k", false).unwrap_err().to_string().contains("not a number of operations"));
    }

    #[test]
    fn policies_need_a_priority_exactly_when_real_time() {
        assert_eq!(parse_sched("fifo:10").unwrap(), Sched::Fifo(10));
        assert_eq!(parse_sched("rr:99").unwrap(), Sched::Rr(99));
        assert_eq!(parse_sched("other").unwrap(), Sched::Other);
        for bad in ["fifo", "fifo:0", "rr:100", "other:3", "deadline"] {
            assert!(parse_sched(bad).unwrap_err().to_string().contains("is not a policy"), "{bad}");
        }
        assert_eq!(Sched::from_raw(libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, 5), Some(Sched::Fifo(5)));
        assert_eq!(Sched::Rr(3).to_string(), "rr:3");
    }

    #[test]
    fn class_ids_as_tc_handles_or_numbers() {
        assert_eq!(parse_class_id("10:1").unwrap(), 0x0010_0001);
        assert_eq!(parse_class_id("0x100001").unwrap(), 0x0010_0001);
        assert_eq!(parse_class_id("1048577").unwrap(), 0x0010_0001);
        assert!(parse_class_id("10:x").is_err());
    }

    #[test]
    fn hugetlb_page_sizes_are_named_as_the_kernel_names_its_files() {
        assert_eq!(parse_hugetlb("2MB:64m").unwrap(), ("2MB".into(), 64 << 20));
        assert_eq!(parse_hugetlb("1g:-1").unwrap(), ("1GB".into(), -1));
        assert_eq!(parse_hugetlb("2048kB:0").unwrap(), ("2MB".into(), 0));
        assert!(parse_hugetlb("3MB:1m").unwrap_err().to_string().contains("not a huge page size"));
    }

    #[test]
    fn unified_files_must_belong_to_a_controller() {
        assert_eq!(parse_unified("memory.high=1073741824").unwrap(), ("memory.high".into(), "1073741824".into()));
        assert!(parse_unified("cgroup.procs=1").unwrap_err().to_string().contains("not a controller's file"));
        assert!(parse_unified("../memory.max=1").is_err());
        assert!(parse_unified("memory.high").unwrap_err().to_string().contains("FILE=VALUE"));
    }

    #[test]
    fn cpu_lists_read_and_print_as_the_kernel_does() {
        let list: CpuList = "0,1,2,5".parse().unwrap();
        assert_eq!(list.to_string(), "0-2,5");
        assert_eq!("3-1".parse::<CpuList>().unwrap_err().to_string(), "`3-1` is not a list such as 0-2,5");
        assert_eq!("".parse::<CpuList>().unwrap().to_string(), "");
        assert_eq!(parse_limit("-1").unwrap(), -1);
        assert_eq!(parse_interface_priority("eth0=5").unwrap(), ("eth0".into(), 5));
    }
}
