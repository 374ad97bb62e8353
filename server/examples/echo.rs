//! An echo server on the real tickcast connection code, for Autobahn|Testsuite:
//! `cargo run -p tickcast-server --example echo -- 127.0.0.1:9001`.
//! Every message is sent back as received; the handshake, frame checks, fragmentation,
//! control frames and close handling are exactly those of `tickcast-server`.

use std::time::Duration;

use tickcast_server::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned())
        .parse()?;
    let config = Config {
        listen,
        simulator: None,
        echo: true,
        // Autobahn sends messages of up to 16 MiB (cases 9.x).
        max_message_bytes: 64 << 20,
        queue_bytes: 128 << 20,
        heartbeat: Duration::from_secs(60),
        // Autobahn sends 1,000-message bursts (cases 9.7/9.8): no inbound rate limit.
        max_inbound_rate: 0,
        ..Config::default()
    };
    let server = tickcast_server::spawn(config).await?;
    println!("listening on {}", server.ws_url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
