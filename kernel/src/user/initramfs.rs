//! The initramfs: a `cpio` archive in the "newc" format (what Linux's
//! `gen_init_cpio` and `cpio -H newc` write), left in memory by the boot
//! loader (QEMU `-initrd`, the Pi firmware's `initramfs` line) and found
//! through the DT's `/chosen`. Read-only; files are looked up by path.

/// One file of the archive.
#[derive(Clone, Copy)]
pub struct File {
    /// Its path as the archive records it (`find` ignores a leading `/` or `./`).
    pub name: &'static str,
    /// `st_mode`: file type (`S_IFMT` bits) and permissions.
    pub mode: u32,
    /// Its contents, in place in the archive.
    pub data: &'static [u8],
    /// Its inode number in the archive (entries with one number are hard links).
    pub ino: u32,
    /// Names it has in the archive.
    pub nlink: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// Device numbers of a character or block device (major, minor).
    pub rdev: (u32, u32),
}

/// File type bits of `mode`.
pub const S_IFMT: u32 = 0o170000;
/// `S_IFMT` value of a regular file.
pub const S_IFREG: u32 = 0o100000;

/// A malformed archive, with the offset of the bad header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum CpioError {
    /// The header does not start with the newc magic (`070701`, or `070702` with CRC).
    BadMagic(usize),
    /// A header field is not hexadecimal, or the name is not UTF-8.
    BadField(usize),
    /// The archive ends inside a header, name or file.
    Truncated(usize),
}

/// The archive's entries in order, up to the `TRAILER!!!` entry.
pub fn entries(archive: &'static [u8]) -> impl Iterator<Item = Result<File, CpioError>> {
    let mut at = 0usize;
    let mut done = false;
    core::iter::from_fn(move || {
        if done || at >= archive.len() {
            return None;
        }
        let r = entry_at(archive, at);
        match r {
            Ok((file, next)) if file.name != "TRAILER!!!" => {
                at = next;
                Some(Ok(file))
            }
            Ok(_) => None,
            Err(e) => {
                done = true;
                Some(Err(e))
            }
        }
    })
}

const HEADER: usize = 110;

fn entry_at(a: &'static [u8], at: usize) -> Result<(File, usize), CpioError> {
    let h = a.get(at..at + HEADER).ok_or(CpioError::Truncated(at))?;
    if &h[..6] != b"070701" && &h[..6] != b"070702" {
        return Err(CpioError::BadMagic(at));
    }
    let field = |i: usize| -> Result<usize, CpioError> {
        let s =
            core::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).map_err(|_| CpioError::BadField(at))?;
        usize::from_str_radix(s, 16).map_err(|_| CpioError::BadField(at))
    };
    let ino = field(0)? as u32;
    let mode = field(1)? as u32;
    let nlink = field(4)? as u32;
    let mtime = field(5)? as u32;
    let rdev = (field(9)? as u32, field(10)? as u32);
    let size = field(6)?;
    let namesize = field(11)?;
    let name_start = at + HEADER;
    let name = a
        .get(name_start..name_start + namesize.saturating_sub(1))
        .ok_or(CpioError::Truncated(at))?;
    let name = core::str::from_utf8(name).map_err(|_| CpioError::BadField(at))?;
    let data_start = align4(name_start + namesize);
    let data = a
        .get(data_start..data_start + size)
        .ok_or(CpioError::Truncated(at))?;
    Ok((
        File {
            name,
            mode,
            data,
            ino,
            nlink,
            mtime,
            rdev,
        },
        align4(data_start + size),
    ))
}

fn align4(x: usize) -> usize {
    (x + 3) & !3
}

/// The file at `path` (leading `/` or `./` ignored), if it is in the archive.
pub fn find(archive: &'static [u8], path: &str) -> Result<Option<File>, CpioError> {
    let want = normalize(path);
    for e in entries(archive) {
        let f = e?;
        if normalize(f.name) == want {
            return Ok(Some(f));
        }
    }
    Ok(None)
}

fn normalize(p: &str) -> &str {
    let p = p.trim_start_matches("./");
    p.trim_start_matches('/')
}

/// The archive the boot loader left, if any.
pub fn archive() -> Option<&'static [u8]> {
    let r = crate::platform::get()?.initrd?;
    // SAFETY: the initrd region is RAM the frame allocator never hands out
    // (reserved at boot), mapped in the kernel's linear map, never written.
    Some(unsafe {
        core::slice::from_raw_parts(
            crate::mem::phys_to_virt(r.start) as *const u8,
            r.len() as usize,
        )
    })
}
