//! Parsing and printing of the quantities users type and read: byte sizes, CPU counts, durations.

use anyhow::{Context as _, bail, ensure};

/// `268435456`, `256m`, `256MiB`, `1g`, `512k`: binary multiples, as `docker update --memory`.
pub fn parse_bytes(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    ensure!(!digits.is_empty(), "`{text}` is not a size: use bytes or a number with k, m or g (e.g. 256m)");
    let n: u64 = digits.parse().with_context(|| format!("`{text}` is too large"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => bail!("`{text}` has an unknown unit `{unit}`: use k, m or g (e.g. 256m)"),
    };
    n.checked_mul(1 << shift).with_context(|| format!("`{text}` is too large"))
}

/// A CPU count such as `0.5` or `2`, kept exactly as micro-CPUs (`cpu.cfs_quota_us` per
/// 1 s period), so `0.50001` never turns into a float that Docker would call "too precise".
pub fn parse_cpus(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let bad = || format!("`{text}` is not a CPU count: use a decimal such as 0.5 or 2");
    ensure!(!int.is_empty() || !frac.is_empty(), bad());
    ensure!(int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()), bad());
    ensure!(frac.len() <= 6, "`{text}` has more than 6 decimals: cgroups count CPU time in µs");
    let int: u64 = if int.is_empty() { 0 } else { int.parse().with_context(bad)? };
    let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().with_context(bad)? };
    int.checked_mul(1_000_000).and_then(|v| v.checked_add(frac)).with_context(|| format!("`{text}` is too large"))
}

/// Micro-CPUs as the shortest exact decimal: 500_010 → `0.50001`.
pub fn format_cpus(micro_cpus: u64) -> String {
    let (int, frac) = (micro_cpus / 1_000_000, micro_cpus % 1_000_000);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// Bytes for people: `256 MiB`, `1.5 GiB`, `4096 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 { format!("{value:.0} {}", UNITS[unit]) } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A duration in ns with three significant figures and the unit that suits it: `6.12 µs`,
/// `31.2 ms`, `812 ns`.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// A difference of durations, which noise can make negative: `−1.20 ms`.
pub fn format_signed_ns(ns: f64) -> String {
    if ns < 0.0 { format!("−{}", format_ns(-ns)) } else { format_ns(ns) }
}

/// Parses a comma-separated pair, as in `--memory-values 256m,512m`.
pub fn parse_pair<T>(text: &str, parse: impl Fn(&str) -> anyhow::Result<T>) -> anyhow::Result<[T; 2]> {
    let parts: Vec<&str> = text.split(',').collect();
    let [a, b] = parts.as_slice() else {
        bail!("`{text}` must be two values separated by a comma (e.g. 256m,512m)");
    };
    Ok([parse(a)?, parse(b)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_accept_docker_style_units() {
        assert_eq!(parse_bytes("268435456").unwrap(), 268_435_456);
        assert_eq!(parse_bytes("256m").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes(" 4k ").unwrap(), 4096);
    }

    #[test]
    fn bytes_reject_garbage_with_a_hint() {
        assert!(parse_bytes("").unwrap_err().to_string().contains("not a size"));
        assert!(parse_bytes("-1").unwrap_err().to_string().contains("not a size"));
        assert!(parse_bytes("12x").unwrap_err().to_string().contains("unknown unit `x`"));
        assert!(parse_bytes("99999999999999999999").unwrap_err().to_string().contains("too large"));
        assert!(parse_bytes("17179869184g").unwrap_err().to_string().contains("too large"));
    }

    #[test]
    fn cpus_are_exact_micro_cpus() {
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000);
        assert_eq!(parse_cpus("2").unwrap(), 2_000_000);
        assert_eq!(parse_cpus(".25").unwrap(), 250_000);
        assert_eq!(parse_cpus("0.50001").unwrap(), 500_010);
        assert!(parse_cpus("0.1234567").unwrap_err().to_string().contains("6 decimals"));
        assert!(parse_cpus("-1").unwrap_err().to_string().contains("not a CPU count"));
        assert!(parse_cpus("1e3").is_err());
        assert!(parse_cpus(".").is_err());
    }

    #[test]
    fn cpus_print_shortest_exact_decimal() {
        assert_eq!(format_cpus(500_010), "0.50001");
        assert_eq!(format_cpus(1_000_000), "1");
        assert_eq!(format_cpus(1_500_000), "1.5");
        assert_eq!(format_cpus(1), "0.000001");
        for text in ["0.5", "0.50001", "3", "0.000001"] {
            assert_eq!(format_cpus(parse_cpus(text).unwrap()), text);
        }
    }

    #[test]
    fn durations_pick_a_unit_and_three_figures() {
        assert_eq!(format_ns(812.0), "812 ns");
        assert_eq!(format_ns(6_123.0), "6.12 µs");
        assert_eq!(format_ns(31_234_000.0), "31.2 ms");
        assert_eq!(format_ns(123_456_789.0), "123 ms");
        assert_eq!(format_ns(2.5e9), "2.50 s");
        assert_eq!(format_signed_ns(-1_200_000.0), "−1.20 ms");
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(format_bytes(256 << 20), "256 MiB");
        assert_eq!(format_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(100), "100 B");
    }

    #[test]
    fn pairs_need_exactly_two_values() {
        assert_eq!(parse_pair("256m,512m", parse_bytes).unwrap(), [256 << 20, 512 << 20]);
        assert!(parse_pair("256m", parse_bytes).unwrap_err().to_string().contains("two values"));
        assert!(parse_pair("1,2,3", parse_cpus).is_err());
    }
}
