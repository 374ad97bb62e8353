//! Integration tests of tickcast-client: the subscriber and the publisher against a real
//! server (plain and TLS, certificates made with rcgen; history with `rewind`) and against
//! scripted fakes.

mod books;
mod books_live;
mod publisher;
mod rewind;
mod subscriber;
mod support;
mod tls;
