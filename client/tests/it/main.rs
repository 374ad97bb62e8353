//! Integration tests of tickcast-client: the subscriber and the publisher against a real
//! server (plain and TLS, certificates made with rcgen) and against scripted fakes.

mod publisher;
mod subscriber;
mod support;
mod tls;
