//! Events generated per second on one core (the target: at least 5 million
//! ticks/s), with order books on too, plus the cost of encoding them as the binary does.
//!
//! `cargo bench -p tickcast-simulator --bench market -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickcast_simulator::{
    Arrivals, Config, Format, Halts, Market, Model, Sink, Universe, WriteSink,
};

/// Events per measured iteration.
const BATCH: u64 = 100_000;

fn configs() -> Vec<(&'static str, Config)> {
    vec![
        (
            "default (50 equities, stochastic vol, Poisson)",
            Config::default(),
        ),
        (
            "gbm, constant arrivals",
            Config {
                model: Model::Gbm,
                arrivals: Arrivals::Constant,
                ..Config::default()
            },
        ),
        (
            // About one event in five is a trade: a change follows each, order flow
            // adds three more per trade on average.
            "default + order books",
            Config {
                books: true,
                ..Config::default()
            },
        ),
        (
            "5000 synthetic symbols, jumps, halts",
            Config {
                universe: Universe::synthetic(5000),
                jumps: true,
                halts: Halts::random(),
                rate: 100_000.0,
                ..Config::default()
            },
        ),
    ]
}

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(BATCH));
    for (name, config) in configs() {
        let mut market = Market::new(config).expect("valid config");
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    black_box(market.next());
                }
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate+encode");
    group.throughput(Throughput::Elements(BATCH));
    for format in [Format::Jsonl, Format::Msgpack] {
        let mut market = Market::new(Config::default()).expect("valid config");
        let mut sink = WriteSink::new(std::io::sink(), format);
        group.bench_function(format!("{format:?}"), |b| {
            b.iter(|| {
                for event in market.by_ref().take(BATCH as usize) {
                    sink.send(event).expect("io::sink never fails");
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, generate, encode);
criterion_main!(benches);
