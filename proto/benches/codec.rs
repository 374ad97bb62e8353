//! Encode and decode of one tick in both encodings.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use tickcast_proto::{Encoding, ServerMessage, Tick, decode_server, encode, encode_into};

fn tick() -> ServerMessage {
    ServerMessage::Tick(Tick {
        topic: "ticks.AAPL".into(),
        seq: 123_456,
        ts: 1_764_072_000_123_456_789,
        symbol: "AAPL".into(),
        price: 187.42,
        size: 300,
        bid: 187.41,
        ask: 187.43,
        volume: 12_345_600,
    })
}

fn codec(c: &mut Criterion) {
    let msg = tick();
    for encoding in Encoding::ALL {
        let name = encoding.subprotocol();
        let bytes = encode(encoding, &msg).expect("a tick encodes");
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        let mut buf = Vec::with_capacity(256);
        group.bench_function("encode_tick", |b| {
            b.iter(|| {
                buf.clear();
                encode_into(encoding, black_box(&msg), &mut buf).expect("a tick encodes");
            })
        });
        group.bench_function("decode_tick", |b| {
            b.iter(|| decode_server(encoding, black_box(&bytes)).expect("a tick decodes"))
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
