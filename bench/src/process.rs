//! The server under test as a process: spawning it (pinned with `taskset` when asked),
//! waiting for its port, sampling its RSS and CPU time from `/proc`, stopping it.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A server the bench started.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
}

impl Spawned {
    /// Starts `program args`, under `taskset -c cpus` when `cpus` is given and taskset exists.
    pub fn start(program: &Path, args: &[String], cpus: Option<&str>) -> anyhow::Result<Self> {
        let taskset = cpus.filter(|_| which("taskset"));
        let mut cmd = match taskset {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(program);
                c
            }
            None => Command::new(program),
        };
        if cpus.is_some() && taskset.is_none() {
            eprintln!("note: taskset not found; the server runs unpinned");
        }
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Self { child })
    }

    /// The server's pid (taskset execs the program, so it is the same process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the server already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait().context("waiting for the server")? {
            bail!("the server exited: {status}");
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(cmd).is_file()))
}

/// Waits until `addr` accepts TCP connections.
pub fn wait_for_port(
    addr: SocketAddr,
    timeout: Duration,
    server: Option<&mut Spawned>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut server = server;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
        if let Some(s) = server.as_deref_mut() {
            s.check_alive()?;
        }
        if Instant::now() >= deadline {
            bail!("{addr} did not accept connections within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Resident memory and CPU time of a process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub at: Option<Instant>,
    pub rss_kib: u64,
    /// User + system CPU seconds so far.
    pub cpu_s: f64,
}

impl Sample {
    /// CPU use between `self` and a later sample, in percent of one core.
    pub fn cpu_pct_until(&self, later: &Sample) -> f64 {
        match (self.at, later.at) {
            (Some(a), Some(b)) if b > a => {
                (later.cpu_s - self.cpu_s) / b.duration_since(a).as_secs_f64() * 100.0
            }
            _ => 0.0,
        }
    }
}

/// Clock ticks per second of `/proc/PID/stat` times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// The sum of [`sample`] over several processes (e.g. the nodes of a cluster).
pub fn sample_sum(pids: &[u32], ticks_per_s: f64) -> anyhow::Result<Sample> {
    let mut sum = Sample::default();
    for pid in pids {
        let one = sample(&pid.to_string(), ticks_per_s)?;
        sum.at = one.at;
        sum.rss_kib += one.rss_kib;
        sum.cpu_s += one.cpu_s;
    }
    Ok(sum)
}

/// Reads `/proc/{pid}/status` and `/proc/{pid}/stat` (`pid` may be `self`).
pub fn sample(pid: &str, ticks_per_s: f64) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces): state is field 3,
    // utime 14 and stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        at: Some(Instant::now()),
        rss_kib,
        cpu_s: (ticks(11) + ticks(12)) as f64 / ticks_per_s,
    })
}

/// Busy and total jiffies of each CPU (`cpu0`, `cpu1`, ...) from `/proc/stat`.
pub fn cpu_jiffies() -> Vec<(u64, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            let total: u64 = v.iter().take(8).sum();
            // idle and iowait are fields 4 and 5.
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle.min(total), total)
        })
        .collect()
}

/// Per-CPU busy percent between two `cpu_jiffies` readings.
pub fn busy_pct(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|(&(b0, t0), &(b1, t1))| {
            if t1 > t0 {
                (b1.saturating_sub(b0)) as f64 / (t1 - t0) as f64 * 100.0
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = sample("self", clock_ticks()).unwrap();
        assert!(s.rss_kib > 0);
        assert!(s.cpu_s >= 0.0);
        let cpus = cpu_jiffies();
        assert!(!cpus.is_empty());
        assert!(
            busy_pct(&cpus, &cpu_jiffies())
                .iter()
                .all(|p| (0.0..=100.0).contains(p))
        );
    }
}
