//! Process CPU time and memory from `/proc`: `utime + stime` from `/proc/<pid>/stat` (in clock
//! ticks, converted with `getconf CLK_TCK`), `VmHWM` and `VmRSS` from `/proc/<pid>/status`.

use std::time::Duration;

/// CPU time consumed by a process (all its threads), user plus system.
pub fn cpu_time(pid: u32, clk_tck: u64) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&text)?;
    Some(ticks_to_duration(ticks, clk_tck))
}

/// `utime + stime` in clock ticks from one `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last `)`: state is field 3, utime field 14, stime field 15.
pub fn parse_stat_ticks(line: &str) -> Option<u64> {
    let after = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks as a duration.
pub fn ticks_to_duration(ticks: u64, clk_tck: u64) -> Duration {
    let clk_tck = clk_tck.max(1);
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / clk_tck)
}

/// The kernel's clock ticks per second, from `getconf CLK_TCK` (100 when it cannot be run).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .filter(|t: &u64| *t > 0)
        .unwrap_or(100)
}

/// A process's memory, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Memory {
    /// Peak resident set size (`VmHWM`).
    pub peak_rss_kib: u64,
    /// Current resident set size (`VmRSS`).
    pub rss_kib: u64,
}

/// The memory of a running process.
pub fn memory(pid: u32) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&text)
}

/// `VmHWM` and `VmRSS` from the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
    };
    Some(Memory {
        peak_rss_kib: field("VmHWM")?,
        rss_kib: field("VmRSS")?,
    })
}

/// The soft limit on open files from `/proc/self/limits`, if readable.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time of one process across a measured interval.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: u32,
    clk_tck: u64,
    start: Option<Duration>,
}

impl CpuMeter {
    /// Reads the starting CPU time.
    pub fn start(pid: u32, clk_tck: u64) -> Self {
        Self {
            pid,
            clk_tck,
            start: cpu_time(pid, clk_tck),
        }
    }

    /// CPU microseconds per unit of work since the start (`None` when unreadable or no work).
    pub fn per_unit_us(&self, units: u64) -> Option<f64> {
        let end = cpu_time(self.pid, self.clk_tck)?;
        let used = end.checked_sub(self.start?)?;
        (units > 0).then(|| used.as_secs_f64() * 1e6 / units as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (switchyard (w) 1) S 4200 4242 4200 34816 4242 4194560 8123 0 0 0 \
                        1234 567 0 0 20 0 5 0 991234 123456789 4567 18446744073709551615 1 1 0 0 0 \
                        0 0 4096 17663 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_ticks_are_utime_plus_stime_even_with_parentheses_in_the_name() {
        assert_eq!(parse_stat_ticks(STAT), Some(1234 + 567));
    }

    #[test]
    fn stat_from_a_plain_name() {
        let line = "7 (nginx) R 1 7 7 0 -1 4194304 100 0 0 0 25 5 0 0 20 0 1 0 100 1000 50";
        assert_eq!(parse_stat_ticks(line), Some(30));
    }

    #[test]
    fn truncated_or_garbled_stat_is_none() {
        assert_eq!(parse_stat_ticks("12 (x) S 1 2 3"), None);
        assert_eq!(parse_stat_ticks("no parenthesis here"), None);
        assert_eq!(
            parse_stat_ticks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 5 0"),
            None
        );
    }

    #[test]
    fn ticks_convert_with_clk_tck() {
        assert_eq!(ticks_to_duration(150, 100), Duration::from_millis(1500));
        assert_eq!(ticks_to_duration(3, 1000), Duration::from_millis(3));
        assert_eq!(ticks_to_duration(1, 0), Duration::from_secs(1));
    }

    #[test]
    fn status_memory_fields() {
        let text = "Name:\tswitchyard\nVmPeak:\t  900000 kB\nVmHWM:\t   61234 kB\n\
                    VmRSS:\t   51234 kB\nThreads:\t5\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                peak_rss_kib: 61234,
                rss_kib: 51234
            })
        );
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t1 kB\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_time(pid, clock_ticks()).is_some());
        let mem = memory(pid).expect("own status");
        assert!(mem.peak_rss_kib >= mem.rss_kib && mem.rss_kib > 0);
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
