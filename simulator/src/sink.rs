//! Where events go: the [`Sink`] seam (stdout today; a WebSocket publisher or NATS later)
//! and the two byte encodings `tickcast-sim` writes.

use std::io::{self, Write};

use tickcast_proto::{EncodeError, Encoding};

use crate::event::Event;

/// A destination for events. Implement it for a new transport (a WebSocket publisher, a
/// NATS connection) and every driver can feed it.
pub trait Sink {
    type Error;
    /// Delivers one event.
    fn send(&mut self, event: Event) -> Result<(), Self::Error>;
    /// Pushes out anything buffered; drivers call it after each batch of due events.
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    type Error = S::Error;
    fn send(&mut self, event: Event) -> Result<(), Self::Error> {
        (**self).send(event)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        (**self).flush()
    }
}

/// Collecting into a vector never fails (handy in tests).
impl Sink for Vec<Event> {
    type Error = std::convert::Infallible;
    fn send(&mut self, event: Event) -> Result<(), Self::Error> {
        self.push(event);
        Ok(())
    }
}

/// Byte formats of an event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Format {
    /// One wire JSON map per line (`{"type":"tick",...}`), the `tickcast.v1.json` encoding.
    #[default]
    Jsonl,
    /// Each message as a big-endian `u32` byte length followed by the wire MessagePack map.
    Msgpack,
}

/// Appends one event in `format` to `out`. Book changes append nothing: they have no wire
/// message of their own (see [`Event::into_message`]).
pub fn encode_event(format: Format, event: Event, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let Some(msg) = event.into_message() else {
        return Ok(());
    };
    match format {
        Format::Jsonl => {
            tickcast_proto::encode_into(Encoding::Json, &msg, out)?;
            out.push(b'\n');
        }
        Format::Msgpack => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            tickcast_proto::encode_into(Encoding::MsgPack, &msg, out)?;
            let len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
            out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

/// Why a [`WriteSink`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("write failed")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl SinkError {
    /// True when the reader went away (`| head`): a normal end, not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Encodes events onto a byte stream (wrap files and stdout in a `BufWriter`).
#[derive(Debug)]
pub struct WriteSink<W> {
    out: W,
    format: Format,
    buf: Vec<u8>,
}

impl<W: Write> WriteSink<W> {
    pub fn new(out: W, format: Format) -> Self {
        Self {
            out,
            format,
            buf: Vec::with_capacity(256),
        }
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for WriteSink<W> {
    type Error = SinkError;

    /// Writes a trade or a status; skips a book change (nothing to encode).
    fn send(&mut self, event: Event) -> Result<(), SinkError> {
        self.buf.clear();
        encode_event(self.format, event, &mut self.buf)?;
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.out.flush()?)
    }
}
