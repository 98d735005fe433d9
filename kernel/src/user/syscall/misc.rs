//! `getrandom`, `uname`, and the signal calls a C library makes at start-up
//! (accepted; this kernel delivers no signals).
use super::errno::EINVAL;
use super::{Args, Result};
use crate::user::uaccess;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::VirtAddr;

const GRND_NONBLOCK: u64 = 1;
const GRND_RANDOM: u64 = 2;
const GRND_INSECURE: u64 = 4;

static STATE: AtomicU64 = AtomicU64::new(0);

/// The next 64 bits: RNDR where present, else a SplitMix64 stream seeded
/// from the counter and stirred with it on every call. Not cryptographic
/// without RNDR (documented in the README).
fn next() -> u64 {
    if let Some(v) = crate::arch::cpuinfo::rndr() {
        return v;
    }
    let stir = drivers::timer::counter();
    let mut z = STATE
        .fetch_add(
            0x9e37_79b9_7f4a_7c15 ^ stir.rotate_left(17),
            Ordering::Relaxed,
        )
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `out` from the kernel's random stream (see `next`).
pub fn fill_random(out: &mut [u8]) {
    for chunk in out.chunks_mut(8) {
        let v = next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// Copies the longest prefix of `bytes` that `addr` takes, page by page;
/// returns its length.
fn copy_what_fits(addr: VirtAddr, bytes: &[u8]) -> u64 {
    let mut done = 0usize;
    while done < bytes.len() {
        let at = addr.add(done as u64);
        let n = ((mm::PAGE_SIZE - at.page_offset()) as usize).min(bytes.len() - done);
        if uaccess::copy_to(at, &bytes[done..done + n]).is_err() {
            break;
        }
        done += n;
    }
    done as u64
}

/// `getrandom(buf, len, flags)`: never blocks; a partly writable buffer
/// gets what fits (`-EFAULT` only if nothing was copied).
pub fn getrandom(a: Args) -> Result {
    let [buf, len, flags, ..] = a.0;
    let flags = u64::from(flags as u32);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(EINVAL);
    }
    let buf = uaccess::user_range(buf, len.min(0x01ff_ffff))?;
    let len = buf.len();
    let mut chunk = [0u8; 256];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        fill_random(&mut chunk[..n]);
        // A buffer that ends part-way (unmapped, read-only) gets what fits,
        // as on Linux: EFAULT only if nothing was copied.
        let at = buf.start.add(done);
        if let Err(e) = uaccess::copy_to(at, &chunk[..n]) {
            let copied = copy_what_fits(at, &chunk[..n]);
            return if done + copied == 0 {
                Err(e)
            } else {
                Ok(done + copied)
            };
        }
        done += n as u64;
    }
    Ok(done)
}

/// `uname(buf)`: "Linux" and a Linux-like release, machine "aarch64".
pub fn uname(a: Args) -> Result {
    let [buf, ..] = a.0;
    // "Linux" and a Linux-like release: programs and C libraries decide
    // on them what the kernel speaks (this kernel speaks Linux's ABI, as
    // other Linux-compatible kernels report); the version says what it is.
    let fields: [&str; 6] = [
        "Linux",
        "(none)",
        "6.1.0-mmkernel",
        concat!("#1 SMP mmkernel ", env!("CARGO_PKG_VERSION")),
        "aarch64",
        "(none)",
    ];
    let mut out = [0u8; 6 * 65];
    for (i, f) in fields.iter().enumerate() {
        out[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    uaccess::copy_to(VirtAddr::new(buf), &out)?;
    Ok(0)
}
