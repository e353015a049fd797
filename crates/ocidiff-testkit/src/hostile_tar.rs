//! Hostile tar streams from a seed: headers in every format with fields that parse, almost
//! parse or do not, PAX records framed right and wrong, GNU long names and sparse maps, data
//! sections that disagree with their sizes, stray zero blocks, truncations. For tests that
//! hold a tar reader to Go's `archive/tar` entry by entry.

// Truncating random numbers into bytes and lengths, and reading bytes as signed, is the point.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

/// Deterministic randomness (xorshift), so a failing seed can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; the same seed gives the same sequence.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n.max(1)
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// One of `items`, uniformly; panics when it is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const TYPEFLAGS: &[u8] = b"\x0001234567xgLKSVMNDAZ5500";
const NAMES: &[&[u8]] = &[
    b"a",
    b"dir/",
    b"dir/file",
    b"./a",
    b"/abs",
    b"../up",
    b"a//b",
    b".wh.a",
    b"dir/.wh..wh..opq",
    b"caf\xc3\xa9",
    b"bad\xff\xfe",
    b"with\0nul",
    b"",
    b"trailing/",
];
const PAX_KEYS: &[&str] = &[
    "path",
    "linkpath",
    "size",
    "uid",
    "gid",
    "uname",
    "gname",
    "mtime",
    "atime",
    "ctime",
    "SCHILY.xattr.user.a",
    "SCHILY.xattr.security.capability",
    "GNU.sparse.major",
    "GNU.sparse.minor",
    "GNU.sparse.name",
    "GNU.sparse.size",
    "GNU.sparse.realsize",
    "GNU.sparse.numblocks",
    "GNU.sparse.map",
    "GNU.sparse.offset",
    "GNU.sparse.numbytes",
    "comment",
    "LIBARCHIVE.creationtime",
    "",
    "a=b",
    "k\0",
];
const PAX_VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "1000",
    "-1",
    "+5",
    "007",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "1.5",
    "-1.25",
    "1.",
    ".5",
    "x",
    "name",
    "dir/file",
    "0,10,20,5",
    "2,3",
    "1,2,3",
    "with\0nul",
    "1234567890.123456789123",
];

fn octal_field(rng: &mut Rng, field: &mut [u8], value: u64) {
    let n = field.len();
    match rng.below(12) {
        // The usual: zero-padded octal and a NUL.
        0..=6 => {
            let s = format!("{value:0width$o}", width = n - 1);
            let s = &s.as_bytes()[s.len().saturating_sub(n - 1)..];
            field[..s.len()].copy_from_slice(s);
            field[s.len()..].fill(0);
        }
        // Space padding, as old tars wrote.
        7 => {
            let s = format!("{value:>width$o} ", width = n - 2);
            let s = &s.as_bytes()[s.len().saturating_sub(n)..];
            field[..s.len()].copy_from_slice(s);
        }
        // No terminator at all.
        8 => {
            let s = format!("{value:0n$o}");
            let s = &s.as_bytes()[s.len().saturating_sub(n)..];
            field.copy_from_slice(s);
        }
        // Base-256, positive or negative.
        9 => {
            let v = if rng.one_in(3) {
                (value as i64).wrapping_neg()
            } else {
                value as i64
            };
            let bytes = v.to_be_bytes();
            field.fill(if v < 0 { 0xff } else { 0 });
            let k = n.min(8);
            field[n - k..].copy_from_slice(&bytes[8 - k..]);
            field[0] |= 0x80;
        }
        // Something that is not a number.
        10 => {
            let junk: &[&[u8]] = &[b"+7", b"8", b"0x1", b" 1 2", b"\x80\x80\x80", b"-1"];
            let j = rng.pick(junk);
            field.fill(0);
            let k = j.len().min(n);
            field[..k].copy_from_slice(&j[..k]);
        }
        _ => field.fill(0),
    }
}

fn checksum(h: &mut [u8; 512], rng: &mut Rng) {
    h[148..156].fill(b' ');
    let unsigned: i64 = h.iter().map(|&c| i64::from(c)).sum();
    let signed: i64 = h.iter().map(|&c| i64::from(c as i8)).sum();
    let value = match rng.below(20) {
        0 => signed,
        1 => unsigned + 1,
        _ => unsigned,
    };
    let s = format!("{:06o}\0 ", value.rem_euclid(1 << 18));
    h[148..156].copy_from_slice(s.as_bytes());
}

