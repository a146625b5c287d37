//! SHA-256 and HMAC-SHA256, written for speed on wasm32 (no SHA instructions there): the 64 rounds are unrolled,
//! the message schedule is a rolling 16-word window kept in locals, and HMAC keys keep their hashed inner and
//! outer pad states so a signature costs only the message's own blocks plus one outer block.
//!
//! Checked against FIPS 180-4 and RFC 4231 vectors and, in property tests, against the RustCrypto crates.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

const INITIAL: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const BLOCK: usize = 64;

/// Hashes whole 64-byte blocks into `state`.
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for block in blocks.chunks_exact(BLOCK) {
        let mut w = [0u32; 16];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        let (sa, sb, sc, sd, se, sf, sg, sh) = (a, b, c, d, e, f, g, h);

        macro_rules! round {
            ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $k:expr, $w:expr) => {
                let t1 = $h
                    .wrapping_add($e.rotate_right(6) ^ $e.rotate_right(11) ^ $e.rotate_right(25))
                    .wrapping_add($g ^ ($e & ($f ^ $g)))
                    .wrapping_add($k)
                    .wrapping_add($w);
                let t2 = ($a.rotate_right(2) ^ $a.rotate_right(13) ^ $a.rotate_right(22))
                    .wrapping_add(($a & $b) | ($c & ($a | $b)));
                $d = $d.wrapping_add(t1);
                $h = t1.wrapping_add(t2);
            };
        }
        // Eight rounds with the working variables renamed instead of shuffled.
        macro_rules! eight {
            ($base:expr, $wi:expr) => {
                round!(a, b, c, d, e, f, g, h, K[$base], $wi($base));
                round!(h, a, b, c, d, e, f, g, K[$base + 1], $wi($base + 1));
                round!(g, h, a, b, c, d, e, f, K[$base + 2], $wi($base + 2));
                round!(f, g, h, a, b, c, d, e, K[$base + 3], $wi($base + 3));
                round!(e, f, g, h, a, b, c, d, K[$base + 4], $wi($base + 4));
                round!(d, e, f, g, h, a, b, c, K[$base + 5], $wi($base + 5));
                round!(c, d, e, f, g, h, a, b, K[$base + 6], $wi($base + 6));
                round!(b, c, d, e, f, g, h, a, K[$base + 7], $wi($base + 7));
            };
        }
        // Rounds 16..64 extend the schedule in place over the 16-word window.
        macro_rules! schedule {
            ($i:expr) => {{
                let i: usize = $i;
                let w15 = w[(i + 1) & 15];
                let w2 = w[(i + 14) & 15];
                let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
                let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
                w[i & 15] = w[i & 15].wrapping_add(s0).wrapping_add(w[(i + 9) & 15]).wrapping_add(s1);
                w[i & 15]
            }};
        }
        let first = |i: usize| w[i];
        eight!(0, first);
        eight!(8, first);
        eight!(16, |i| schedule!(i));
        eight!(24, |i| schedule!(i));
        eight!(32, |i| schedule!(i));
        eight!(40, |i| schedule!(i));
        eight!(48, |i| schedule!(i));
        eight!(56, |i| schedule!(i));

        a = a.wrapping_add(sa);
        b = b.wrapping_add(sb);
        c = c.wrapping_add(sc);
        d = d.wrapping_add(sd);
        e = e.wrapping_add(se);
        f = f.wrapping_add(sf);
        g = g.wrapping_add(sg);
        h = h.wrapping_add(sh);
    }
    *state = [a, b, c, d, e, f, g, h];
}

/// An incremental SHA-256.
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    buffer: [u8; BLOCK],
    buffered: usize,
    length: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub const fn new() -> Self {
        Sha256 { state: INITIAL, buffer: [0; BLOCK], buffered: 0, length: 0 }
    }

    /// Continues from a state reached after `length` bytes (a whole number of blocks): HMAC's precomputed pads.
    const fn resume(state: [u32; 8], length: u64) -> Self {
        Sha256 { state, buffer: [0; BLOCK], buffered: 0, length }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = (BLOCK - self.buffered).min(data.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < BLOCK {
                return;
            }
            let block = self.buffer;
            compress(&mut self.state, &block);
            self.buffered = 0;
        }
        let whole = data.len() - data.len() % BLOCK;
        if whole > 0 {
            compress(&mut self.state, &data[..whole]);
        }
        let rest = &data[whole..];
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.length.wrapping_mul(8);
        let mut tail = [0u8; BLOCK * 2];
        tail[..self.buffered].copy_from_slice(&self.buffer[..self.buffered]);
        tail[self.buffered] = 0x80;
        let total = if self.buffered < BLOCK - 8 { BLOCK } else { BLOCK * 2 };
        tail[total - 8..total].copy_from_slice(&bits.to_be_bytes());
        compress(&mut self.state, &tail[..total]);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    pub fn digest(data: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(data);
        h.finalize()
    }
}

/// An HMAC-SHA256 key reduced to the hash states after its inner and outer pad blocks.
#[derive(Clone)]
pub struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    pub fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| {
            let mut padded = block;
            padded.iter_mut().for_each(|b| *b ^= byte);
            let mut state = INITIAL;
            compress(&mut state, &padded);
            state
        };
        HmacKey { inner: pad(0x36), outer: pad(0x5c) }
    }

    /// A running MAC over pieces of a message.
    pub fn start(&self) -> Hmac<'_> {
        Hmac { key: self, inner: Sha256::resume(self.inner, BLOCK as u64) }
    }

    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut m = self.start();
        m.update(data);
        m.finalize()
    }
}

/// An HMAC in progress.
pub struct Hmac<'k> {
    key: &'k HmacKey,
    inner: Sha256,
}

impl Hmac<'_> {
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    pub fn finalize(self) -> [u8; 32] {
        let inner = self.inner.finalize();
        let mut outer = Sha256::resume(self.key.outer, BLOCK as u64);
        outer.update(&inner);
        outer.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::hex;

    #[test]
    fn fips_180_vectors() {
        assert_eq!(hex(&Sha256::digest(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex(&Sha256::digest(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            hex(&Sha256::digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let million = vec![b'a'; 1_000_000];
        assert_eq!(hex(&Sha256::digest(&million)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }

    #[test]
    fn rfc_4231_vectors() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, expected) in cases {
            assert_eq!(hex(&HmacKey::new(key).mac(data)), expected);
        }
    }

    mod properties {
        use super::super::*;
        use hmac::Mac;
        use proptest::prelude::*;
        use sha2::Digest;

        proptest! {
            #[test]
            fn matches_rustcrypto_in_any_split(data in proptest::collection::vec(any::<u8>(), 0..700),
                                               split in any::<prop::sample::Index>()) {
                let at = split.index(data.len() + 1);
                let mut h = Sha256::new();
                h.update(&data[..at]);
                h.update(&data[at..]);
                let reference: [u8; 32] = sha2::Sha256::digest(&data).into();
                prop_assert_eq!(h.finalize(), reference);
            }

            #[test]
            fn hmac_matches_rustcrypto(key in proptest::collection::vec(any::<u8>(), 0..200),
                                       data in proptest::collection::vec(any::<u8>(), 0..300)) {
                let mut reference = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
                reference.update(&data);
                let reference: [u8; 32] = reference.finalize().into_bytes().into();
                prop_assert_eq!(HmacKey::new(&key).mac(&data), reference);
            }
        }
    }
}
