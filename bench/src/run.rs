//! One benchmark run: ramp up, settle, warm up, measure, report.
//!
//! The main thread only keeps time and samples `/proc`; connections live on `threads`
//! OS threads, each a current-thread tokio runtime, so a thread's connections share its
//! scratch buffer and counters without atomics. When the run ends each runtime is
//! dropped with its connections, and their counts are merged.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tickcast_proto::{ClientMessage, Encoding, Subscribe, encode};
use tokio::task::LocalSet;

use crate::cli::RunArgs;
use crate::conn::{self, Control, Local, Spec, Target};
use crate::process::{self, Sample, Spawned};
use crate::report::{
    ClientUse, Connect, Delivery, Disconnects, Machine, Report, ServerUse, Stalled,
};
use crate::stats::{Latency, Spread, ThreadStats};
use crate::tls::Tls;
use crate::url::{self, Url};

/// Connections per loopback source address when `--source-ips` is 0 (below the
/// server's default per-IP limit of 10,000 and the ~28,000 ephemeral ports).
const CONNS_PER_SOURCE: usize = 8000;

/// Which clients stop reading: `floor(n * fraction)` of them, spread evenly.
fn is_stalled(index: usize, fraction: f64) -> bool {
    fraction > 0.0 && ((index + 1) as f64 * fraction).floor() > (index as f64 * fraction).floor()
}

fn sleep_s(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
}

/// Runs the benchmark described by `args`.
pub fn run(args: &RunArgs) -> anyhow::Result<Report> {
    let url = url::parse(&args.url)?;
    let tls = tls(args, &url)?;
    let n = args.connections;
    let threads = args.threads.clamp(1, n.max(1));
    let sources = match usize::from(args.source_ips) {
        0 => n.div_ceil(CONNS_PER_SOURCE).clamp(1, 254),
        k => k,
    };
    if !(0.0..=1.0).contains(&args.stop_reading_fraction) {
        bail!("--stop-reading-fraction must be within 0..=1");
    }
    let first = usize::from(args.source_ip_first);
    if first + sources > 255 {
        bail!("source addresses 127.0.0.{first} + {sources} run past 127.0.0.254");
    }
    let loopback_v4 = matches!(url.addr.ip(), IpAddr::V4(ip) if ip.is_loopback());
    if (sources > 1 || first > 1) && !loopback_v4 {
        bail!("several source addresses need a 127.x.x.x server address");
    }

    let mut spawned = match &args.spawn_server {
        Some(program) => Some(Spawned::start(
            program,
            &args.server_args,
            args.server_cpus.as_deref(),
        )?),
        None => None,
    };
    let result = (|| {
        process::wait_for_port(url.addr, Duration::from_secs(30), spawned.as_mut())?;
        let pids = match &spawned {
            Some(s) => vec![s.pid()],
            None => args.server_pid.clone(),
        };
        measure(args, &url, tls, n, threads, (first, sources), &pids)
    })();
    if let Some(s) = spawned {
        s.stop(Duration::from_secs(5));
    }
    result
}

/// The TLS client of a `wss://` URL, built before anything starts.
fn tls(args: &RunArgs, url: &Url) -> anyhow::Result<Option<Tls>> {
    if !url.tls {
        if !args.ca_cert.is_empty() || args.insecure {
            bail!("--ca-cert and --insecure are for wss:// URLs");
        }
        return Ok(None);
    }
    Tls::new(&url.host, &args.ca_cert, args.insecure).map(Some)
}