/// One header block with fields drawn from `rng`; `size` goes into the size field.
pub fn header(rng: &mut Rng, name: &[u8], flag: u8, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    {
        let v = *rng.pick(&[0o644, 0o755, 0o4755, 0o100_644, 0o40755]);
        octal_field(rng, &mut h[100..108], v);
    }
    {
        let v = *rng.pick(&[0, 1000, 65534, 0o7_777_777]);
        octal_field(rng, &mut h[108..116], v);
    }
    {
        let v = *rng.pick(&[0, 1000, 65534]);
        octal_field(rng, &mut h[116..124], v);
    }
    octal_field(rng, &mut h[124..136], size);
    {
        let v = *rng.pick(&[0, 1_700_000_000, 0o77_777_777_777]);
        octal_field(rng, &mut h[136..148], v);
    }
    h[156] = flag;
    if rng.one_in(3) {
        let link = *rng.pick(NAMES);
        h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    }
    match rng.below(10) {
        0 => {}
        1 => {
            h[257..263].copy_from_slice(b"ustar ");
            h[263..265].copy_from_slice(b" \0");
        }
        2 => {
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"xx");
        }
        3 => {
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[508..512].copy_from_slice(b"tar\0");
        }
        _ => {
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
        }
    }
    if rng.one_in(2) {
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
    }
    if rng.one_in(4) {
        {
            let v = rng.below(300);
            octal_field(rng, &mut h[329..337], v);
        }
        {
            let v = rng.below(300);
            octal_field(rng, &mut h[337..345], v);
        }
    }
    match rng.below(6) {
        0 => {
            let p = *rng.pick(&[&b"prefix"[..], b"a/b", b"\xff", b"x"]);
            h[345..345 + p.len()].copy_from_slice(p);
        }
        1 => {
            // GNU atime/ctime (or garbage where GNU keeps them).
            {
                let v = rng.below(1 << 30);
                octal_field(rng, &mut h[345..357], v);
            }
            {
                let v = rng.below(1 << 30);
                octal_field(rng, &mut h[357..369], v);
            }
        }
        2 if flag == b'S' => {
            // An old GNU sparse map: up to four entries, the real size, maybe extended.
            for i in 0..rng.below(5) as usize {
                let off = 386 + i * 24;
                let v = rng.below(64) * 512;
                octal_field(rng, &mut h[off..off + 12], v);
                let v = rng.below(3) * 512;
                octal_field(rng, &mut h[off + 12..off + 24], v);
            }
            h[482] = u8::from(rng.one_in(4));
            {
                let v = rng.below(1 << 16);
                octal_field(rng, &mut h[483..495], v);
            }
        }
        _ => {}
    }
    checksum(&mut h, rng);
    h
}

fn pax_payload(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(6) {
        let key = *rng.pick(PAX_KEYS);
        let value = *rng.pick(PAX_VALUES);
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        let framed = match rng.below(12) {
            0 => format!("{}{body}", len + 1),
            1 => format!("{}{body}", len - 1),
            2 => format!("+{}{body}", len + 1),
            3 => format!("{len}{}", body.trim_end_matches('\n')) + "\r",
            4 => format!("0{}{body}", len + 1),
            _ => format!("{len}{body}"),
        };
        out.extend_from_slice(framed.as_bytes());
    }
    out
}

fn push_data(rng: &mut Rng, out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    if !rng.one_in(15) {
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
}

/// A hostile tar stream from `seed`.
pub fn stream(seed: u64) -> Vec<u8> {
    const MAPS: [&[u8]; 5] = [
        b"1\n512\n512\n",
        b"2\n0\n10\n1024\n5\n",
        b"-1\n",
        b"1\n512\n",
        b"x\n",
    ];
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for _ in 0..=rng.below(6) {
        match rng.below(12) {
            // A PAX header (local or global), then usually an entry.
            0..=2 => {
                let payload = pax_payload(&mut rng);
                let flag = if rng.one_in(5) { b'g' } else { b'x' };
                let declared = match rng.below(8) {
                    0 => payload.len() as u64 + 7,
                    1 => (payload.len() as u64).saturating_sub(3),
                    _ => payload.len() as u64,
                };
                out.extend_from_slice(&header(&mut rng, b"PaxHeaders/x", flag, declared));
                push_data(&mut rng, &mut out, &payload);
            }
            // A GNU long name or long link.
            3 => {
                let mut long = b"long/".repeat(1 + rng.below(40) as usize);
                if rng.one_in(3) {
                    long.push(0);
                    long.extend_from_slice(b"after-nul");
                }
                let flag = if rng.one_in(2) { b'L' } else { b'K' };
                out.extend_from_slice(&header(&mut rng, b"././@LongLink", flag, long.len() as u64));
                push_data(&mut rng, &mut out, &long);
            }
            // A GNU 1.0 sparse map at the start of the data section.
            4 => {
                let pax =
                    b"22 GNU.sparse.major=1\n22 GNU.sparse.minor=0\n30 GNU.sparse.realsize=2048\n";
                out.extend_from_slice(&header(&mut rng, b"x", b'x', pax.len() as u64));
                push_data(&mut rng, &mut out, pax);
                let map = rng.pick(&MAPS);
                let mut section = map.to_vec();
                section.resize(512, 0);
                section.extend(std::iter::repeat_n(b'd', rng.below(1100) as usize));
                out.extend_from_slice(&header(&mut rng, b"sparse", b'0', section.len() as u64));
                push_data(&mut rng, &mut out, &section);
            }
            // Stray zero blocks.
            5 => out.extend(std::iter::repeat_n(0u8, 512 * (1 + rng.below(2) as usize))),
            // An ordinary entry of any type.
            _ => {
                let name = rng.pick(NAMES).to_vec();
                let flag = *rng.pick(TYPEFLAGS);
                let len = *rng.pick(&[0usize, 1, 5, 511, 512, 513, 1100]);
                let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31)).collect();
                let declared = match rng.below(8) {
                    0 => len as u64 + 512,
                    1 => (len as u64).saturating_sub(1),
                    2 => 1024,
                    _ => len as u64,
                };
                out.extend_from_slice(&header(&mut rng, &name, flag, declared));
                push_data(&mut rng, &mut out, &data);
            }
        }
    }
    match rng.below(8) {
        0 => {}
        1 => out.extend_from_slice(&[0u8; 512]),
        2 => {
            out.extend_from_slice(&[0u8; 1024]);
            out.extend_from_slice(b"trailing garbage");
        }
        _ => out.extend_from_slice(&[0u8; 1024]),
    }
    if rng.one_in(6) && !out.is_empty() {
        let cut = rng.below(out.len() as u64) as usize;
        out.truncate(cut);
    }
    for _ in 0..rng.below(3) {
        if !out.is_empty() && rng.one_in(2) {
            let i = rng.below(out.len() as u64) as usize;
            out[i] = rng.bits() as u8;
        }
    }
    out
}
