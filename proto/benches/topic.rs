//! Matching topics against 10,000 subscription patterns: what the broker does when a
//! topic is created (every client's patterns against the new name). A publish never
//! matches patterns; each topic keeps its resolved subscriber list.
//!
//! `cargo bench -p tickcast-proto --bench topic`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickcast_proto::Pattern;

const PATTERNS: usize = 10_000;

/// A realistic mix: exact ticks topics, per-symbol bars, and a few wildcards.
fn patterns() -> Vec<String> {
    (0..PATTERNS)
        .map(|i| match i % 10 {
            0 => "ticks.*".to_owned(),
            1 => format!("bars.*.SYN{:04}", i % 5000),
            2 => "bars.>".to_owned(),
            3 => format!("bars.1m.SYN{:04}", i % 5000),
            _ => format!("ticks.SYN{:04}", i % 5000),
        })
        .collect()
}

fn topic(c: &mut Criterion) {
    let texts = patterns();
    let parsed: Vec<Pattern> = texts
        .iter()
        .map(|t| Pattern::parse(t).expect("valid pattern"))
        .collect();
    let mut group = c.benchmark_group("patterns_10k");
    group.throughput(Throughput::Elements(PATTERNS as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter(|t| Pattern::parse(black_box(t)).is_ok())
                .count()
        })
    });
    for name in ["ticks.SYN0042", "bars.1m.SYN0042", "status.none"] {
        group.bench_function(format!("match {name}"), |b| {
            b.iter(|| parsed.iter().filter(|p| p.matches(black_box(name))).count())
        });
    }
    group.finish();
}

criterion_group!(benches, topic);
criterion_main!(benches);
