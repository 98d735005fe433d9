//! The root filesystem (DESIGN.md §8): the initramfs unpacked at first use into a
//! writable in-memory tree of directories, regular files, symbolic links, devices and
//! named pipes, with Linux's path semantics. There is no disk and no general VFS: one
//! filesystem, one root.
//!
//! - [`inode`]: what a name leads to, its metadata and `struct stat`;
//! - [`data`]: a regular file's bytes, held in the pages of a shared object (the object
//!   type of MAP_SHARED memory, so that mapping files is the same machinery);
//! - [`path`]: path lookup from a directory (`AT_FDCWD` or a descriptor's), following
//!   symbolic links up to [`path::MAX_SYMLINKS`];
//! - [`namespace`]: the changes of the tree (create, link, unlink, rename), serialised by
//!   one sleepable lock so that each check and its change are one step;
//! - [`pipe`]: pipes, anonymous (`pipe2`) or named (a FIFO in the tree);
//! - [`file`]: an open file description (offset, status flags) as descriptors share it;
//! - [`unpack`]: the initramfs (cpio newc) into the tree, with `/dev`, `/tmp` and `/proc`
//!   made when the archive lacks them.
//!
//! Errors are Linux's errnos, as the system calls return them.
pub mod data;
pub mod file;
pub mod inode;
pub mod namespace;
pub mod path;
pub mod pipe;
pub mod unpack;

use alloc::sync::Arc;

pub use file::OpenFile;
pub use inode::{Device, Inode, Kind};

static ROOT: spin::Once<Arc<Inode>> = spin::Once::new();

/// The root directory: the initramfs unpacked on first use (an empty tree with `/dev`,
/// `/tmp` and `/proc` when the boot loader gave none).
pub fn root() -> &'static Arc<Inode> {
    ROOT.call_once(|| {
        let root = Inode::new_root();
        match crate::user::initramfs::archive() {
            Some(archive) => {
                if let Err(e) = unpack::unpack(&root, archive) {
                    defmt::error!("initramfs: {} (the files before it are kept)", e);
                }
            }
            None => defmt::warn!("no initramfs: the root filesystem starts empty"),
        }
        unpack::add_missing(&root);
        root
    })
}
