//! Topic and pattern parsing and matching on arbitrary strings.
//!
//! Never panics, and the matching is consistent: `covers` is sound (it is what keeps a
//! token scoped to `ticks.*` from subscribing to more), exact patterns match only their
//! own topic, and a parsed pattern keeps its text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickcast_proto::{MAX_TOPIC_BYTES, Pattern, validate_topic};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == b'\n').map(String::from_utf8_lossy);
    let (Some(a), Some(b), Some(t)) = (parts.next(), parts.next(), parts.next()) else {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = Pattern::parse(text);
            let _ = validate_topic(text);
        }
        return;
    };
    let topic_ok = validate_topic(&t).is_ok();
    if topic_ok {
        assert!(t.len() <= MAX_TOPIC_BYTES);
        let exact = Pattern::parse(&t).expect("a valid topic is a valid pattern");
        assert!(exact.is_exact());
        assert!(exact.matches(&t));
    }
    let (Ok(pa), Ok(pb)) = (Pattern::parse(&a), Pattern::parse(&b)) else {
        return;
    };
    assert_eq!(pa.as_str(), a);
    assert_eq!(pa.to_string(), a);
    assert!(pa.covers(&pa), "{a} covers itself");
    if pa.is_exact() {
        assert_eq!(validate_topic(&a), Ok(()), "an exact pattern is a topic");
    }
    if topic_ok {
        let exact = Pattern::parse(&t).expect("checked");
        assert_eq!(pa.matches(&t), pa.covers(&exact), "{a} vs topic {t}");
        // Soundness of covers: whatever b matches, a must match too.
        if pa.covers(&pb) && pb.matches(&t) {
            assert!(
                pa.matches(&t),
                "{a} covers {b}, {b} matches {t}, {a} does not"
            );
        }
        if pb.is_exact() && pa.matches(&t) && pb.matches(&t) {
            assert!(
                pa.covers(&pb),
                "{a} matches {t} = {b} but does not cover it"
            );
        }
    }
});
