//! The initramfs (cpio newc) into the tree, as Linux's `populate_rootfs`: directories,
//! regular files (entries with one inode number become hard links of one inode, the data
//! coming with any of them), symbolic links, character devices of the kernel's numbers
//! (`null` 1:3, `zero` 1:5, `tty` 5:0, `console` 5:1) and named pipes; each with its
//! permission bits and modification time. Missing parent directories are made. Then
//! [`add_missing`] makes what a program expects to find.
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use super::data::{FileData, KernelBytes};
use super::inode::{mode::*, Device, Inode, Kind, Time};
use super::pipe::Pipe;
use crate::user::initramfs::{self, CpioError};

/// The directory at `components` below `root`, made (mode 0755) where missing; `None` if
/// a component is something else.
fn ensure_dir<'a>(
    root: &Arc<Inode>,
    components: impl Iterator<Item = &'a [u8]>,
) -> Option<Arc<Inode>> {
    let mut cur = root.clone();
    for c in components {
        let dir = cur.as_dir()?;
        let next = match dir.get(c) {
            Some(n) => n,
            None => {
                let n = Inode::new_dir(&cur, 0o755);
                dir.insert(c, n.clone());
                cur.meta.lock().nlink += 1;
                n
            }
        };
        if !next.is_dir() {
            return None;
        }
        cur = next;
    }
    Some(cur)
}

fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// Puts `inode` at `path` below `root` (replacing nothing: a second entry of one name is
/// skipped with a warning).
fn place(root: &Arc<Inode>, path: &[u8], inode: Arc<Inode>) {
    let all: alloc::vec::Vec<&[u8]> = components(path).collect();
    let Some((name, parents)) = all.split_last() else {
        return;
    };
    let Some(dir) = ensure_dir(root, parents.iter().copied()) else {
        defmt::warn!("initramfs: a parent of an entry is not a directory: skipped");
        return;
    };
    let d = dir.as_dir().expect("ensure_dir gives directories");
    if d.get(name).is_some() {
        defmt::warn!("initramfs: an entry is there twice: the first kept");
        return;
    }
    if inode.is_dir() {
        if let Kind::Dir(sub) = &inode.kind {
            sub.set_parent(Arc::downgrade(&dir));
        }
        dir.meta.lock().nlink += 1;
    }
    d.insert(name, inode);
}

/// Unpacks `archive` into `root`.
pub fn unpack(root: &Arc<Inode>, archive: &'static [u8]) -> Result<(), CpioError> {
    let mut links: BTreeMap<u32, Arc<Inode>> = BTreeMap::new();
    for entry in initramfs::entries(archive) {
        let f = entry?;
        let path = f.name.as_bytes();
        if components(path).next().is_none() {
            // "." or "/": the root itself.
            root.meta.lock().perm = f.mode & PERMS;
            continue;
        }
        let perm = f.mode & PERMS;
        let time = Time {
            sec: i64::from(f.mtime),
            nsec: 0,
        };
        let inode = match f.mode & S_IFMT {
            S_IFDIR => {
                let all: alloc::vec::Vec<&[u8]> = components(path).collect();
                if let Some(d) = ensure_dir(root, all.iter().copied()) {
                    d.meta.lock().perm = perm;
                    d.meta.lock().mtime = time;
                }
                continue;
            }
            S_IFREG => {
                if f.nlink > 1 {
                    if let Some(existing) = links.get(&f.ino) {
                        // Another name of an inode already placed.
                        if !f.data.is_empty() {
                            write_all(existing, f.data);
                        }
                        existing.meta.lock().nlink += 1;
                        place(root, path, existing.clone());
                        continue;
                    }
                }
                let inode = Inode::new(Kind::File(FileData::new()), perm);
                write_all(&inode, f.data);
                if f.nlink > 1 {
                    links.insert(f.ino, inode.clone());
                }
                inode
            }
            S_IFLNK => Inode::new(Kind::Symlink(f.data.to_vec()), 0o777),
            S_IFCHR => match Device::from_numbers(f.rdev.0, f.rdev.1) {
                Some(d) => Inode::new(Kind::Device(d), perm),
                None => {
                    defmt::warn!(
                        "initramfs: character device {}:{} is not one of the kernel's: skipped",
                        f.rdev.0,
                        f.rdev.1
                    );
                    continue;
                }
            },
            S_IFIFO => Inode::new(Kind::Fifo(Pipe::new()), perm),
            _ => {
                defmt::warn!("initramfs: an entry of mode {=u32:o} skipped", f.mode);
                continue;
            }
        };
        {
            let mut m = inode.meta.lock();
            m.mtime = time;
            m.atime = time;
            m.ctime = time;
        }
        place(root, path, inode);
    }
    Ok(())
}

fn write_all(inode: &Arc<Inode>, data: &[u8]) {
    let file = inode.as_file().expect("a regular file");
    if let Err(e) = file.write(0, false, data.len(), &mut KernelBytes(data)) {
        defmt::error!("initramfs: a file could not be filled: errno {}", e.0);
    }
}

/// What a program expects though the archive may lack it: `/dev` with `console`, `null`,
/// `zero` and `tty`, an empty `/tmp` (1777) and `/proc` (0555).
pub fn add_missing(root: &Arc<Inode>) {
    let Some(dev) = ensure_dir(root, components(b"dev")) else {
        return;
    };
    let d = dev.as_dir().expect("a directory");
    for (name, device, perm) in [
        (&b"console"[..], Device::Console, 0o600),
        (b"null", Device::Null, 0o666),
        (b"zero", Device::Zero, 0o666),
        (b"tty", Device::Tty, 0o666),
    ] {
        if d.get(name).is_none() {
            d.insert(name, Inode::new(Kind::Device(device), perm));
        }
    }
    let r = root.as_dir().expect("the root is a directory");
    for (name, perm) in [(&b"tmp"[..], 0o1777), (b"proc", 0o555)] {
        if r.get(name).is_none() {
            place(root, name, Inode::new_dir(root, perm));
        }
    }
}
