//! The connection table: every peer of the broker by id, one entry per connection.
//!
//! The one table both sides need: the registry walks it when a topic appears (who
//! subscribed to a pattern the new topic matches: the patterns live in each [`Peer`]),
//! and the keepalive sweeper walks it a few times per heartbeat interval. An entry is
//! 16 bytes (id and `Arc`), so a parked connection costs the table little.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Broker, Peer};

/// Lock 3 of the broker's lock order (see the module docs of `broker`).
#[derive(Debug, Default)]
pub(super) struct Peers {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    open: HashMap<u64, Arc<Peer>>,
    /// Set by [`Broker::close_peers`]: the server is shutting down.
    closed: bool,
}

impl Peers {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Broker {
    /// Adds a connection to the table, before it subscribes: a topic created later finds
    /// its subscribers here. False when the table was closed before (the server is
    /// shutting down): it is added, and the caller tells it so itself.
    pub fn connect(&self, peer: &Arc<Peer>) -> bool {
        let mut table = self.shared.peers.lock();
        table.open.insert(peer.id, peer.clone());
        !table.closed
    }

    /// Removes a connection from the table (its subscriptions go with [`Broker::disconnect`]).
    pub(super) fn forget_peer(&self, peer_id: u64) {
        self.shared.peers.lock().open.remove(&peer_id);
    }

    /// Calls `f` with every connection, the table locked (`f` must take no broker lock
    /// but a peer's outbox).
    pub fn each_peer(&self, mut f: impl FnMut(&Arc<Peer>)) {
        self.shared.peers.lock().open.values().for_each(&mut f);
    }

    /// Closes the table (a shutdown) and calls `f` with every connection in it; the
    /// ones that connect later learn it from [`Broker::connect`].
    pub fn close_peers(&self, mut f: impl FnMut(&Arc<Peer>)) {
        let mut table = self.shared.peers.lock();
        table.closed = true;
        table.open.values().for_each(&mut f);
    }

    /// How many connections are open.
    pub fn peer_count(&self) -> usize {
        self.shared.peers.lock().open.len()
    }
}
