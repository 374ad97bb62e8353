//! A `nats-server` child process on a free loopback port ([`NatsServer`]), and three of
//! them routed into one JetStream cluster ([`NatsCluster`]).

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
    /// More arguments (a cluster member's name, cluster port and routes).
    extra: Vec<String>,
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
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
        let mut server = Self::new(bin, free_port(), jetstream, Vec::new());
        server.restart().await;
        server
    }

    fn new(bin: PathBuf, port: u16, jetstream: bool, extra: Vec<String>) -> Self {
        let store = jetstream.then(|| {
            std::env::temp_dir().join(format!("tickcast-nats-{}-{port}", std::process::id()))
        });
        Self {
            bin,
            port,
            child: None,
            store,
            extra,
        }
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
        command.args(&self.extra);
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

/// Three `nats-server`s with JetStream, routed into one cluster (`tickcast`), as a
/// deployment runs them: a stream replicated on all three outlives any one of them.
#[derive(Debug)]
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts three members of `bin` and waits until each accepts connections (JetStream
    /// elects its leader a moment later: a client's first request may have to retry).
    pub async fn start(bin: PathBuf) -> Self {
        let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes = cluster_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers: Vec<NatsServer> = cluster_ports
            .iter()
            .enumerate()
            .map(|(i, cluster_port)| {
                let extra = vec![
                    "--server_name".to_owned(),
                    format!("n{}", i + 1),
                    "--cluster_name".to_owned(),
                    "tickcast".to_owned(),
                    "--cluster".to_owned(),
                    format!("nats://127.0.0.1:{cluster_port}"),
                    "--routes".to_owned(),
                    routes.clone(),
                ];
                NatsServer::new(bin.clone(), free_port(), true, extra)
            })
            .collect();
        for server in &mut servers {
            server.restart().await;
        }
        Self { servers }
    }

    /// Every member's client URL, comma-separated (what a node's `--broker` may take).
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}