fn measure(
    args: &RunArgs,
    url: &Url,
    tls: Option<Tls>,
    n: usize,
    threads: usize,
    (first, sources): (usize, usize),
    pids: &[u32],
) -> anyhow::Result<Report> {
    let ticks = process::clock_ticks();
    let server_sample = |what: &str| -> Option<Sample> {
        if pids.is_empty() {
            return None;
        }
        match process::sample_sum(pids, ticks) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("cannot sample the server {what}: {e:#}");
                None
            }
        }
    };
    let rss_before = server_sample("before connecting");

    let subscribe = encode(
        Encoding::MsgPack,
        &ClientMessage::Subscribe(Subscribe {
            topics: vec![args.topic.clone()],
            rewind: (args.rewind > 0).then_some(args.rewind),
            ..Subscribe::default()
        }),
    )
    .context("encoding the subscribe")?;
    let target = Arc::new(Target {
        rewind: u64::from(args.rewind),
        wire: args.wire,
        tls,
        ..Target::new(url.addr, &url.authority, &url.path, &subscribe)
    });
    let ctl = Arc::new(Control::default());

    // Connection i goes to thread i % threads, from source i % sources, and opens at
    // i / ramp seconds.
    let interval = Duration::from_secs_f64(threads as f64 / args.ramp.max(1.0));
    let per_thread_pending = args.max_pending.div_ceil(threads);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let specs: Vec<Spec> = (t..n)
                .step_by(threads)
                .map(|i| Spec {
                    source: (sources > 1 || first > 1)
                        .then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, (first + i % sources) as u8))),
                    stalled: is_stalled(i, args.stop_reading_fraction),
                    rcvbuf: if is_stalled(i, args.stop_reading_fraction) {
                        args.stalled_rcvbuf
                    } else {
                        None
                    },
                })
                .collect();
            let (ctl, target) = (ctl.clone(), target.clone());
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || thread_main(specs, interval, ctl, target, per_thread_pending))
                .context("starting a bench thread")
        })
        .collect::<anyhow::Result<_>>()?;

    // Ramp: wait until every connection subscribed or failed.
    let deadline = started + Duration::from_secs_f64(args.connect_timeout);
    let mut last_print = Instant::now();
    loop {
        let (ok, failed) = (ctl.subscribed.load(Relaxed), ctl.failed.load(Relaxed));
        if ok + failed >= n || Instant::now() >= deadline {
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(2) {
            eprintln!("  connecting: {ok} subscribed, {failed} failed of {n}");
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let connect_s = started.elapsed().as_secs_f64();
    sleep_s(args.settle);
    let rss_connected = server_sample("after connecting");

    ctl.phase.store(conn::WARMUP, Relaxed);
    ctl.stall.cancel();
    sleep_s(args.warmup);

    let server_t0 = server_sample("at the window's start");
    let self_t0 = process::sample("self", ticks).ok();
    let cpus_t0 = process::cpu_jiffies();
    let t0 = Instant::now();
    ctl.phase.store(conn::MEASURE, Relaxed);
    let mut rss_peak = server_t0.map_or(0, |s| s.rss_kib);
    let end = t0 + Duration::from_secs_f64(args.duration);
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        std::thread::sleep(left.min(Duration::from_secs(1)));
        if let Some(s) = server_sample("during the window") {
            rss_peak = rss_peak.max(s.rss_kib);
        }
    }
    ctl.phase.store(conn::DONE, Relaxed);
    let window_s = t0.elapsed().as_secs_f64();
    let server_t1 = server_sample("at the window's end");
    let self_t1 = process::sample("self", ticks).ok();
    let cpu_busy_pct = process::busy_pct(&cpus_t0, &process::cpu_jiffies());
    ctl.done.cancel();

    let mut stats = ThreadStats::default();
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => stats.merge(s),
            Ok(Err(e)) => return Err(e),
            Err(_) => bail!("a bench thread panicked"),
        }
    }

    let subscribed = stats.conns.iter().filter(|c| c.subscribed).count();
    let reading: Vec<_> = stats
        .conns
        .iter()
        .filter(|c| c.subscribed && !c.stalled)
        .collect();
    let msgs: u64 = reading.iter().map(|c| c.window_ticks).sum();
    let first = reading
        .iter()
        .map(|c| c.window_first_seq)
        .max()
        .unwrap_or(0);
    let last = reading.iter().map(|c| c.window_last_seq).max().unwrap_or(0);
    let published = if last >= first && last > 0 {
        last - first + 1
    } else {
        0
    };
    let per_connection = Spread::of(reading.iter().map(|c| c.window_ticks));
    let delivered_pct = if published > 0 {
        per_connection.mean / published as f64 * 100.0
    } else {
        0.0
    };
    let mut reasons = BTreeMap::new();
    for c in stats.conns.iter().filter(|c| c.ended_in_run) {
        if let Some(r) = &c.ended {
            *reasons.entry(r.clone()).or_default() += 1;
        }
    }
    let stalled: Vec<_> = stats.conns.iter().filter(|c| c.stalled).collect();
    let client_cpu = match (self_t0, self_t1) {
        (Some(a), Some(b)) => a.cpu_pct_until(&b),
        _ => 0.0,
    };
    let server = (!pids.is_empty()).then(|| {
        let before = rss_before.map_or(0, |s| s.rss_kib);
        let connected = rss_connected.map_or(0, |s| s.rss_kib);
        ServerUse {
            pids: pids.to_vec(),
            rss_before_kib: before,
            rss_connected_kib: connected,
            rss_peak_kib: rss_peak.max(connected),
            rss_per_connection_bytes: if subscribed > 0 {
                (connected.saturating_sub(before) * 1024) as f64 / subscribed as f64
            } else {
                0.0
            },
            cpu_pct: match (server_t0, server_t1) {
                (Some(a), Some(b)) => a.cpu_pct_until(&b),
                _ => 0.0,
            },
        }
    });
    let all_msgs: u64 = stats.conns.iter().map(|c| c.window_ticks).sum();
    let others_pct =
        cpu_busy_pct.iter().sum::<f64>() - client_cpu - server.as_ref().map_or(0.0, |s| s.cpu_pct);
    let load_avg_1m = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Ok(Report {
        label: args.label.clone(),
        url: args.url.clone(),
        topic: args.topic.clone(),
        connections: n,
        threads,
        source_ips: sources,
        warmup_s: args.warmup,
        window_s,
        connect: Connect {
            subscribed,
            failed: n - subscribed,
            seconds: connect_s,
            errors: stats.connect_errors.clone(),
        },
        delivery: Delivery {
            msgs,
            msgs_per_s: msgs as f64 / window_s,
            published,
            delivered_pct,
            of_requested_pct: args
                .expect_rate
                .filter(|r| *r > 0.0)
                .map(|r| per_connection.mean / (r * window_s) * 100.0),
            gaps: reading.iter().map(|c| c.gaps).sum(),
            out_of_order: reading.iter().map(|c| c.out_of_order).sum(),
            lagged: reading.iter().map(|c| c.lagged).sum(),
            errors: reading.iter().map(|c| c.errors).sum(),
            per_connection,
        },
        latency: Latency::of(&stats.latency),
        rewind: (args.rewind > 0).then(|| (Latency::of(&stats.history), stats.history.len())),
        disconnects: Disconnects {
            reading: reading.iter().filter(|c| c.ended_in_run).count(),
            stalled: stalled.iter().filter(|c| c.ended_in_run).count(),
            reasons,
        },
        stalled: Stalled {
            clients: stalled.len(),
            ticks_before_stall: stalled.iter().map(|c| c.total_ticks).sum(),
        },
        server,
        client: ClientUse {
            cpu_pct: client_cpu,
            cpu_ns_per_msg: match (self_t0, self_t1) {
                (Some(a), Some(b)) if all_msgs > 0 => (b.cpu_s - a.cpu_s) * 1e9 / all_msgs as f64,
                _ => 0.0,
            },
            rss_kib: self_t1.map_or(0, |s| s.rss_kib),
        },
        machine: Machine {
            cpu_busy_pct,
            others_pct: others_pct.max(0.0),
            load_avg_1m,
        },
    })
}

