//! SHA-256 of a layer's stream and, in the same pass, of each file in it.
//!
//! A tar stream puts every file's content at a multiple of 512 bytes, so while a file's bytes
//! go by, the layer's hash and the file's hash take the very same 64-byte blocks. The message
//! schedule of a block is then computed once for both, and with the x86-64 SHA extensions the
//! two states' rounds interleave: the rounds of one state wait on their own results, so the
//! second state's fill the gaps, and hashing a stream and its files costs about what hashing
//! the stream alone does (BENCHMARKS.md, tenth round). No crate does this (the `sha2` crate
//! hashes one message at a time), hence this one; it holds ocidiff's only `unsafe`, the
//! intrinsics, behind a safe API checked against `sha2`.

#[cfg(target_arch = "x86_64")]
mod ni;

/// A SHA-256 computation, fed in pieces.
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    /// Bytes of the block being filled.
    block: [u8; 64],
    filled: usize,
    /// Bytes hashed so far.
    len: u64,
}

const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

impl Sha256 {
    /// Nothing hashed yet.
    #[must_use]
    pub fn new() -> Sha256 {
        Sha256 {
            state: H0,
            block: [0; 64],
            filled: 0,
            len: 0,
        }
    }

    /// Hashes `bytes` after what came before.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.filled > 0 {
            let take = (64 - self.filled).min(bytes.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled < 64 {
                return;
            }
            compress(&mut self.state, &self.block.clone());
            self.filled = 0;
        }
        let whole = bytes.len() / 64 * 64;
        compress(&mut self.state, &bytes[..whole]);
        let rest = &bytes[whole..];
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// The digest of everything hashed.
    #[must_use]
    pub fn finish(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut tail = [0u8; 128];
        tail[..self.filled].copy_from_slice(&self.block[..self.filled]);
        tail[self.filled] = 0x80;
        let end = if self.filled < 56 { 64 } else { 128 };
        tail[end - 8..end].copy_from_slice(&bits.to_be_bytes());
        compress(&mut self.state, &tail[..end]);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Hashes `bytes` after what came before into both `a` and `b`. Where both are at the start
/// of a block, each block's schedule is shared and (with [`shares_rounds`]) both states advance
/// together; anywhere else each hashes on its own, with the same result.
pub fn update_both(a: &mut Sha256, b: &mut Sha256, mut bytes: &[u8]) {
    if a.filled != b.filled {
        a.update(bytes);
        b.update(bytes);
        return;
    }
    if a.filled > 0 {
        // Each completes a block holding bytes of its own.
        let head = (64 - a.filled).min(bytes.len());
        a.update(&bytes[..head]);
        b.update(&bytes[..head]);
        bytes = &bytes[head..];
        if bytes.is_empty() {
            return;
        }
    }
    let whole = bytes.len() / 64 * 64;
    compress_both(&mut a.state, &mut b.state, &bytes[..whole]);
    a.len += whole as u64;
    b.len += whole as u64;
    let rest = &bytes[whole..];
    for h in [a, b] {
        h.block[..rest.len()].copy_from_slice(rest);
        h.filled = rest.len();
        h.len += rest.len() as u64;
    }
}

/// Whether [`update_both`] costs about one hash rather than two on this CPU (x86-64 with the
/// SHA extensions); elsewhere each state is compressed on its own, by the `sha2` crate.
#[must_use]
pub fn shares_rounds() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        ni::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compresses whole 64-byte `blocks` into `state`.
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    if blocks.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if ni::available() {
        ni::compress(state, blocks);
        return;
    }
    portable(state, blocks);
}

fn compress_both(a: &mut [u32; 8], b: &mut [u32; 8], blocks: &[u8]) {
    if blocks.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if ni::available() {
        ni::compress_both(a, b, blocks);
        return;
    }
    portable(a, blocks);
    portable(b, blocks);
}

fn portable(state: &mut [u32; 8], blocks: &[u8]) {
    use sha2::digest::generic_array::GenericArray;
    for block in blocks.chunks_exact(64) {
        sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

#[cfg(test)]
mod tests;
