//! Inodes: what a name in the tree leads to (a directory, a regular file, a symbolic
//! link, a device or a named pipe), with its metadata, and the `struct stat` Linux's
//! aarch64 ABI reports for it.
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::data::FileData;
use super::pipe::Pipe;
use crate::sync::SpinLock;

/// File type bits of a mode (`S_IFMT`) and the types.
pub mod mode {
    /// The type bits.
    pub const S_IFMT: u32 = 0o170000;
    /// A socket (never made here).
    pub const S_IFSOCK: u32 = 0o140000;
    /// A symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// A regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// A block device (never made here).
    pub const S_IFBLK: u32 = 0o060000;
    /// A directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// A character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// A named pipe.
    pub const S_IFIFO: u32 = 0o010000;
    /// The permission and set-id bits `chmod` sets.
    pub const PERMS: u32 = 0o7777;
}
use mode::*;

/// The character devices the kernel serves, by Linux's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Device {
    /// `/dev/null` (1:3): reads end at once, writes vanish.
    Null,
    /// `/dev/zero` (1:5): reads give zeros, writes vanish.
    Zero,
    /// `/dev/console` (5:1): the UART.
    Console,
    /// `/dev/tty` (5:0): the controlling terminal, which is the console.
    Tty,
}

impl Device {
    /// The device a (major, minor) pair names, if the kernel has it.
    pub fn from_numbers(major: u32, minor: u32) -> Option<Device> {
        match (major, minor) {
            (1, 3) => Some(Device::Null),
            (1, 5) => Some(Device::Zero),
            (5, 1) => Some(Device::Console),
            (5, 0) => Some(Device::Tty),
            _ => None,
        }
    }

    /// Its (major, minor).
    pub fn numbers(self) -> (u32, u32) {
        match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Console => (5, 1),
            Device::Tty => (5, 0),
        }
    }

    /// Whether it is the terminal (the console, under either name).
    pub fn is_terminal(self) -> bool {
        matches!(self, Device::Console | Device::Tty)
    }
}

/// A directory: its entries by name (not "." and "..", which lookups make up) and its
/// parent (itself for the root). Entries change only under the namespace lock
/// ([`super::namespace`]); the spinlock makes each look-up and each change one step.
pub struct Dir {
    entries: SpinLock<BTreeMap<Vec<u8>, Arc<Inode>>>,
    parent: SpinLock<Weak<Inode>>,
}

impl Dir {
    fn new(parent: Weak<Inode>) -> Self {
        Self {
            entries: SpinLock::new(BTreeMap::new()),
            parent: SpinLock::new(parent),
        }
    }

    /// The inode `name` leads to.
    pub fn get(&self, name: &[u8]) -> Option<Arc<Inode>> {
        self.entries.lock().get(name).cloned()
    }

    /// Its parent directory (a removed directory's last one).
    pub fn parent(&self) -> Option<Arc<Inode>> {
        self.parent.lock().upgrade()
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.lock().is_empty()
    }

    /// The entries in name order from the `skip`-th on, at most `max` of them.
    pub fn list(&self, skip: usize, max: usize) -> Vec<(Vec<u8>, Arc<Inode>)> {
        self.entries
            .lock()
            .iter()
            .skip(skip)
            .take(max)
            .map(|(n, i)| (n.clone(), i.clone()))
            .collect()
    }

    pub(super) fn insert(&self, name: &[u8], inode: Arc<Inode>) {
        self.entries.lock().insert(name.to_vec(), inode);
    }

    pub(super) fn remove(&self, name: &[u8]) -> Option<Arc<Inode>> {
        self.entries.lock().remove(name)
    }

    pub(super) fn set_parent(&self, parent: Weak<Inode>) {
        *self.parent.lock() = parent;
    }
}

/// What an inode is.
pub enum Kind {
    /// A directory.
    Dir(Dir),
    /// A regular file.
    File(FileData),
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
    /// A character device.
    Device(Device),
    /// A named pipe (or the inode of an anonymous one).
    Fifo(Arc<Pipe>),
}

/// A time as `struct timespec` holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, below 10^9.
    pub nsec: i64,
}

impl Time {
    /// Now, on the real-time clock (counted from boot: no board here has a clock).
    pub fn now() -> Time {
        let t = crate::user::syscall::time::now(true);
        Time {
            sec: t.as_secs() as i64,
            nsec: i64::from(t.subsec_nanos()),
        }
    }
}

/// An inode's metadata.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Permission and set-id bits (`PERMS`).
    pub perm: u32,
    /// Names that lead to it (for a directory: 2 + its subdirectories; 0 once removed).
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last access.
    pub atime: Time,
    /// Last change of the contents.
    pub mtime: Time,
    /// Last change of the inode.
    pub ctime: Time,
}

/// One inode.
pub struct Inode {
    /// Its number (`st_ino`), unique while the kernel runs.
    pub ino: u64,
    /// What it is.
    pub kind: Kind,
    /// Its metadata.
    pub meta: SpinLock<Meta>,
}

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// `st_dev` of every inode: the one filesystem.
pub const DEV: u64 = 1;

