//! On-target suite: the in-memory filesystem's inner rules, below the system calls (the
//! user programs `t_files` and `t_pipe` check the calls against Linux). A file's frames
//! are freed with its last name and reference, and a truncate frees the pages past the
//! new end (holes read as zeros without a frame); path lookup stops at 40 symbolic links
//! and at a name longer than 255 bytes, leaving nothing made; a directory cannot move
//! into itself and link counts follow renames; a removed directory takes no entry; a
//! pipe never splits a write of `PIPE_BUF` bytes and ends with end of file; the
//! initramfs unpacker makes parents, hard links, devices and named pipes.
#![no_std]
#![no_main]

extern crate alloc;

use kernel as _;

#[embedded_test::tests(default_timeout = 60)]
mod tests {
    use alloc::format;
    use alloc::sync::Arc;
    use alloc::vec;
    use alloc::vec::Vec;
    use kernel::fs::data::{KernelBuffer, KernelBytes};
    use kernel::fs::inode::mode;
    use kernel::fs::pipe::{Pipe, CAPACITY, PIPE_BUF};
    use kernel::fs::{namespace, path, Inode, Kind};
    use kernel::mmu;
    use kernel::user::syscall::errno::*;

    const PAGE: usize = 4096;

    /// A fresh directory of its own under the root, named `name`.
    fn scratch(name: &str) -> Arc<Inode> {
        let root = kernel::fs::root();
        let p = format!("/{name}");
        namespace::mkdir(root, p.as_bytes(), 0o755).expect("mkdir scratch");
        path::resolve(root, p.as_bytes(), true).expect("scratch")
    }

    fn write_at(file: &Inode, offset: u64, bytes: &[u8]) {
        let f = file.as_file().expect("a file");
        let (n, _) = f
            .write(offset, false, bytes.len(), &mut KernelBytes(bytes))
            .expect("write");
        assert_eq!(n, bytes.len());
    }

    fn read_at(file: &Inode, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0xeeu8; len];
        let n = file
            .as_file()
            .expect("a file")
            .read(offset, len, &mut KernelBuffer(&mut buf))
            .expect("read");
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_files_frames_go_with_its_last_name_and_reference() {
        let dir = scratch("frames");
        let before = mmu::frame_stats().free;
        let (file, made) = namespace::open_create(&dir, b"f", 0o644, true, false).unwrap();
        assert!(made);
        write_at(&file, 0, &[1u8; PAGE]);
        write_at(&file, 4 * PAGE as u64 + 10, b"end");
        let f = file.as_file().unwrap();
        assert_eq!(f.size(), 4 * PAGE as u64 + 13);
        assert_eq!(f.resident_pages(), 2, "pages 1-3 are a hole: no frame");
        assert_eq!(
            read_at(&file, PAGE as u64, 8),
            vec![0u8; 8],
            "a hole reads zeros"
        );
        assert_eq!(read_at(&file, 4 * PAGE as u64 + 10, 100), b"end".to_vec());
        // A truncate into page 0 frees page 4's frame and zeroes page 0's tail.
        f.truncate(100).unwrap();
        assert_eq!(f.resident_pages(), 1);
        f.truncate(PAGE as u64).unwrap();
        assert_eq!(
            read_at(&file, 99, 2),
            vec![1u8, 0],
            "regrown bytes read zero"
        );
        // A second name keeps it; the last name's removal while a reference is held
        // keeps the frames; the reference's drop frees them.
        namespace::link(&file, &dir, b"g").unwrap();
        assert_eq!(file.meta.lock().nlink, 2);
        namespace::unlink(&dir, b"f", false).unwrap();
        namespace::unlink(&dir, b"g", false).unwrap();
        assert_eq!(file.meta.lock().nlink, 0);
        assert_eq!(
            read_at(&file, 0, 1),
            vec![1u8],
            "still readable through a reference"
        );
        drop(file);
        assert_eq!(
            mmu::frame_stats().free,
            before,
            "the file's frames were not freed"
        );
        namespace::unlink(kernel::fs::root(), b"/frames", true).unwrap();
    }

    #[test]
    fn lookup_follows_forty_links_and_refuses_the_forty_first() {
        let dir = scratch("links");
        namespace::open_create(&dir, b"target", 0o644, true, false).unwrap();
        // l0 -> target, l1 -> l0, ..., l40 -> l39.
        namespace::symlink(&dir, b"l0", b"target").unwrap();
        for i in 1..=40 {
            let (name, to) = (format!("l{i}"), format!("l{}", i - 1));
            namespace::symlink(&dir, name.as_bytes(), to.as_bytes()).unwrap();
        }
        assert!(
            path::resolve(&dir, b"l39", true).is_ok(),
            "40 links are followed"
        );
        assert_eq!(path::resolve(&dir, b"l40", true).err(), Some(ELOOP));
        assert!(
            path::resolve(&dir, b"l40", false).is_ok(),
            "not following: the link itself"
        );
        namespace::symlink(&dir, b"a", b"b").unwrap();
        namespace::symlink(&dir, b"b", b"a").unwrap();
        assert_eq!(path::resolve(&dir, b"a", true).err(), Some(ELOOP));
        assert_eq!(path::resolve(&dir, b"a/x", true).err(), Some(ELOOP));
        assert_eq!(path::resolve(&dir, b"target/x", true).err(), Some(ENOTDIR));
        assert_eq!(path::resolve(&dir, b"target/", true).err(), Some(ENOTDIR));
    }

