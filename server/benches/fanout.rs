//! Broker fan-out in-process: one tick published to 10,000 msgpack subscribers, with
//! and without the writers' dequeue. No sockets: this is the user-space cost a publish
//! adds before any `writev`.
//!
//! `cargo bench -p tickcast-server --bench fanout`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickcast_server::bench_api::Fanout;

const SUBSCRIBERS: usize = 10_000;

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout_10k");
    // Deliveries, so criterion reports deliveries per second.
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    let mut f = Fanout::new(SUBSCRIBERS);
    group.bench_function("publish+drain", |b| {
        b.iter(|| {
            f.publish(101.0);
            f.drain()
        })
    });
    // Ten ticks queue per subscriber before the writers take them (a busy server).
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64 * 10));
    group.bench_function("10 publishes+drain", |b| {
        b.iter(|| {
            for i in 0..10 {
                f.publish(100.0 + f64::from(i));
            }
            f.drain()
        })
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
