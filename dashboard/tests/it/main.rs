//! Integration tests of tickcast-dashboard: `tickcast-sub` end to end, and `tickcast-dash`
//! in tmux. (The client they share is tested in the tickcast-client crate.)

mod dash;
mod sub;
mod support;
