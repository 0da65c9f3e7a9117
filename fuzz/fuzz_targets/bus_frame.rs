#![no_main]
//! Fuzz the bus's frame decoding: any message a worker fetches (damaged in flight, written by
//! something else on the subject) must decode to a frame or be refused with a reason, never panic or
//! allocate past the limit. The bytes are tried as they are (a compressed frame) and compressed (so
//! that the header and the events behind the compression are reached too); a frame that decodes
//! encodes and decodes to itself.

use libfuzzer_sys::fuzz_target;
use secops_bus::Frame;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let compressed = zstd::bulk::compress(data, 1).unwrap_or_default();
    for payload in [data, &compressed[..]] {
        if let Ok(frame) = Frame::decode(payload, LIMIT) {
            let again = frame.encode().expect("a decoded frame encodes");
            assert_eq!(Frame::decode(&again, LIMIT).ok().as_ref(), Some(&frame));
        }
    }
});
