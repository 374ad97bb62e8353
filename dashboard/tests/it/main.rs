//! Integration tests of tickcast-dashboard: the shared client against a real (and a
//! scripted) server, `tickcast-sub` end to end, and `tickcast-dash` in tmux.

mod client;
mod dash;
mod sub;
mod support;
