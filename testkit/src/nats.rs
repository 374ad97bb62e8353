//! A `nats-server` child process on a free loopback port ([`NatsServer`]).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a `nats-server` may take to listen.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A `nats-server` on a free loopback port, killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    /// With JetStream: its store, kept across restarts, removed on drop.
    store: Option<PathBuf>,
}

impl NatsServer {
    /// Starts `bin` (from [`crate::nats_server_bin`]) and waits until it accepts connections.
    pub async fn start(bin: PathBuf) -> Self {
        Self::start_with(bin, false).await
    }

    /// Starts `bin` with JetStream on (`-js`, its store in a fresh temporary folder).
    pub async fn start_jetstream(bin: PathBuf) -> Self {
        Self::start_with(bin, true).await
    }

    async fn start_with(bin: PathBuf, jetstream: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let store = jetstream.then(|| {
            std::env::temp_dir().join(format!("tickcast-nats-{}-{port}", std::process::id()))
        });
        let mut server = Self {
            bin,
            port,
            child: None,
            store,
        };
        server.restart().await;
        server
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.kill();
        let mut command = Command::new(&self.bin);
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(store) = &self.store {
            command.arg("-js").arg("-sd").arg(store);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not listen on port {} within {START_LIMIT:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(store) = &self.store {
            let _ = std::fs::remove_dir_all(store);
        }
    }
}
