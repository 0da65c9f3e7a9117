//! Deterministic damage for robustness tests: the same seed gives the same inputs, so a failure
//! reproduces from the seed it prints.

/// A small deterministic generator (xorshift64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (zero, which xorshift cannot leave, is taken as one).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Bytes that parsers of text formats care about.
const SPECIAL_BYTES: [u8; 9] = [b'\n', b'"', b'\\', b'|', b'=', b'[', b'{', 0, 0xff];

/// `input` damaged one to eight times: a byte flipped, the rest cut off, a piece repeated, a piece of
/// a `donors` input spliced in, a special byte inserted, or a byte removed.
pub fn bytes(rng: &mut Rng, input: &[u8], donors: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len().max(1));
        match rng.below(6) {
            0 if !out.is_empty() => out[at] = rng.next_u64() as u8,
            1 => out.truncate(at),
            2 if !out.is_empty() => {
                let end = (at + rng.below(64)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            3 if !donors.is_empty() => {
                let donor = &donors[rng.below(donors.len())];
                let start = rng.below(donor.len());
                let end = (start + rng.below(200)).min(donor.len());
                let at = at.min(out.len());
                out.splice(at..at, donor[start..end].iter().copied());
            }
            4 => out.insert(
                at.min(out.len()),
                SPECIAL_BYTES[rng.below(SPECIAL_BYTES.len())],
            ),
            _ if !out.is_empty() => {
                out.remove(at.min(out.len() - 1));
            }
            _ => {}
        }
    }
    out
}
