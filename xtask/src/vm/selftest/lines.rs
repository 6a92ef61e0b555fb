//! The self-test's output lines, as vm-test reads them from the VM's console.

use std::fmt;

use anyhow::Context as _;
use serde::Deserialize;

/// One line of `cgbench selftest`'s output. Mirrors `cgbench::dev::selftest::SelftestLine`
/// (cgbench/src/dev/selftest/lines.rs): xtask cannot depend on cgbench, whose build needs the
/// toolchain xtask installs. Every field must be present, `null`s included, so that a field
/// renamed on one side fails here rather than reading as missing.
#[derive(Debug, Deserialize)]
#[serde(tag = "selftest", rename_all = "snake_case")]
pub enum SelftestLine {
    Method(MethodSaw),
    Nesting { file: String, nested: usize, writes: usize },
}

/// Mirrors `cgbench::dev::selftest::MethodSaw`.
#[derive(Debug, Deserialize)]
pub struct MethodSaw {
    pub mode: Mode,
    pub method: String,
    pub file: String,
    pub seen: usize,
    pub writes: usize,
    pub lost: u64,
    // With `deserialize_with`, serde no longer reads a missing `Option` field as `None`.
    #[serde(deserialize_with = "Option::deserialize")]
    pub median_latency_ns: Option<f64>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub block_median_latency_ns: Option<f64>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub median_applied_ns: Option<f64>,
}

/// Mirrors `cgbench::options::SelftestMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Alone,
    Together,
}

impl Mode {
    /// How the printed lines name the run.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Alone => "selftest",
            Mode::Together => "selftest-together",
        }
    }
}

/// The self-test line a console line holds, if any: it can follow terminal escapes or, when the
/// self-test failed, `error: `.
pub fn parse(console_line: &str) -> Option<anyhow::Result<SelftestLine>> {
    let start = console_line.find(r#"{"selftest":"#)?;
    let json = &console_line[start..];
    Some(serde_json::from_str(json).with_context(|| format!("a self-test line that does not parse: {json}")))
}

/// The `key=value` form people read.
impl fmt::Display for SelftestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let figure = |ns: Option<f64>| ns.unwrap_or(f64::NAN);
        match self {
            SelftestLine::Method(saw) => write!(
                f,
                "{} method={} file={} seen={}/{} lost={} median_latency_ns={:.0} block_median_latency_ns={:.0} median_applied_ns={:.0}",
                saw.mode.label(),
                saw.method,
                saw.file,
                saw.seen,
                saw.writes,
                saw.lost,
                figure(saw.median_latency_ns),
                figure(saw.block_median_latency_ns),
                figure(saw.median_applied_ns)
            ),
            SelftestLine::Nesting { file, nested, writes } => {
                write!(f, "selftest-together nesting file={file} nested={nested}/{writes}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines cgbench's own test (dev::selftest::lines) says it prints.
    const METHOD: &str = r#"{"selftest":"method","mode":"together","method":"fentry","file":"memory.max","seen":300,"writes":300,"lost":0,"median_latency_ns":41250.5,"block_median_latency_ns":40000.0,"median_applied_ns":null}"#;
    const NESTING: &str = r#"{"selftest":"nesting","file":"cpu.max","nested":299,"writes":300}"#;

    #[test]
    fn reads_and_prints_cgbench_lines() {
        let line = parse(&format!("\x1b[?25h{METHOD}\r")).unwrap().unwrap();
        assert_eq!(
            line.to_string(),
            "selftest-together method=fentry file=memory.max seen=300/300 lost=0 median_latency_ns=41250 block_median_latency_ns=40000 median_applied_ns=NaN"
        );
        let line = parse(&format!("error: {NESTING}")).unwrap().unwrap();
        assert_eq!(line.to_string(), "selftest-together nesting file=cpu.max nested=299/300");
        assert!(parse("[    1.234] random: crng init done").is_none());
    }

    #[test]
    fn a_missing_field_fails_null_or_not() {
        for field in [r#""seen":300,"#, r#""median_applied_ns":null"#] {
            let without = METHOD.replace(field, "").replace(",}", "}");
            let err = parse(&without).unwrap().unwrap_err();
            assert!(format!("{err:#}").contains("missing field"), "{err:#}");
        }
    }
}