    #[test]
    fn a_name_longer_than_name_max_is_refused_and_nothing_is_made() {
        let dir = scratch("long");
        let long = vec![b'x'; 256];
        assert_eq!(
            namespace::open_create(&dir, &long, 0o644, true, false).err(),
            Some(ENAMETOOLONG)
        );
        assert_eq!(
            namespace::mkdir(&dir, &long, 0o755).err(),
            Some(ENAMETOOLONG)
        );
        let mut nested = long.clone();
        nested.extend_from_slice(b"/f");
        assert_eq!(path::resolve(&dir, &nested, true).err(), Some(ENAMETOOLONG));
        assert!(
            dir.as_dir().unwrap().is_empty(),
            "a refused create left an entry"
        );
        let ok = vec![b'y'; 255];
        assert!(
            namespace::mkdir(&dir, &ok, 0o755).is_ok(),
            "255 bytes is a name"
        );
    }

    #[test]
    fn a_directory_cannot_move_into_itself_and_link_counts_follow_renames() {
        let dir = scratch("moves");
        namespace::mkdir(&dir, b"a", 0o755).unwrap();
        namespace::mkdir(&dir, b"a/b", 0o755).unwrap();
        namespace::mkdir(&dir, b"c", 0o755).unwrap();
        let nlink = |p: &[u8]| path::resolve(&dir, p, true).unwrap().meta.lock().nlink;
        assert_eq!(nlink(b"."), 4, "2 + subdirectories a and c");
        assert_eq!(
            namespace::rename(&dir, b"a", &dir, b"a/b/x", 0).err(),
            Some(EINVAL)
        );
        assert_eq!(namespace::rename(&dir, b"a", &dir, b"a", 0), Ok(()));
        namespace::rename(&dir, b"a/b", &dir, b"c/b", 0).unwrap();
        assert_eq!((nlink(b"a"), nlink(b"c")), (2, 3));
        assert!(
            Arc::ptr_eq(
                &path::resolve(&dir, b"c/b/..", true).unwrap(),
                &path::resolve(&dir, b"c", true).unwrap()
            ),
            "a moved directory's .. is its new parent"
        );
        assert_eq!(
            namespace::rename(&dir, b"a", &dir, b"c", 0).err(),
            Some(ENOTEMPTY)
        );
        assert_eq!(
            namespace::rename(&dir, b"a", &dir, b"c", namespace::RENAME_NOREPLACE).err(),
            Some(EEXIST)
        );
        namespace::rename(&dir, b"a", &dir, b"c", namespace::RENAME_EXCHANGE).unwrap();
        assert!(path::resolve(&dir, b"a/b", true).is_ok(), "exchanged");
        assert_eq!(nlink(b"."), 4);
    }

    #[test]
    fn a_removed_directory_takes_no_new_entry() {
        let dir = scratch("removed");
        namespace::mkdir(&dir, b"d", 0o755).unwrap();
        let d = path::resolve(&dir, b"d", true).unwrap();
        namespace::open_create(&d, b"f", 0o644, true, false).unwrap();
        assert_eq!(namespace::unlink(&dir, b"d", true).err(), Some(ENOTEMPTY));
        namespace::unlink(&d, b"f", false).unwrap();
        namespace::unlink(&dir, b"d", true).unwrap();
        assert_eq!(d.meta.lock().nlink, 0);
        assert_eq!(
            namespace::open_create(&d, b"g", 0o644, true, false).err(),
            Some(ENOENT)
        );
        assert_eq!(namespace::mkdir(&d, b"e", 0o755).err(), Some(ENOENT));
    }

