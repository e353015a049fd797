use proptest::prelude::*;
use sha2::Digest as _;

use super::*;

fn reference(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            u8::try_from(i % 256)
                .unwrap()
                .wrapping_mul(31)
                .wrapping_add(seed)
        })
        .collect()
}

#[test]
fn whole_messages_around_block_edges() {
    for n in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4096, 100_003] {
        let data = bytes(n, 7);
        let mut h = Sha256::new();
        h.update(&data);
        assert_eq!(h.finish(), reference(&data), "{n} bytes");
    }
}

#[test]
fn the_portable_and_the_ni_kernels_agree() {
    let data = bytes(64 * 37, 3);
    let (mut a, mut b) = (H0, H0);
    portable(&mut a, &data);
    compress(&mut b, &data);
    assert_eq!(a, b);
    let (mut c, mut d) = (H0, a);
    compress_both(&mut c, &mut d, &data);
    assert_eq!(c, a);
    let mut twice = a;
    portable(&mut twice, &data);
    assert_eq!(d, twice);
}

proptest! {
    /// A stream hashed in any pieces, with any run of it also hashed into a second state that
    /// starts with other bytes of its own, gives both what `sha2` gives: the shared path and
    /// the fallbacks (states at different offsets in a block) meet the same digests.
    #[test]
    fn both_states_match_sha2(
        prefix in 0usize..300,
        own in 0usize..200,
        shared in 0usize..2000,
        suffix in 0usize..200,
        pieces in proptest::collection::vec(1usize..150, 1..20),
    ) {
        let stream = bytes(prefix + shared + suffix, 1);
        let theirs = bytes(own, 2);
        let mut a = Sha256::new();
        let mut b = Sha256::new();
        a.update(&stream[..prefix]);
        b.update(&theirs);
        let mut at = prefix;
        let mut cut = pieces.iter().cycle();
        while at < prefix + shared {
            let n = (*cut.next().unwrap()).min(prefix + shared - at);
            update_both(&mut a, &mut b, &stream[at..at + n]);
            at += n;
        }
        a.update(&stream[at..]);
        let mut whole_b = theirs.clone();
        whole_b.extend_from_slice(&stream[prefix..prefix + shared]);
        prop_assert_eq!(a.finish(), reference(&stream));
        prop_assert_eq!(b.finish(), reference(&whole_b));
    }
}
