//! Integration tests of `tickcast-proto`: the examples in PROTOCOL.md against the codec,
//! round trips of every message in both encodings, and how broken input is classified.

mod decode_errors;
mod doc_examples;
mod round_trip;
mod strategies;