    #[test]
    fn a_pipe_never_splits_a_pipe_buf_write_and_ends_with_end_of_file() {
        let pipe = Pipe::new();
        pipe.open_end(false);
        pipe.open_end(true);
        let fill = vec![7u8; CAPACITY - 100];
        let n = pipe
            .write(&mut KernelBytes(&fill), fill.len(), true)
            .unwrap();
        assert_eq!(n, fill.len());
        let record = vec![9u8; PIPE_BUF];
        assert_eq!(
            pipe.write(&mut KernelBytes(&record), PIPE_BUF, true).err(),
            Some(EAGAIN),
            "an atomic write went in part"
        );
        let big = vec![9u8; PIPE_BUF + 1];
        assert_eq!(
            pipe.write(&mut KernelBytes(&big), big.len(), true),
            Ok(100),
            "a longer write takes what fits"
        );
        let mut out = vec![0u8; CAPACITY];
        assert_eq!(
            pipe.read(&mut KernelBuffer(&mut out), CAPACITY, true),
            Ok(CAPACITY)
        );
        assert!(
            out[..CAPACITY - 100].iter().all(|&b| b == 7)
                && out[CAPACITY - 100..].iter().all(|&b| b == 9)
        );
        assert_eq!(
            pipe.read(&mut KernelBuffer(&mut out), 1, true).err(),
            Some(EAGAIN)
        );
        pipe.close_end(true);
        assert_eq!(
            pipe.read(&mut KernelBuffer(&mut out), 1, true),
            Ok(0),
            "end of file"
        );
        pipe.open_end(true);
        pipe.close_end(false);
        assert_eq!(
            pipe.write(&mut KernelBytes(&record), 1, true).err(),
            Some(EPIPE),
            "no reader left"
        );
    }

    /// The file lock is declared before `mmap_lock`: a read or write may fault on user
    /// memory under it (allowed), and a fault path that took a file lock under
    /// `mmap_lock` (what file mappings must never do) is the declared-order violation.
    #[test]
    fn the_file_lock_comes_before_mmap_lock() {
        use kernel::fs::data::FILE_DATA;
        use kernel::sync::validate::would_violate;
        use kernel::sync::{LockKind, RwSemaphore, MMAP_LOCK};
        static AS: RwSemaphore<()> = RwSemaphore::new_in(&MMAP_LOCK, ());
        let file = kernel::sync::Mutex::new_in(&FILE_DATA, ());
        {
            let _f = file.lock();
            assert_eq!(
                would_violate(&MMAP_LOCK, LockKind::RwRead, &AS as *const _ as usize),
                None,
                "a fault under the file lock is the allowed order"
            );
        }
        let _m = AS.read();
        assert_eq!(
            would_violate(&FILE_DATA, LockKind::Mutex, &file as *const _ as usize)
                .map(|v| v.rule()),
            Some("declared-lock-order"),
            "a file lock under mmap_lock was not caught"
        );
    }

    /// One cpio newc entry.
    fn entry(
        out: &mut Vec<u8>,
        name: &str,
        mode: u32,
        ino: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) {
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            1_700_000_000,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    #[test]
    fn the_unpacker_makes_parents_hard_links_devices_and_named_pipes() {
        let mut a = Vec::new();
        entry(
            &mut a,
            "a/b/file",
            mode::S_IFREG | 0o755,
            1,
            1,
            (0, 0),
            b"text",
        );
        entry(&mut a, "h1", mode::S_IFREG | 0o644, 2, 2, (0, 0), b"");
        entry(&mut a, "h2", mode::S_IFREG | 0o644, 2, 2, (0, 0), b"linked");
        entry(
            &mut a,
            "s",
            mode::S_IFLNK | 0o777,
            3,
            1,
            (0, 0),
            b"a/b/file",
        );
        entry(&mut a, "null", mode::S_IFCHR | 0o666, 4, 1, (1, 3), b"");
        entry(&mut a, "odd", mode::S_IFCHR | 0o666, 5, 1, (42, 7), b"");
        entry(&mut a, "fifo", mode::S_IFIFO | 0o600, 6, 1, (0, 0), b"");
        entry(&mut a, "TRAILER!!!", 0, 0, 1, (0, 0), b"");
        let archive: &'static [u8] = alloc::boxed::Box::leak(a.into_boxed_slice());
        let root = Inode::new_root();
        kernel::fs::unpack::unpack(&root, archive).unwrap();
        let file = path::resolve(&root, b"a/b/file", true).unwrap();
        assert_eq!(file.mode(), mode::S_IFREG | 0o755);
        assert_eq!(read_at(&file, 0, 16), b"text".to_vec());
        assert_eq!(
            path::resolve(&root, b"a", true).unwrap().meta.lock().nlink,
            3
        );
        let (h1, h2) = (
            path::resolve(&root, b"h1", true).unwrap(),
            path::resolve(&root, b"h2", true).unwrap(),
        );
        assert!(Arc::ptr_eq(&h1, &h2), "hard links are one inode");
        assert_eq!(h1.meta.lock().nlink, 2);
        assert_eq!(read_at(&h1, 0, 16), b"linked".to_vec());
        assert!(Arc::ptr_eq(
            &path::resolve(&root, b"s", true).unwrap(),
            &file
        ));
        assert!(matches!(
            path::resolve(&root, b"null", true).unwrap().kind,
            Kind::Device(kernel::fs::Device::Null)
        ));
        assert_eq!(
            path::resolve(&root, b"odd", true).err(),
            Some(ENOENT),
            "unknown device skipped"
        );
        assert!(matches!(
            path::resolve(&root, b"fifo", true).unwrap().kind,
            Kind::Fifo(_)
        ));
    }
}