impl Inode {
    /// A new inode of `kind` with permissions `perm`, one name (two for a directory).
    pub fn new(kind: Kind, perm: u32) -> Arc<Inode> {
        let now = Time::now();
        let nlink = if matches!(kind, Kind::Dir(_)) { 2 } else { 1 };
        Arc::new(Inode {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            kind,
            meta: SpinLock::new(Meta {
                perm: perm & PERMS,
                nlink,
                uid: 0,
                gid: 0,
                atime: now,
                mtime: now,
                ctime: now,
            }),
        })
    }

    /// A new directory whose parent is `parent`.
    pub fn new_dir(parent: &Arc<Inode>, perm: u32) -> Arc<Inode> {
        Inode::new(Kind::Dir(Dir::new(Arc::downgrade(parent))), perm)
    }

    /// The root directory (its own parent).
    pub fn new_root() -> Arc<Inode> {
        let root = Inode::new(Kind::Dir(Dir::new(Weak::new())), 0o755);
        if let Kind::Dir(d) = &root.kind {
            d.set_parent(Arc::downgrade(&root));
        }
        root
    }

    /// Its type bits (`S_IFMT` of its mode).
    pub fn file_type(&self) -> u32 {
        match &self.kind {
            Kind::Dir(_) => S_IFDIR,
            Kind::File(_) => S_IFREG,
            Kind::Symlink(_) => S_IFLNK,
            Kind::Device(_) => S_IFCHR,
            Kind::Fifo(_) => S_IFIFO,
        }
    }

    /// Its whole mode: type and permissions.
    pub fn mode(&self) -> u32 {
        self.file_type() | self.meta.lock().perm
    }

    /// The directory, if it is one.
    pub fn as_dir(&self) -> Option<&Dir> {
        match &self.kind {
            Kind::Dir(d) => Some(d),
            _ => None,
        }
    }

    /// The file's data, if it is a regular file.
    pub fn as_file(&self) -> Option<&FileData> {
        match &self.kind {
            Kind::File(f) => Some(f),
            _ => None,
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    /// Whether it may be executed: a regular file with an execute bit (the only user is
    /// root, for whom any one of the three is enough, as on Linux).
    pub fn executable(&self) -> bool {
        matches!(self.kind, Kind::File(_)) && self.meta.lock().perm & 0o111 != 0
    }

    /// Contents changed: mtime and ctime are now.
    pub fn touch_modified(&self) {
        let now = Time::now();
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }

    /// The inode changed (links, mode): ctime is now.
    pub fn touch_changed(&self) {
        self.meta.lock().ctime = Time::now();
    }

    /// Its size in bytes, as `st_size` reports it.
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(f) => f.size(),
            Kind::Symlink(t) => t.len() as u64,
            // tmpfs reports a directory's size as the space its entries take.
            Kind::Dir(d) => 20 * (d.entries.lock().len() as u64 + 2),
            Kind::Device(_) | Kind::Fifo(_) => 0,
        }
    }

    /// `struct stat` for it.
    pub fn stat(&self) -> Stat {
        let m = *self.meta.lock();
        let blocks = match &self.kind {
            Kind::File(f) => f.resident_pages() * 8,
            _ => 0,
        };
        let rdev = match &self.kind {
            Kind::Device(d) => {
                let (major, minor) = d.numbers();
                u64::from(major) << 8 | u64::from(minor)
            }
            _ => 0,
        };
        Stat {
            dev: DEV,
            ino: self.ino,
            mode: self.file_type() | m.perm,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev,
            size: self.size() as i64,
            blksize: 4096,
            blocks: blocks as i64,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        }
    }
}

/// What `fstat` reports (the aarch64 `struct stat`, 128 bytes).
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_mode`.
    pub mode: u32,
    /// `st_nlink`.
    pub nlink: u32,
    /// `st_uid`.
    pub uid: u32,
    /// `st_gid`.
    pub gid: u32,
    /// `st_rdev` (major << 8 | minor for the small numbers used here).
    pub rdev: u64,
    /// `st_size`.
    pub size: i64,
    /// `st_blksize`.
    pub blksize: i32,
    /// `st_blocks` (512-byte units).
    pub blocks: i64,
    /// `st_atim`.
    pub atime: Time,
    /// `st_mtim`.
    pub mtime: Time,
    /// `st_ctim`.
    pub ctime: Time,
}

impl Stat {
    /// The bytes of the aarch64 `struct stat`.
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &self.dev.to_le_bytes());
        put(8, &self.ino.to_le_bytes());
        put(16, &self.mode.to_le_bytes());
        put(20, &self.nlink.to_le_bytes());
        put(24, &self.uid.to_le_bytes());
        put(28, &self.gid.to_le_bytes());
        put(32, &self.rdev.to_le_bytes());
        put(48, &self.size.to_le_bytes());
        put(56, &self.blksize.to_le_bytes());
        put(64, &self.blocks.to_le_bytes());
        for (i, t) in [self.atime, self.mtime, self.ctime].iter().enumerate() {
            put(72 + 16 * i, &t.sec.to_le_bytes());
            put(80 + 16 * i, &t.nsec.to_le_bytes());
        }
        b
    }
}
