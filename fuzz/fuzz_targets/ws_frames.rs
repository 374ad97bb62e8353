//! Arbitrary bytes sent by a client after a good WebSocket handshake, into the real
//! server (`tickcast_server::spawn` on loopback, in a background runtime): the connection's
//! frame reader, fragmentation, control frames, close handling, the decoder, subscribe /
//! list / publish handling and the rate limiter.
//!
//! The first byte picks the connection: bit 0 JSON (else MessagePack), bit 1 presents the
//! publish token, bit 2 sends the rest as is (else as well-masked frames built from it:
//! a header byte, a length byte, the payload; so that the fuzzer reaches the connection's
//! state machine, not only the header checks). After the input the client shuts its write
//! side, as a peer that is done does.
//!
//! Checked: no panic anywhere in the server (libFuzzer's panic hook aborts, tasks
//! included); the server ends the connection within 5 s; everything it sent is a
//! well-formed unmasked frame, data frames decode in the negotiated encoding, and the
//! last frame is a close with a code the server may send.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tickcast_proto::{Encoding, decode_server};

const PUBLISH_TOKEN: &str = "fuzz-publisher";

fn server() -> SocketAddr {
    static SERVER: OnceLock<(SocketAddr, tokio::runtime::Runtime, tickcast_server::Handle)> =
        OnceLock::new();
    let (addr, ..) = SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = tickcast_server::Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            simulator: None,
            max_message_bytes: 1024,
            max_subscriptions: 8,
            publish_token: Some(PUBLISH_TOKEN.into()),
            ..tickcast_server::Config::default()
        };
        let handle = rt
            .block_on(tickcast_server::spawn(config))
            .expect("server starts");
        (handle.addr(), rt, handle)
    });
    *addr
}

/// Builds masked frames (masking key 0: the payload reads as written) from `data`.
fn frames(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 2);
    while let [head, len, rest @ ..] = data {
        let n = usize::from(*len).min(rest.len());
        out.push(*head);
        if n < 126 {
            out.push(0x80 | n as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&rest[..n]);
        data = &rest[n..];
    }
    out
}

/// Checks what the server sent after the 101 head.
fn check_frames(mut bytes: &[u8], encoding: Encoding) {
    let mut last_close = None;
    while !bytes.is_empty() {
        assert!(last_close.is_none(), "frames after the close frame");
        assert!(bytes.len() >= 2, "truncated frame head");
        let (b0, b1) = (bytes[0], bytes[1]);
        assert_eq!(b0 & 0x70, 0, "reserved bits set by the server");
        assert_eq!(b0 & 0x80, 0x80, "the server sends whole messages");
        assert_eq!(b1 & 0x80, 0, "server frames must not be masked");
        let (len, head) = match b1 & 0x7f {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().expect("8")))
                    .expect("length"),
                10,
            ),
            n => (usize::from(n), 2),
        };
        assert!(bytes.len() >= head + len, "truncated frame");
        let payload = &bytes[head..head + len];
        match b0 & 0x0f {
            0x1 | 0x2 => {
                assert_eq!(b0 & 0x0f == 0x1, encoding == Encoding::Json, "frame type");
                if let Err(e) = decode_server(encoding, payload) {
                    panic!("the server sent a frame it cannot decode: {e}: {payload:?}");
                }
            }
            0x8 => {
                assert!(len == 0 || (2..=125).contains(&len), "close payload {len}");
                if len >= 2 {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    assert!(
                        matches!(code, 1000..=1003 | 1007..=1011 | 1013 | 3000..=4999),
                        "close code {code}"
                    );
                    assert!(std::str::from_utf8(&payload[2..]).is_ok(), "close reason");
                }
                last_close = Some(());
            }
            0x9 | 0xA => assert!(len <= 125, "control frame of {len} bytes"),
            op => panic!("the server sent opcode {op}"),
        }
        bytes = &bytes[head + len..];
    }
    assert!(
        last_close.is_some(),
        "the connection ended without a close frame"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let encoding = if mode & 1 == 1 {
        Encoding::Json
    } else {
        Encoding::MsgPack
    };
    let payload = if mode & 4 == 4 {
        body.to_vec()
    } else {
        frames(body)
    };
    let addr = server();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let auth = if mode & 2 == 2 {
        format!("Authorization: Bearer {PUBLISH_TOKEN}\r\n")
    } else {
        String::new()
    };
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {}\r\n{auth}\r\n",
        encoding.subprotocol()
    )
    .into_bytes();
    request.extend_from_slice(&payload);
    // The server may close (and reset) before taking everything: that is its right.
    let _ = stream.write_all(&request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut got = Vec::new();
    let clean = match stream.read_to_end(&mut got) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
        Err(e) => panic!(
            "the server did not end the connection: {e} (after {} bytes)",
            got.len()
        ),
    };
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    if got.is_empty() && payload.is_empty() {
        // A client that half-closes right after its request may get no answer at all:
        // hyper closes on EOF before it writes the 101 (`half_close` is off), now and then.
        return;
    }
    let head_end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP head")
        + 4;
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // After a reset the tail may be cut; check the frames on a clean end.
    if clean {
        check_frames(&got[head_end..], encoding);
    }
});