/// One bench thread: opens its connections at the ramp pace and serves them until done.
fn thread_main(
    specs: Vec<Spec>,
    interval: Duration,
    ctl: Arc<Control>,
    target: Arc<Target>,
    max_pending: usize,
) -> anyhow::Result<ThreadStats> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime")?;
    let local = Rc::new(Local::new(ctl.clone(), target, max_pending));
    let set = LocalSet::new();
    set.block_on(&rt, {
        let local = local.clone();
        async move {
            let start = tokio::time::Instant::now();
            for (k, spec) in specs.into_iter().enumerate() {
                let at = start + interval * k as u32;
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = ctl.done.cancelled() => return,
                }
                tokio::task::spawn_local(conn::run(spec, local.clone()));
            }
            ctl.done.cancelled().await;
        }
    });
    // Dropping the set drops every connection (and its clone of `local`).
    drop(set);
    drop(rt);
    let local =
        Rc::try_unwrap(local).map_err(|_| anyhow::anyhow!("a connection outlived its runtime"))?;
    Ok(local.stats.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_clients_are_spread_evenly() {
        let picked: Vec<usize> = (0..20).filter(|&i| is_stalled(i, 0.1)).collect();
        assert_eq!(picked, [9, 19]);
        assert_eq!((0..1000).filter(|&i| is_stalled(i, 0.1)).count(), 100);
        assert!(!(0..10).any(|i| is_stalled(i, 0.0)));
        assert!((0..10).all(|i| is_stalled(i, 1.0)));
    }
}
