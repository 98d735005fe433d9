//! Files and directories under `/tmp`: creating (`O_EXCL`, `O_TRUNC`,
//! `O_APPEND`, the umask), reading and writing (`pread`/`pwrite`, vectors,
//! `lseek`, holes), `fstat`/`newfstatat`, hard links, symbolic links (loops,
//! dangling, `O_NOFOLLOW`), directories (`getdents64`, `rmdir`, the errors),
//! `renameat2`, the working directory, `*at` calls relative to a directory
//! descriptor, `ftruncate`, `dup`/`dup3`/`fcntl`, descriptor numbering, path
//! errors (`ENOENT`, `ENOTDIR`, `ENAMETOOLONG`, `EFAULT`), `/dev/null` and
//! `/dev/zero`, `faccessat` and `fchmod` as root, the offset shared with a
//! forked child, and `O_CLOEXEC` across `execve`.
//!
//! `t_files exec-check <cloexec fd> <kept fd> <cloexec dup>` is the program
//! that `execve` starts: it exits with a bit mask of what it found wrong.
//!
//! Every name lives under `/tmp/t_files`, made fresh (each boot unpacks a new
//! `/tmp`). No check prints an inode, a device or a time: they are compared
//! inside the program.
#![no_std]
#![no_main]
use core::ffi::CStr;
use core::fmt::{self, Write};

use user::fs::*;
use user::mm::{mmap_anon, munmap, PAGE};
use user::process;
use user::sys::{self, nr};
use user::{setup, Checks, Errno};

const BASE: &CStr = c"/tmp/t_files";

fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("<not UTF-8>")
}

/// Writes `data` to `p`, made or truncated with mode 0o644.
fn put(p: &CStr, data: &[u8]) -> Result<(), Errno> {
    let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o644)?;
    let n = write(fd, data);
    close(fd)?;
    if n? != data.len() {
        return Err(Errno::EIO);
    }
    Ok(())
}

/// The whole of the file at `p` (up to `buf`'s length), read from offset 0.
fn contents<'a>(p: &CStr, buf: &'a mut [u8]) -> Result<&'a [u8], Errno> {
    let fd = open(p, O_RDONLY, 0)?;
    let n = pread(fd, buf, 0);
    close(fd)?;
    Ok(&buf[..n?])
}

/// The text of the file at `p`.
fn file_text<'a>(p: &CStr, buf: &'a mut [u8]) -> Result<&'a str, Errno> {
    contents(p, buf).map(text)
}

/// `pread` at `offset` of up to `buf.len()` bytes, as text.
fn pread_text(fd: i32, buf: &mut [u8], offset: i64) -> Result<&str, Errno> {
    let n = pread(fd, buf, offset)?;
    Ok(text(&buf[..n]))
}

/// Whether two stats are of one file (device and inode); an error if either failed.
fn same_file(a: Result<Stat, Errno>, b: Result<Stat, Errno>) -> Result<bool, Errno> {
    let (a, b) = (a?, b?);
    Ok((a.dev, a.ino) == (b.dev, b.ino))
}

fn mode(p: &CStr) -> Result<u32, Errno> {
    stat(p).map(|s| s.mode)
}

fn size(fd: i32) -> Result<i64, Errno> {
    fstat(fd).map(|s| s.size)
}

/// A line of text built in place.
struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Text {
            bytes: [0; N],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        text(&self.bytes[..self.len])
    }
}

impl<const N: usize> Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let b = s.as_bytes();
        if self.len + b.len() > N {
            return Err(fmt::Error);
        }
        self.bytes[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// One record of a directory listing.
#[derive(Clone, Copy)]
struct Entry {
    name: [u8; 32],
    len: usize,
    kind: u8,
    ino: u64,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.name[..self.len]
    }
}

/// Everything `getdents64` returned for a directory, in the order it came.
struct Listing {
    entries: [Entry; 80],
    count: usize,
    /// A record whose `d_reclen` was not Linux's (8-aligned, just enough for its name).
    bad_reclen: bool,
    /// More records, or longer names, than this listing holds; or a malformed one.
    overflow: bool,
    /// `getdents64` calls that returned records.
    calls: usize,
}

impl Listing {
    /// Reads `fd` from its current offset to the end, `chunk` bytes per call.
    fn read(fd: i32, chunk: usize) -> Result<Listing, Errno> {
        let mut l = Listing {
            entries: [Entry {
                name: [0; 32],
                len: 0,
                kind: 0,
                ino: 0,
            }; 80],
            count: 0,
            bad_reclen: false,
            overflow: false,
            calls: 0,
        };
        let mut buf = [0u8; 4096];
        loop {
            let n = getdents64(fd, &mut buf[..chunk])?;
            if n == 0 {
                return Ok(l);
            }
            l.calls += 1;
            let mut records = dirents(&buf[..n]);
            for d in &mut records {
                let want = (DIRENT_NAME_OFFSET + d.name.len() + 1).next_multiple_of(8);
                l.bad_reclen |= usize::from(d.reclen) != want;
                if l.count == l.entries.len() || d.name.len() > 32 {
                    l.overflow = true;
                    continue;
                }
                let e = &mut l.entries[l.count];
                e.name[..d.name.len()].copy_from_slice(d.name);
                e.len = d.name.len();
                e.kind = d.kind;
                e.ino = d.ino;
                l.count += 1;
            }
            l.overflow |= records.malformed();
            if l.calls > 1000 {
                l.overflow = true;
                return Ok(l);
            }
        }
    }

    /// Opens `p` and lists it.
    fn of(p: &CStr, chunk: usize) -> Result<Listing, Errno> {
        let fd = open(p, O_RDONLY | O_DIRECTORY, 0)?;
        let l = Listing::read(fd, chunk);
        close(fd)?;
        l
    }

    fn sort(&mut self) {
        self.entries[..self.count].sort_unstable_by(|a, b| a.name().cmp(b.name()));
    }

    /// The names, sorted, each with its `d_type`: `".:4 ..:4 f:8"`.
    fn names(&mut self) -> Text<1024> {
        self.sort();
        let mut t = Text::new();
        for (i, e) in self.entries[..self.count].iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(t, "{sep}{}:{}", text(e.name()), e.kind);
        }
        t
    }

    fn ino(&self, name: &[u8]) -> Option<u64> {
        self.entries[..self.count]
            .iter()
            .find(|e| e.name() == name)
            .map(|e| e.ino)
    }
}

/// The working directory, as text.
fn cwd(buf: &mut [u8]) -> Result<&str, Errno> {
    let n = getcwd(buf)?;
    // The raw call's length counts the NUL.
    if n == 0 || buf[n - 1] != 0 {
        return Err(Errno::ERANGE);
    }
    Ok(text(&buf[..n - 1]))
}

fn start(t: &mut Checks) {
    t.eq("umask_initially_022", umask(0o022), 0o022);
    let mut buf = [0u8; 256];
    t.eq("cwd_initially_root", cwd(&mut buf), Ok("/"));
    t.eq("getcwd_counts_the_nul", getcwd(&mut buf), Ok(2));
    t.eq(
        "root_is_a_directory",
        stat(c"/").map(|s| s.kind()),
        Ok(S_IFDIR),
    );
    t.eq("tmp_is_sticky_1777", mode(c"/tmp"), Ok(S_IFDIR | 0o1777));
    t.eq("proc_dir_0555", mode(c"/proc"), Ok(S_IFDIR | 0o555));
    t.eq("bin_dir_0755", mode(c"/bin"), Ok(S_IFDIR | 0o755));
    t.eq(
        "bin_t_files_regular_0755",
        mode(c"/bin/t_files"),
        Ok(S_IFREG | 0o755),
    );
    let dev = |p: &CStr| stat(p).map(|s| (s.mode, s.rdev_major(), s.rdev_minor()));
    t.eq(
        "dev_null_char_1_3",
        dev(c"/dev/null"),
        Ok((S_IFCHR | 0o666, 1, 3)),
    );
    t.eq(
        "dev_zero_char_1_5",
        dev(c"/dev/zero"),
        Ok((S_IFCHR | 0o666, 1, 5)),
    );
    t.eq(
        "dev_tty_char_5_0",
        dev(c"/dev/tty"),
        Ok((S_IFCHR | 0o666, 5, 0)),
    );
    t.eq(
        "dev_console_char_5_1",
        dev(c"/dev/console"),
        Ok((S_IFCHR | 0o600, 5, 1)),
    );
    t.eq(
        "root_dotdot_is_root",
        same_file(stat(c"/.."), stat(c"/")),
        Ok(true),
    );
    t.eq("mkdir_base", mkdir(BASE, 0o755), Ok(()));
    let st = stat(BASE);
    t.eq(
        "mkdir_mode_nlink_2",
        st.map(|s| (s.mode, s.nlink)),
        Ok((S_IFDIR | 0o755, 2)),
    );
    t.eq(
        "mkdir_owned_by_root",
        st.map(|s| (s.uid, s.gid)),
        Ok((0, 0)),
    );
}

fn create_read_write(t: &mut Checks) {
    let a = c"/tmp/t_files/a";
    let fd = setup!(t, "create", open(a, O_RDWR | O_CREAT | O_EXCL, 0o644));
    t.eq("create_first_fd_is_3", fd, 3);
    t.errno(
        "create_excl_existing_eexist",
        open(a, O_RDWR | O_CREAT | O_EXCL, 0o644),
        Errno::EEXIST,
    );
    let st = fstat(fd);
    t.eq(
        "create_regular_0644_empty",
        st.map(|s| (s.mode, s.size, s.nlink)),
        Ok((S_IFREG | 0o644, 0, 1)),
    );
    t.eq(
        "create_owned_by_root",
        st.map(|s| (s.uid, s.gid)),
        Ok((0, 0)),
    );
    t.eq("write_11", write(fd, b"hello world"), Ok(11));
    t.eq("fstat_size_11", size(fd), Ok(11));
    t.eq("stat_size_11", stat(a).map(|s| s.size), Ok(11));
    t.eq(
        "stat_and_fstat_same_inode",
        same_file(stat(a), fstat(fd)),
        Ok(true),
    );
    t.eq("offset_after_write", lseek(fd, 0, SEEK_CUR), Ok(11));
    t.eq("seek_set_0", lseek(fd, 0, SEEK_SET), Ok(0));
    let mut buf = [0u8; 64];
    t.eq(
        "read_5",
        read(fd, &mut buf[..5]).map(|n| text(&buf[..n])),
        Ok("hello"),
    );
    t.eq(
        "read_rest",
        read(fd, &mut buf).map(|n| text(&buf[..n])),
        Ok(" world"),
    );
    t.eq("read_at_eof_0", read(fd, &mut buf), Ok(0));
    t.eq("read_0_bytes", read(fd, &mut buf[..0]), Ok(0));
    t.eq(
        "pread_at_6",
        pread_text(fd, &mut buf[..5], 6).map(|s| s == "world"),
        Ok(true),
    );
    t.eq("pread_keeps_offset", lseek(fd, 0, SEEK_CUR), Ok(11));
    t.eq("pwrite_at_6", pwrite(fd, b"WORLD", 6), Ok(5));
    t.eq("pwrite_keeps_offset", lseek(fd, 0, SEEK_CUR), Ok(11));
    t.eq(
        "pwrite_landed",
        pread_text(fd, &mut buf, 0).map(|s| s == "hello WORLD"),
        Ok(true),
    );
    t.eq("seek_end_0", lseek(fd, 0, SEEK_END), Ok(11));
    t.eq("seek_end_minus_5", lseek(fd, -5, SEEK_END), Ok(6));
    t.eq("seek_cur_plus_2", lseek(fd, 2, SEEK_CUR), Ok(8));
    t.errno(
        "seek_set_negative_einval",
        lseek(fd, -1, SEEK_SET),
        Errno::EINVAL,
    );
    t.errno(
        "seek_cur_before_start_einval",
        lseek(fd, -100, SEEK_CUR),
        Errno::EINVAL,
    );
    t.errno("seek_bad_whence_einval", lseek(fd, 0, 5), Errno::EINVAL);
    t.eq("failed_seeks_keep_offset", lseek(fd, 0, SEEK_CUR), Ok(8));

    // Holes read as zeros.
    t.eq("seek_past_end", lseek(fd, 100, SEEK_SET), Ok(100));
    t.eq("seek_past_end_keeps_size", size(fd), Ok(11));
    t.eq("write_past_end", write(fd, b"X"), Ok(1));
    t.eq("size_after_hole_101", size(fd), Ok(101));
    let mut hole = [0xaau8; 89];
    t.eq("read_hole_89", pread(fd, &mut hole, 11), Ok(89));
    t.eq("hole_reads_zeros", hole.iter().all(|&b| b == 0), true);
    t.eq(
        "byte_after_hole",
        pread_text(fd, &mut buf[..8], 100),
        Ok("X"),
    );
    t.eq("pwrite_far", pwrite(fd, b"Y", 8191), Ok(1));
    t.eq("size_8192", size(fd), Ok(8192));
    let mut page = [0xaau8; 4096];
    t.eq("pread_page_of_hole", pread(fd, &mut page, 4096), Ok(4096));
    t.eq(
        "page_of_hole_zeros_then_y",
        page[..4095].iter().all(|&b| b == 0) && page[4095] == b'Y',
        true,
    );
    t.eq("pread_at_eof_0", pread(fd, &mut buf, 8192), Ok(0));
    t.eq("pread_far_past_eof_0", pread(fd, &mut buf, 1 << 40), Ok(0));
    t.errno(
        "pread_negative_einval",
        pread(fd, &mut buf, -1),
        Errno::EINVAL,
    );
    t.errno(
        "pwrite_negative_einval",
        pwrite(fd, b"z", -1),
        Errno::EINVAL,
    );
    t.eq("close", close(fd), Ok(()));

    // O_CREAT without O_EXCL opens what exists; the mode is not applied.
    let fd = setup!(t, "reopen", open(a, O_RDWR | O_CREAT, 0o600));
    t.eq(
        "creat_existing_keeps_mode_and_data",
        fstat(fd).map(|s| (s.mode, s.size)),
        Ok((S_IFREG | 0o644, 8192)),
    );
    let _ = close(fd);
    let fd = setup!(t, "open_trunc", open(a, O_WRONLY | O_TRUNC, 0));
    t.eq("trunc_empties", size(fd), Ok(0));
    let _ = close(fd);
    let _ = put(a, b"12345");
    let fd = setup!(t, "open_rdonly_trunc", open(a, O_RDONLY | O_TRUNC, 0));
    t.eq("trunc_with_rdonly_truncates", size(fd), Ok(0));
    let _ = close(fd);

    // O_APPEND.
    let _ = put(a, b"12345");
    let fd = setup!(t, "open_append", open(a, O_WRONLY | O_APPEND, 0));
    t.eq("append_starts_at_0", lseek(fd, 0, SEEK_CUR), Ok(0));
    t.eq("append_write", write(fd, b"abc"), Ok(3));
    t.eq("append_offset_at_end", lseek(fd, 0, SEEK_CUR), Ok(8));
    t.eq("append_seek_0", lseek(fd, 0, SEEK_SET), Ok(0));
    t.eq("append_write_after_seek", write(fd, b"de"), Ok(2));
    t.eq("append_offset_10", lseek(fd, 0, SEEK_CUR), Ok(10));
    t.eq("append_pwrite_appends_too", pwrite(fd, b"Z", 0), Ok(1));
    t.eq("append_contents", file_text(a, &mut buf), Ok("12345abcdeZ"));
    t.errno("read_write_only_ebadf", read(fd, &mut buf), Errno::EBADF);
    t.errno(
        "pread_write_only_ebadf",
        pread(fd, &mut buf, 0),
        Errno::EBADF,
    );
    let _ = close(fd);
    let fd = setup!(t, "open_rdonly", open(a, O_RDONLY, 0));
    t.errno("write_read_only_ebadf", write(fd, b"x"), Errno::EBADF);
    t.errno("pwrite_read_only_ebadf", pwrite(fd, b"x", 0), Errno::EBADF);
    let _ = close(fd);

    // Vectors.
    let fd = setup!(t, "open_rdwr", open(a, O_RDWR | O_TRUNC, 0));
    t.eq(
        "writev_3_buffers",
        writev(fd, &[b"ab", b"", b"cdef"]),
        Ok(6),
    );
    t.eq("writev_offset", lseek(fd, 0, SEEK_SET), Ok(0));
    let (mut x, mut y) = ([0u8; 3], [0u8; 10]);
    t.eq("readv_2_buffers", readv(fd, &mut [&mut x, &mut y]), Ok(6));
    t.eq(
        "readv_fills_in_order",
        (text(&x), text(&y[..3])),
        ("abc", "def"),
    );
    let _ = close(fd);

    // The umask.
    let b = c"/tmp/t_files/umask_b";
    t.eq("umask_set_077", umask(0o077), 0o022);
    let fd = open(b, O_WRONLY | O_CREAT, 0o666);
    t.eq("umask_077_create_0600", mode(b), Ok(S_IFREG | 0o600));
    let _ = fd.map(close);
    t.eq("umask_set_0", umask(0), 0o077);
    let c = c"/tmp/t_files/umask_c";
    let fd = open(c, O_WRONLY | O_CREAT, 0o777);
    t.eq("umask_0_create_0777", mode(c), Ok(S_IFREG | 0o777));
    let _ = fd.map(close);
    t.eq("umask_set_027", umask(0o027), 0);
    let d = c"/tmp/t_files/umask_d";
    let _ = mkdir(d, 0o777);
    t.eq("umask_027_mkdir_0750", mode(d), Ok(S_IFDIR | 0o750));
    t.eq("umask_masks_to_0777", umask(0o7777), 0o027);
    t.eq("umask_reads_back_0777", umask(0o022), 0o777);
    if let Ok(fd) = open(c, O_RDONLY, 0) {
        let _ = fchmod(fd, 0o777);
        t.eq("fchmod_ignores_umask", mode(c), Ok(S_IFREG | 0o777));
        let _ = close(fd);
    }
}

fn hard_links(t: &mut Checks) {
    let a = c"/tmp/t_files/la";
    let b = c"/tmp/t_files/lb";
    setup!(t, "link_setup", put(a, b"shared"));
    t.eq("link", link(a, b), Ok(()));
    t.eq("link_nlink_2", stat(a).map(|s| s.nlink), Ok(2));
    t.eq("link_other_nlink_2", stat(b).map(|s| s.nlink), Ok(2));
    t.eq("link_same_inode", same_file(stat(a), stat(b)), Ok(true));
    let fb = setup!(t, "open_link", open(b, O_RDWR, 0));
    t.eq("write_through_link", pwrite(fb, b"SH", 0), Ok(2));
    let mut buf = [0u8; 64];
    t.eq(
        "read_through_other_name",
        file_text(a, &mut buf),
        Ok("SHared"),
    );
    t.errno("link_existing_eexist", link(a, b), Errno::EEXIST);
    t.errno(
        "link_missing_enoent",
        link(c"/tmp/t_files/none", c"/tmp/t_files/lc"),
        Errno::ENOENT,
    );
    t.errno(
        "link_directory_eperm",
        link(BASE, c"/tmp/t_files/ldir"),
        Errno::EPERM,
    );
    t.eq("unlink_one_name", unlink(a), Ok(()));
    t.eq("unlink_nlink_1", fstat(fb).map(|s| s.nlink), Ok(1));
    t.errno("unlinked_name_gone", stat(a), Errno::ENOENT);
    t.errno("unlink_again_enoent", unlink(a), Errno::ENOENT);
    t.eq(
        "other_name_keeps_data",
        file_text(b, &mut buf),
        Ok("SHared"),
    );
    t.eq("unlink_last_name", unlink(b), Ok(()));
    t.eq("open_unlinked_nlink_0", fstat(fb).map(|s| s.nlink), Ok(0));
    t.eq(
        "open_unlinked_still_reads",
        pread_text(fb, &mut buf, 0).map(|s| s == "SHared"),
        Ok(true),
    );
    t.eq("open_unlinked_still_writes", pwrite(fb, b"!", 6), Ok(1));
    t.eq("open_unlinked_size", size(fb), Ok(7));
    let _ = close(fb);
    t.errno("no_name_left", stat(b), Errno::ENOENT);
}

fn symlinks(t: &mut Checks) {
    let target = c"/tmp/t_files/target";
    let sl = c"/tmp/t_files/sl";
    setup!(t, "symlink_setup", put(target, b"target data"));
    t.eq("symlink", symlink(c"target", sl), Ok(()));
    let mut buf = [0u8; 64];
    t.eq(
        "readlink",
        readlink(sl, &mut buf).map(|n| text(&buf[..n])),
        Ok("target"),
    );
    let mut small = [0u8; 3];
    t.eq(
        "readlink_cut_to_buffer",
        readlink(sl, &mut small).map(|n| n == 3 && &small == b"tar"),
        Ok(true),
    );
    t.errno(
        "readlink_not_a_link_einval",
        readlink(target, &mut buf),
        Errno::EINVAL,
    );
    t.errno(
        "readlink_missing_enoent",
        readlink(c"/tmp/t_files/none", &mut buf),
        Errno::ENOENT,
    );
    t.errno(
        "readlink_zero_size_einval",
        readlink(sl, &mut buf[..0]),
        Errno::EINVAL,
    );
    t.eq(
        "lstat_link_0777_size_6",
        lstat(sl).map(|s| (s.mode, s.size)),
        Ok((S_IFLNK | 0o777, 6)),
    );
    t.eq("stat_follows", mode(sl), Ok(S_IFREG | 0o644));
    t.eq(
        "stat_follows_to_target_inode",
        same_file(stat(sl), stat(target)),
        Ok(true),
    );
    t.eq("open_follows", file_text(sl, &mut buf), Ok("target data"));
    t.errno(
        "open_nofollow_eloop",
        open(sl, O_RDONLY | O_NOFOLLOW, 0),
        Errno::ELOOP,
    );
    t.errno(
        "symlink_over_existing_eexist",
        symlink(c"x", sl),
        Errno::EEXIST,
    );
    t.errno(
        "creat_excl_on_symlink_eexist",
        open(sl, O_WRONLY | O_CREAT | O_EXCL, 0o644),
        Errno::EEXIST,
    );
    t.errno(
        "symlink_empty_target_enoent",
        symlink(c"", c"/tmp/t_files/empty"),
        Errno::ENOENT,
    );

    let (l1, l2) = (c"/tmp/t_files/loop1", c"/tmp/t_files/loop2");
    let _ = symlink(c"loop2", l1);
    let _ = symlink(c"loop1", l2);
    t.errno("open_loop_eloop", open(l1, O_RDONLY, 0), Errno::ELOOP);
    t.errno("stat_loop_eloop", stat(l1), Errno::ELOOP);
    t.eq(
        "lstat_loop_is_link",
        lstat(l1).map(|s| s.kind()),
        Ok(S_IFLNK),
    );
    let me = c"/tmp/t_files/self";
    let _ = symlink(c"self", me);
    t.errno("open_self_loop_eloop", open(me, O_RDONLY, 0), Errno::ELOOP);
    t.errno(
        "loop_as_directory_eloop",
        stat(c"/tmp/t_files/loop1/x"),
        Errno::ELOOP,
    );

    let dang = c"/tmp/t_files/dangling";
    let _ = symlink(c"/tmp/t_files/made_through_link", dang);
    t.errno(
        "open_dangling_enoent",
        open(dang, O_RDONLY, 0),
        Errno::ENOENT,
    );
    t.errno("stat_dangling_enoent", stat(dang), Errno::ENOENT);
    t.eq(
        "lstat_dangling_is_link",
        lstat(dang).map(|s| s.kind()),
        Ok(S_IFLNK),
    );
    let fd = open(dang, O_WRONLY | O_CREAT, 0o600);
    t.check(
        "creat_through_dangling_link",
        fd.is_ok(),
        format_args!("{fd:?}"),
    );
    let _ = fd.map(close);
    t.eq(
        "creat_through_dangling_made_target",
        mode(c"/tmp/t_files/made_through_link"),
        Ok(S_IFREG | 0o600),
    );

    let _ = mkdir(c"/tmp/t_files/realdir", 0o755);
    let dl = c"/tmp/t_files/dirlink";
    let _ = symlink(c"realdir", dl);
    t.eq(
        "create_through_dir_link",
        put(c"/tmp/t_files/dirlink/inner", b"in"),
        Ok(()),
    );
    t.eq(
        "dir_link_created_in_target",
        file_text(c"/tmp/t_files/realdir/inner", &mut buf),
        Ok("in"),
    );
    t.eq(
        "lstat_trailing_slash_follows",
        lstat(c"/tmp/t_files/dirlink/").map(|s| s.kind()),
        Ok(S_IFDIR),
    );
    t.errno(
        "open_dir_link_nofollow_eloop",
        open(dl, O_RDONLY | O_NOFOLLOW, 0),
        Errno::ELOOP,
    );
    // With O_DIRECTORY too, Linux checks "is a directory" first: the link is not one.
    t.errno(
        "open_dir_link_nofollow_directory_enotdir",
        open(dl, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0),
        Errno::ENOTDIR,
    );
    let abs = c"/tmp/t_files/abslink";
    let _ = symlink(c"/tmp/t_files/realdir/../target", abs);
    t.eq(
        "absolute_link_with_dotdot",
        file_text(abs, &mut buf),
        Ok("target data"),
    );
    let mut chain = [c"/tmp/t_files/c1", c"/tmp/t_files/c2", c"/tmp/t_files/c3"];
    let _ = symlink(c"target", chain[0]);
    let _ = symlink(c"c1", chain[1]);
    let _ = symlink(c"c2", chain[2]);
    chain.reverse();
    t.eq(
        "chain_of_links",
        file_text(chain[0], &mut buf),
        Ok("target data"),
    );
    t.eq("unlink_symlink", unlink(sl), Ok(()));
    t.eq(
        "unlink_symlink_lstat_gone",
        lstat(sl).map(drop),
        Err(Errno::ENOENT),
    );
    t.eq(
        "unlink_symlink_keeps_target",
        file_text(target, &mut buf),
        Ok("target data"),
    );
}

fn directories(t: &mut Checks) {
    let d = c"/tmp/t_files/d";
    t.eq("mkdir", mkdir(d, 0o755), Ok(()));
    t.eq(
        "mkdir_dir_0755_nlink_2",
        stat(d).map(|s| (s.mode, s.nlink)),
        Ok((S_IFDIR | 0o755, 2)),
    );
    t.errno("mkdir_existing_eexist", mkdir(d, 0o755), Errno::EEXIST);
    t.errno(
        "mkdir_over_file_eexist",
        mkdir(c"/tmp/t_files/a", 0o755),
        Errno::EEXIST,
    );
    t.errno(
        "mkdir_under_file_enotdir",
        mkdir(c"/tmp/t_files/a/x", 0o755),
        Errno::ENOTDIR,
    );
    t.errno(
        "mkdir_missing_parent_enoent",
        mkdir(c"/tmp/t_files/none/x", 0o755),
        Errno::ENOENT,
    );
    t.eq(
        "mkdir_trailing_slash",
        mkdir(c"/tmp/t_files/d2/", 0o755),
        Ok(()),
    );
    t.eq("rmdir_trailing_slash", rmdir(c"/tmp/t_files/d2/"), Ok(()));
    setup!(t, "dir_setup_f1", put(c"/tmp/t_files/d/f1", b"1"));
    setup!(t, "dir_setup_f2", put(c"/tmp/t_files/d/f2", b"22"));
    setup!(t, "dir_setup_sub", mkdir(c"/tmp/t_files/d/sub", 0o755));
    t.eq("subdir_adds_a_link", stat(d).map(|s| s.nlink), Ok(3));
    t.errno("rmdir_not_empty_enotempty", rmdir(d), Errno::ENOTEMPTY);
    t.errno("unlink_dir_eisdir", unlink(d), Errno::EISDIR);
    t.errno(
        "rmdir_file_enotdir",
        rmdir(c"/tmp/t_files/d/f1"),
        Errno::ENOTDIR,
    );
    t.errno(
        "open_dir_wronly_eisdir",
        open(d, O_WRONLY, 0),
        Errno::EISDIR,
    );
    t.errno("open_dir_rdwr_eisdir", open(d, O_RDWR, 0), Errno::EISDIR);
    t.errno(
        "open_dir_creat_eisdir",
        open(d, O_RDONLY | O_CREAT, 0o644),
        Errno::EISDIR,
    );
    t.errno(
        "open_file_o_directory_enotdir",
        open(c"/tmp/t_files/d/f1", O_RDONLY | O_DIRECTORY, 0),
        Errno::ENOTDIR,
    );
    t.errno(
        "open_file_trailing_slash_enotdir",
        open(c"/tmp/t_files/d/f1/", O_RDONLY, 0),
        Errno::ENOTDIR,
    );
    t.errno(
        "creat_trailing_slash_eisdir",
        open(c"/tmp/t_files/d/new/", O_WRONLY | O_CREAT, 0o644),
        Errno::EISDIR,
    );
    t.errno(
        "o_directory_missing_enoent",
        open(c"/tmp/t_files/d/none", O_RDONLY | O_DIRECTORY, 0),
        Errno::ENOENT,
    );
    let fd = setup!(t, "open_dir", open(d, O_RDONLY | O_DIRECTORY, 0));
    let mut buf = [0u8; 64];
    t.errno("read_dir_eisdir", read(fd, &mut buf), Errno::EISDIR);
    t.errno("write_dir_ebadf", write(fd, b"x"), Errno::EBADF);
    let mut l = setup!(t, "getdents64", Listing::read(fd, 4096));
    t.eq(
        "getdents_names_and_types",
        l.names().as_str(),
        ".:4 ..:4 f1:8 f2:8 sub:4",
    );
    t.eq("getdents_reclen_linux_layout", l.bad_reclen, false);
    t.eq("getdents_one_call", l.calls, 1);
    let ino = |name: &[u8], p: &CStr| {
        let want = stat(p).ok().map(|s| s.ino);
        l.ino(name).zip(want).map(|(got, want)| got == want)
    };
    t.eq("getdents_dot_inode", ino(b".", d), Some(true));
    t.eq("getdents_dotdot_inode", ino(b"..", BASE), Some(true));
    t.eq(
        "getdents_file_inode",
        ino(b"f1", c"/tmp/t_files/d/f1"),
        Some(true),
    );
    t.eq("getdents_at_end_0", getdents64(fd, &mut buf), Ok(0));
    t.eq("getdents_rewind", lseek(fd, 0, SEEK_SET), Ok(0));
    t.errno(
        "getdents_buffer_too_small_einval",
        getdents64(fd, &mut buf[..16]),
        Errno::EINVAL,
    );
    let mut again = setup!(t, "getdents64_small", Listing::read(fd, 48));
    t.eq(
        "getdents_48_byte_chunks_same_names",
        again.names().as_str(),
        ".:4 ..:4 f1:8 f2:8 sub:4",
    );
    // Five 24-byte records, as many as fit per call: 2, 2, 1.
    t.eq("getdents_48_byte_chunks_3_calls", again.calls, 3);
    let _ = close(fd);
    let ffd = setup!(t, "open_file", open(c"/tmp/t_files/d/f1", O_RDONLY, 0));
    t.errno(
        "getdents_file_enotdir",
        getdents64(ffd, &mut buf),
        Errno::ENOTDIR,
    );
    let _ = close(ffd);
    t.errno(
        "getdents_bad_fd_ebadf",
        getdents64(99, &mut buf),
        Errno::EBADF,
    );
    t.eq(
        "getdents_empty_dir",
        Listing::of(c"/tmp/t_files/d/sub", 4096)
            .map(|mut l| l.names())
            .as_ref()
            .map(Text::as_str),
        Ok(".:4 ..:4"),
    );
    t.errno(
        "rmdir_dot_einval",
        rmdir(c"/tmp/t_files/d/sub/."),
        Errno::EINVAL,
    );
    t.errno(
        "rmdir_dotdot_enotempty",
        rmdir(c"/tmp/t_files/d/sub/.."),
        Errno::ENOTEMPTY,
    );
    t.eq("rmdir_empty", rmdir(c"/tmp/t_files/d/sub"), Ok(()));
    t.eq("rmdir_drops_a_link", stat(d).map(|s| s.nlink), Ok(2));
    t.eq("unlink_in_dir", unlink(c"/tmp/t_files/d/f1"), Ok(()));
    t.eq(
        "getdents_after_removals",
        Listing::of(d, 4096)
            .map(|mut l| l.names())
            .as_ref()
            .map(Text::as_str),
        Ok(".:4 ..:4 f2:8"),
    );
    let _ = unlink(c"/tmp/t_files/d/f2");
    t.eq("rmdir_emptied", rmdir(d), Ok(()));
    t.errno("rmdir_gone_enoent", stat(d), Errno::ENOENT);
    t.errno("rmdir_again_enoent", rmdir(d), Errno::ENOENT);

    // Many entries, read 256 bytes at a time: each name exactly once.
    let m = c"/tmp/t_files/many";
    setup!(t, "many_mkdir", mkdir(m, 0o755));
    let mut made = true;
    for i in 0..60u64 {
        let mut p = PathBuf::<64>::new(m.to_bytes());
        p.push(b"/n").number(i);
        made &= put(p.as_cstr(), b"").is_ok();
    }
    t.eq("many_created", made, true);
    let mut l = setup!(t, "many_getdents64", Listing::of(m, 256));
    // What the listing must hold: ".", ".." and n0..n59, sorted as bytes.
    let mut names = [([0u8; 8], 0usize); 62];
    names[0] = (*b".\0\0\0\0\0\0\0", 1);
    names[1] = (*b"..\0\0\0\0\0\0", 2);
    for (i, slot) in names[2..].iter_mut().enumerate() {
        let mut n = PathBuf::<8>::new(b"n");
        n.number(i as u64);
        slot.0[..n.len()].copy_from_slice(n.as_bytes());
        slot.1 = n.len();
    }
    names.sort_unstable_by(|a, b| a.0[..a.1].cmp(&b.0[..b.1]));
    let mut want = Text::<1024>::new();
    for (i, (name, len)) in names.iter().enumerate() {
        let name = &name[..*len];
        let kind = if name.starts_with(b".") {
            DT_DIR
        } else {
            DT_REG
        };
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(want, "{sep}{}:{kind}", text(name));
    }
    t.eq("many_listing_complete", l.names().as_str(), want.as_str());
    t.eq("many_no_overflow", (l.count, l.overflow), (62, false));
    // 62 records of 24 bytes, ten per 256-byte call.
    t.eq("many_took_7_calls", l.calls, 7);
    let mut removed = true;
    for i in 0..60u64 {
        let mut p = PathBuf::<64>::new(m.to_bytes());
        p.push(b"/n").number(i);
        removed &= unlink(p.as_cstr()).is_ok();
    }
    t.eq("many_removed", removed, true);
    t.eq("many_rmdir", rmdir(m), Ok(()));
}

fn renames(t: &mut Checks) {
    let (a, b) = (c"/tmp/t_files/ra", c"/tmp/t_files/rb");
    setup!(t, "rename_setup_a", put(a, b"AAA"));
    setup!(t, "rename_setup_b", put(b, b"BBB"));
    let ino_a = stat(a).map(|s| s.ino);
    let mut buf = [0u8; 64];
    t.eq("rename_over_file", rename(a, b), Ok(()));
    t.errno("rename_old_name_gone", stat(a), Errno::ENOENT);
    t.eq(
        "rename_new_name_has_data",
        file_text(b, &mut buf),
        Ok("AAA"),
    );
    t.eq("rename_keeps_inode", stat(b).map(|s| s.ino), ino_a);
    t.eq("rename_onto_itself", rename(b, b), Ok(()));
    t.eq(
        "rename_onto_itself_keeps",
        file_text(b, &mut buf),
        Ok("AAA"),
    );
    t.errno(
        "rename_missing_enoent",
        rename(a, c"/tmp/t_files/rx"),
        Errno::ENOENT,
    );
    let c = c"/tmp/t_files/rc";
    setup!(t, "rename_setup_c", put(c, b"CCC"));
    t.errno(
        "rename_noreplace_eexist",
        renameat2(AT_FDCWD, b, AT_FDCWD, c, RENAME_NOREPLACE),
        Errno::EEXIST,
    );
    t.eq(
        "rename_noreplace_left_both",
        (file_text(b, &mut [0; 8]), file_text(c, &mut [0; 8])),
        (Ok("AAA"), Ok("CCC")),
    );
    let n = c"/tmp/t_files/rnew";
    t.eq(
        "rename_noreplace_to_free_name",
        renameat2(AT_FDCWD, b, AT_FDCWD, n, RENAME_NOREPLACE),
        Ok(()),
    );
    t.errno(
        "renameat2_unknown_flag_einval",
        renameat2(AT_FDCWD, n, AT_FDCWD, b, 0x100),
        Errno::EINVAL,
    );
    t.errno(
        "renameat2_noreplace_exchange_einval",
        renameat2(AT_FDCWD, n, AT_FDCWD, c, RENAME_NOREPLACE | RENAME_EXCHANGE),
        Errno::EINVAL,
    );

    let rd = c"/tmp/t_files/rd";
    setup!(t, "rename_setup_dir", mkdir(rd, 0o755));
    setup!(
        t,
        "rename_setup_subdir",
        mkdir(c"/tmp/t_files/rd/sub", 0o755)
    );
    t.errno(
        "rename_dir_into_own_subdir_einval",
        rename(rd, c"/tmp/t_files/rd/sub/x"),
        Errno::EINVAL,
    );
    t.errno(
        "rename_dir_onto_own_subdir_einval",
        rename(rd, c"/tmp/t_files/rd/sub"),
        Errno::EINVAL,
    );
    t.errno(
        "rename_subdir_onto_ancestor_enotempty",
        rename(c"/tmp/t_files/rd/sub", rd),
        Errno::ENOTEMPTY,
    );
    t.errno("rename_file_over_dir_eisdir", rename(c, rd), Errno::EISDIR);
    t.errno(
        "rename_dir_over_file_enotdir",
        rename(rd, c),
        Errno::ENOTDIR,
    );
    let full = c"/tmp/t_files/rfull";
    let _ = mkdir(full, 0o755);
    let _ = put(c"/tmp/t_files/rfull/x", b"x");
    t.errno(
        "rename_dir_over_nonempty_enotempty",
        rename(rd, full),
        Errno::ENOTEMPTY,
    );
    let empty = c"/tmp/t_files/rempty";
    let _ = mkdir(empty, 0o755);
    t.eq("rename_dir_over_empty_dir", rename(rd, empty), Ok(()));
    t.errno("rename_dir_old_gone", stat(rd), Errno::ENOENT);
    t.eq(
        "rename_dir_moved_its_contents",
        mode(c"/tmp/t_files/rempty/sub"),
        Ok(S_IFDIR | 0o755),
    );
    t.eq(
        "rename_into_other_dir",
        rename(n, c"/tmp/t_files/rfull/moved"),
        Ok(()),
    );
    t.eq(
        "rename_into_other_dir_data",
        file_text(c"/tmp/t_files/rfull/moved", &mut buf),
        Ok("AAA"),
    );
    t.eq(
        "rename_subdir_between_parents",
        rename(c"/tmp/t_files/rempty/sub", c"/tmp/t_files/rfull/sub"),
        Ok(()),
    );
    t.eq(
        "rename_subdir_parent_links",
        (stat(empty).map(|s| s.nlink), stat(full).map(|s| s.nlink)),
        (Ok(2), Ok(3)),
    );
    t.errno(
        "rename_dot_ebusy",
        rename(c"/tmp/t_files/rempty/.", c"/tmp/t_files/rdot"),
        Errno::EBUSY,
    );
    t.errno(
        "rename_under_file_enotdir",
        rename(c, c"/tmp/t_files/a/x"),
        Errno::ENOTDIR,
    );
}

fn working_directory(t: &mut Checks) {
    let mut buf = [0u8; 256];
    t.eq("chdir_base", chdir(BASE), Ok(()));
    t.eq("getcwd_base", cwd(&mut buf), Ok("/tmp/t_files"));
    t.eq("getcwd_length", getcwd(&mut buf), Ok(13));
    t.eq("getcwd_exact_fit", getcwd(&mut buf[..13]), Ok(13));
    t.errno(
        "getcwd_one_short_erange",
        getcwd(&mut buf[..12]),
        Errno::ERANGE,
    );
    t.errno("getcwd_size_0_erange", getcwd(&mut buf[..0]), Errno::ERANGE);
    t.eq("relative_create", put(c"rel", b"relative"), Ok(()));
    t.eq(
        "relative_is_in_cwd",
        file_text(c"/tmp/t_files/rel", &mut [0; 16]),
        Ok("relative"),
    );
    t.eq(
        "dot_slash_path",
        file_text(c"./rel", &mut [0; 16]),
        Ok("relative"),
    );
    t.eq(
        "dotdot_path",
        file_text(c"../t_files/./rel", &mut [0; 16]),
        Ok("relative"),
    );
    t.eq("relative_mkdir", mkdir(c"cd", 0o755), Ok(()));
    t.eq("chdir_relative", chdir(c"cd"), Ok(()));
    t.eq("getcwd_nested", cwd(&mut buf), Ok("/tmp/t_files/cd"));
    t.eq("chdir_dotdot", chdir(c".."), Ok(()));
    t.eq("getcwd_back", cwd(&mut buf), Ok("/tmp/t_files"));
    t.errno("chdir_file_enotdir", chdir(c"rel"), Errno::ENOTDIR);
    t.errno("chdir_missing_enoent", chdir(c"none"), Errno::ENOENT);
    t.errno("chdir_empty_enoent", chdir(c""), Errno::ENOENT);
    t.eq("failed_chdirs_keep_cwd", cwd(&mut buf), Ok("/tmp/t_files"));
    let root = setup!(t, "open_root", open(c"/", O_RDONLY | O_DIRECTORY, 0));
    t.eq("fchdir_root", fchdir(root), Ok(()));
    t.eq("getcwd_after_fchdir", cwd(&mut buf), Ok("/"));
    t.eq(
        "relative_after_fchdir",
        file_text(c"tmp/t_files/rel", &mut [0; 16]),
        Ok("relative"),
    );
    let _ = close(root);
    let f = setup!(t, "open_rel", open(c"/tmp/t_files/rel", O_RDONLY, 0));
    t.errno("fchdir_file_enotdir", fchdir(f), Errno::ENOTDIR);
    let _ = close(f);
    t.errno("fchdir_bad_fd_ebadf", fchdir(99), Errno::EBADF);
    t.eq("chdir_to_doomed", chdir(c"/tmp/t_files/cd"), Ok(()));
    t.eq("rmdir_cwd", rmdir(c"/tmp/t_files/cd"), Ok(()));
    t.errno("getcwd_removed_enoent", getcwd(&mut buf), Errno::ENOENT);
    t.errno(
        "create_in_removed_cwd_enoent",
        open(c"x", O_WRONLY | O_CREAT, 0o644),
        Errno::ENOENT,
    );
    t.eq("chdir_back_to_root", chdir(c"/"), Ok(()));
    t.eq("getcwd_root_again", cwd(&mut buf), Ok("/"));
}

fn at_calls(t: &mut Checks) {
    let dir = c"/tmp/t_files/at";
    setup!(t, "at_mkdir", mkdir(dir, 0o755));
    let dfd = setup!(t, "at_open_dir", open(dir, O_RDONLY | O_DIRECTORY, 0));
    let fd = setup!(
        t,
        "openat_create",
        openat(dfd, c"f", O_RDWR | O_CREAT | O_EXCL, 0o600)
    );
    t.eq("openat_write", write(fd, b"at"), Ok(2));
    t.eq(
        "openat_made_it_in_dir",
        stat(c"/tmp/t_files/at/f").map(|s| (s.mode, s.size)),
        Ok((S_IFREG | 0o600, 2)),
    );
    t.eq(
        "fstatat_relative",
        same_file(fstatat(dfd, c"f", 0), fstat(fd)),
        Ok(true),
    );
    t.eq(
        "fstatat_empty_path",
        same_file(fstatat(fd, c"", AT_EMPTY_PATH), fstat(fd)),
        Ok(true),
    );
    t.errno(
        "fstatat_empty_path_without_flag_enoent",
        fstatat(fd, c"", 0),
        Errno::ENOENT,
    );
    t.errno(
        "fstatat_unknown_flag_einval",
        fstatat(dfd, c"f", 1),
        Errno::EINVAL,
    );
    t.eq("mkdirat", mkdirat(dfd, c"sub", 0o700), Ok(()));
    t.eq(
        "mkdirat_mode",
        mode(c"/tmp/t_files/at/sub"),
        Ok(S_IFDIR | 0o700),
    );
    t.eq("symlinkat", symlinkat(c"f", dfd, c"lnk"), Ok(()));
    let mut buf = [0u8; 16];
    t.eq(
        "readlinkat",
        readlinkat(dfd, c"lnk", &mut buf).map(|n| text(&buf[..n])),
        Ok("f"),
    );
    t.eq(
        "fstatat_nofollow",
        fstatat(dfd, c"lnk", AT_SYMLINK_NOFOLLOW).map(|s| s.kind()),
        Ok(S_IFLNK),
    );
    t.eq(
        "fstatat_follows",
        fstatat(dfd, c"lnk", 0).map(|s| s.kind()),
        Ok(S_IFREG),
    );
    t.eq("linkat", linkat(dfd, c"f", dfd, c"hard", 0), Ok(()));
    t.eq("linkat_nlink_2", fstat(fd).map(|s| s.nlink), Ok(2));
    t.eq(
        "linkat_symlink_not_followed",
        linkat(dfd, c"lnk", dfd, c"lnk2", 0),
        Ok(()),
    );
    t.eq(
        "linkat_symlink_not_followed_is_link",
        fstatat(dfd, c"lnk2", AT_SYMLINK_NOFOLLOW).map(|s| (s.kind(), s.nlink)),
        Ok((S_IFLNK, 2)),
    );
    t.eq(
        "linkat_symlink_follow",
        linkat(dfd, c"lnk", dfd, c"hard2", AT_SYMLINK_FOLLOW),
        Ok(()),
    );
    t.eq("linkat_follow_nlink_3", fstat(fd).map(|s| s.nlink), Ok(3));
    t.errno(
        "linkat_unknown_flag_einval",
        linkat(dfd, c"f", dfd, c"hard3", 1),
        Errno::EINVAL,
    );
    t.eq(
        "renameat2_relative",
        renameat2(dfd, c"hard", dfd, c"sub/hard", 0),
        Ok(()),
    );
    t.eq(
        "renameat2_landed",
        stat(c"/tmp/t_files/at/sub/hard").map(|s| s.kind()),
        Ok(S_IFREG),
    );
    t.eq(
        "faccessat_relative",
        faccessat(dfd, c"f", R_OK | W_OK),
        Ok(()),
    );
    t.eq("fchmodat_relative", fchmodat(dfd, c"f", 0o640), Ok(()));
    t.eq(
        "fchmodat_shown",
        fstat(fd).map(|s| s.mode),
        Ok(S_IFREG | 0o640),
    );
    t.errno(
        "unlinkat_dir_without_flag_eisdir",
        unlinkat(dfd, c"sub", 0),
        Errno::EISDIR,
    );
    t.eq("unlinkat_file", unlinkat(dfd, c"sub/hard", 0), Ok(()));
    t.eq(
        "unlinkat_removedir",
        unlinkat(dfd, c"sub", AT_REMOVEDIR),
        Ok(()),
    );
    t.errno(
        "unlinkat_removedir_on_file_enotdir",
        unlinkat(dfd, c"f", AT_REMOVEDIR),
        Errno::ENOTDIR,
    );
    t.errno(
        "unlinkat_unknown_flag_einval",
        unlinkat(dfd, c"f", 1),
        Errno::EINVAL,
    );
    t.errno(
        "openat_file_as_dirfd_enotdir",
        openat(fd, c"x", O_RDONLY, 0),
        Errno::ENOTDIR,
    );
    t.errno(
        "openat_closed_dirfd_ebadf",
        openat(99, c"x", O_RDONLY, 0),
        Errno::EBADF,
    );
    let abs = openat(99, c"/tmp/t_files/at/f", O_RDONLY, 0);
    t.check(
        "openat_absolute_ignores_dirfd",
        abs.is_ok(),
        format_args!("{abs:?}"),
    );
    let _ = abs.map(close);
    t.eq(
        "openat_dotdot_from_dirfd",
        same_file(fstatat(dfd, c"..", 0), stat(BASE)),
        Ok(true),
    );
    let _ = close(fd);
    // The directory descriptor outlives its directory's name.
    let _ = unlinkat(dfd, c"f", 0);
    let _ = unlinkat(dfd, c"hard2", 0);
    let _ = unlinkat(dfd, c"lnk", 0);
    let _ = unlinkat(dfd, c"lnk2", 0);
    t.eq("rmdir_open_dir", rmdir(dir), Ok(()));
    t.errno(
        "openat_in_removed_dir_enoent",
        openat(dfd, c"new", O_WRONLY | O_CREAT, 0o644),
        Errno::ENOENT,
    );
    t.eq(
        "fstat_removed_dir_nlink_0",
        fstat(dfd).map(|s| s.nlink),
        Ok(0),
    );
    let _ = close(dfd);
}

fn truncate(t: &mut Checks) {
    let p = c"/tmp/t_files/tr";
    let fd = setup!(t, "trunc_open", open(p, O_RDWR | O_CREAT | O_TRUNC, 0o644));
    let _ = write(fd, b"abcdef");
    let mut buf = [0xaau8; 64];
    t.eq("ftruncate_shrink", ftruncate(fd, 3), Ok(()));
    t.eq("ftruncate_shrink_size", size(fd), Ok(3));
    t.eq(
        "ftruncate_shrink_data",
        pread_text(fd, &mut buf, 0),
        Ok("abc"),
    );
    t.eq("ftruncate_keeps_offset", lseek(fd, 0, SEEK_CUR), Ok(6));
    t.eq("write_after_shrink", write(fd, b"Z"), Ok(1));
    t.eq(
        "write_after_shrink_leaves_zeros",
        pread(fd, &mut buf, 0).map(|n| &buf[..n] == b"abc\0\0\0Z"),
        Ok(true),
    );
    t.eq("ftruncate_grow", ftruncate(fd, 10), Ok(()));
    t.eq("ftruncate_grow_size", size(fd), Ok(10));
    t.eq(
        "ftruncate_grow_zeros",
        pread(fd, &mut buf, 0).map(|n| &buf[..n] == b"abc\0\0\0Z\0\0\0"),
        Ok(true),
    );
    t.eq("ftruncate_grow_far", ftruncate(fd, 1 << 20), Ok(()));
    let mut last = [0xaau8; 2];
    t.eq(
        "ftruncate_grow_far_last_byte",
        pread(fd, &mut last, (1 << 20) - 1).map(|n| (n, last[0])),
        Ok((1, 0)),
    );
    t.eq("ftruncate_to_0", ftruncate(fd, 0), Ok(()));
    t.eq(
        "ftruncate_to_0_reads_nothing",
        pread(fd, &mut buf, 0),
        Ok(0),
    );
    t.errno(
        "ftruncate_negative_einval",
        ftruncate(fd, -1),
        Errno::EINVAL,
    );
    t.eq("fsync", fsync(fd), Ok(()));
    t.errno("fsync_bad_fd_ebadf", fsync(99), Errno::EBADF);
    t.errno("ftruncate_bad_fd_ebadf", ftruncate(99, 0), Errno::EBADF);
    let _ = close(fd);
    let ro = setup!(t, "trunc_open_ro", open(p, O_RDONLY, 0));
    t.errno(
        "ftruncate_read_only_einval",
        ftruncate(ro, 0),
        Errno::EINVAL,
    );
    let _ = close(ro);
    let dfd = setup!(t, "trunc_open_dir", open(BASE, O_RDONLY | O_DIRECTORY, 0));
    t.errno("ftruncate_dir_einval", ftruncate(dfd, 0), Errno::EINVAL);
    t.eq("fsync_dir", fsync(dfd), Ok(()));
    let _ = close(dfd);
}

fn dup_and_fcntl(t: &mut Checks) {
    let p = c"/tmp/t_files/dup";
    let fd = setup!(t, "dup_open", open(p, O_RDWR | O_CREAT | O_TRUNC, 0o644));
    t.eq("dup_open_is_3", fd, 3);
    let d = setup!(t, "dup", dup(fd));
    t.eq("dup_lowest_free_4", d, 4);
    let _ = write(fd, b"0123456789");
    t.eq("dup_shares_offset", lseek(d, 0, SEEK_CUR), Ok(10));
    t.eq("dup_seek_one", lseek(d, 2, SEEK_SET), Ok(2));
    let mut buf = [0u8; 16];
    t.eq(
        "dup_read_other_at_shared_offset",
        read(fd, &mut buf[..3]).map(|n| text(&buf[..n])),
        Ok("234"),
    );
    t.eq("dup_offset_moved_for_both", lseek(d, 0, SEEK_CUR), Ok(5));
    t.eq("close_original", close(fd), Ok(()));
    t.eq(
        "dup_survives_close",
        pread_text(d, &mut buf, 0).map(|s| s == "0123456789"),
        Ok(true),
    );
    t.eq("getfd_plain_0", fcntl(d, F_GETFD, 0), Ok(0));
    t.eq("dup3_cloexec", dup3(d, 50, O_CLOEXEC), Ok(50));
    t.eq(
        "dup3_cloexec_set",
        fcntl(50, F_GETFD, 0),
        Ok(FD_CLOEXEC as i32),
    );
    t.eq("dup3_leaves_old_flag", fcntl(d, F_GETFD, 0), Ok(0));
    let e = setup!(t, "dup_of_cloexec", dup(50));
    t.eq("dup_of_cloexec_lowest_3", e, 3);
    t.eq("dup_clears_cloexec", fcntl(e, F_GETFD, 0), Ok(0));
    let _ = close(e);
    t.eq(
        "setfd_cloexec",
        fcntl(d, F_SETFD, FD_CLOEXEC as usize),
        Ok(0),
    );
    t.eq("setfd_shown", fcntl(d, F_GETFD, 0), Ok(FD_CLOEXEC as i32));
    t.eq("setfd_clear", fcntl(d, F_SETFD, 0), Ok(0));
    t.eq("setfd_cleared", fcntl(d, F_GETFD, 0), Ok(0));
    t.eq("setfd_other_bits_ignored", fcntl(d, F_SETFD, 0xfe), Ok(0));
    t.eq("setfd_other_bits_not_shown", fcntl(d, F_GETFD, 0), Ok(0));
    t.errno("dup3_same_fd_einval", dup3(d, d, 0), Errno::EINVAL);
    t.errno(
        "dup3_bad_flags_einval",
        dup3(d, 51, O_NONBLOCK),
        Errno::EINVAL,
    );
    t.errno("dup3_closed_old_ebadf", dup3(99, 51, 0), Errno::EBADF);
    t.errno("dup3_negative_new_ebadf", dup3(d, -1, 0), Errno::EBADF);
    t.errno("dup3_huge_new_ebadf", dup3(d, 1 << 20, 0), Errno::EBADF);
    t.errno("dup_closed_ebadf", dup(99), Errno::EBADF);
    t.errno("dup_negative_ebadf", dup(-1), Errno::EBADF);
    let null = setup!(t, "dup_open_null", open(c"/dev/null", O_RDONLY, 0));
    t.eq("dup3_over_open_fd", dup3(d, null, 0), Ok(null));
    t.eq(
        "dup3_over_open_fd_replaced",
        pread_text(null, &mut buf, 0).map(|s| s == "0123456789"),
        Ok(true),
    );
    let _ = close(null);

    // File status flags.
    let w = setup!(t, "getfl_open", open(p, O_WRONLY | O_APPEND, 0));
    t.eq(
        "getfl_wronly_append_largefile",
        fcntl(w, F_GETFL, 0),
        Ok((O_WRONLY | O_APPEND | O_LARGEFILE) as i32),
    );
    let r = setup!(t, "getfl_open_cloexec", open(p, O_RDWR | O_CLOEXEC, 0));
    t.eq(
        "getfl_hides_cloexec",
        fcntl(r, F_GETFL, 0),
        Ok((O_RDWR | O_LARGEFILE) as i32),
    );
    t.eq(
        "getfd_from_o_cloexec",
        fcntl(r, F_GETFD, 0),
        Ok(FD_CLOEXEC as i32),
    );
    let _ = close(r);
    t.eq(
        "setfl_only_append_nonblock",
        fcntl(
            w,
            F_SETFL,
            (O_RDWR | O_NONBLOCK | O_TRUNC | O_CREAT) as usize,
        ),
        Ok(0),
    );
    t.eq(
        "setfl_shown",
        fcntl(w, F_GETFL, 0),
        Ok((O_WRONLY | O_NONBLOCK | O_LARGEFILE) as i32),
    );
    t.eq("setfl_did_not_truncate", size(w), Ok(10));
    t.eq("setfl_append", fcntl(w, F_SETFL, O_APPEND as usize), Ok(0));
    let g = setup!(t, "setfl_dup", dup(w));
    t.eq(
        "setfl_shared_with_dup",
        fcntl(g, F_GETFL, 0),
        Ok((O_WRONLY | O_APPEND | O_LARGEFILE) as i32),
    );
    t.eq("setfl_clear_through_dup", fcntl(g, F_SETFL, 0), Ok(0));
    t.eq(
        "setfl_cleared_for_original",
        fcntl(w, F_GETFL, 0),
        Ok((O_WRONLY | O_LARGEFILE) as i32),
    );
    t.eq("write_without_append_at_offset", write(w, b"ab"), Ok(2));
    t.eq(
        "write_without_append_landed",
        pread_text(d, &mut buf, 0).map(|s| s == "ab23456789"),
        Ok(true),
    );
    let _ = close(g);
    let _ = close(w);

    // F_DUPFD: the lowest free number at or above the argument.
    t.eq("f_dupfd_60", fcntl(d, F_DUPFD, 60), Ok(60));
    t.eq("f_dupfd_60_again_61", fcntl(d, F_DUPFD, 60), Ok(61));
    t.eq("f_dupfd_cloexec_62", fcntl(d, F_DUPFD_CLOEXEC, 60), Ok(62));
    t.eq(
        "f_dupfd_cloexec_set",
        fcntl(62, F_GETFD, 0),
        Ok(FD_CLOEXEC as i32),
    );
    t.eq("f_dupfd_no_cloexec", fcntl(60, F_GETFD, 0), Ok(0));
    let _ = close(61);
    t.eq("f_dupfd_fills_the_gap", fcntl(d, F_DUPFD, 60), Ok(61));
    t.eq("f_dupfd_0_lowest_3", fcntl(d, F_DUPFD, 0), Ok(3));
    t.eq(
        "f_dupfd_shares_offset",
        (lseek(61, 7, SEEK_SET), lseek(62, 0, SEEK_CUR)),
        (Ok(7), Ok(7)),
    );
    t.errno(
        "f_dupfd_negative_einval",
        fcntl(d, F_DUPFD, usize::MAX),
        Errno::EINVAL,
    );
    t.errno(
        "f_dupfd_huge_einval",
        fcntl(d, F_DUPFD, 1 << 20),
        Errno::EINVAL,
    );
    t.errno("fcntl_unknown_cmd_einval", fcntl(d, 9999, 0), Errno::EINVAL);
    t.errno("fcntl_bad_fd_ebadf", fcntl(99, F_GETFD, 0), Errno::EBADF);
    for fd in [3, d, 50, 60, 61, 62] {
        let _ = close(fd);
    }
}

fn descriptors(t: &mut Checks) {
    let null = c"/dev/null";
    let a = setup!(t, "fds_open_a", open(null, O_RDONLY, 0));
    let b = setup!(t, "fds_open_b", open(null, O_RDONLY, 0));
    let c = setup!(t, "fds_open_c", open(null, O_RDONLY, 0));
    t.eq("fds_numbered_in_order", (a, b, c), (3, 4, 5));
    let _ = close(b);
    t.eq("fds_reuse_lowest", open(null, O_RDONLY, 0), Ok(4));
    let _ = close(a);
    let _ = close(4);
    t.eq("fds_reuse_lowest_again", open(null, O_RDONLY, 0), Ok(3));
    t.eq("fds_then_next_free", open(null, O_RDONLY, 0), Ok(4));
    for fd in [3, 4, 5] {
        let _ = close(fd);
    }
    t.errno("close_closed_ebadf", close(5), Errno::EBADF);
    t.errno("close_negative_ebadf", close(-1), Errno::EBADF);
    t.errno("close_huge_ebadf", close(1 << 20), Errno::EBADF);
    t.errno("close_int_max_ebadf", close(i32::MAX), Errno::EBADF);
    let mut buf = [0u8; 8];
    t.errno("read_negative_ebadf", read(-1, &mut buf), Errno::EBADF);
    t.errno("read_closed_ebadf", read(5, &mut buf), Errno::EBADF);
    t.errno("write_huge_ebadf", write(1 << 20, b"x"), Errno::EBADF);
    t.errno("fstat_closed_ebadf", fstat(5), Errno::EBADF);
    t.errno("lseek_closed_ebadf", lseek(5, 0, SEEK_SET), Errno::EBADF);
    t.errno("pread_closed_ebadf", pread(5, &mut buf, 0), Errno::EBADF);
    t.errno("fchmod_closed_ebadf", fchmod(5, 0o644), Errno::EBADF);
}

fn path_errors(t: &mut Checks) {
    t.errno(
        "open_missing_enoent",
        open(c"/tmp/t_files/none", O_RDONLY, 0),
        Errno::ENOENT,
    );
    t.errno(
        "creat_in_missing_dir_enoent",
        open(c"/tmp/t_files/none/x", O_WRONLY | O_CREAT, 0o644),
        Errno::ENOENT,
    );
    t.errno(
        "open_file_as_dir_enotdir",
        open(c"/tmp/t_files/a/x", O_RDONLY, 0),
        Errno::ENOTDIR,
    );
    t.errno(
        "stat_file_as_dir_enotdir",
        stat(c"/tmp/t_files/a/x"),
        Errno::ENOTDIR,
    );
    t.errno(
        "creat_file_as_dir_enotdir",
        open(c"/tmp/t_files/a/x", O_WRONLY | O_CREAT, 0o644),
        Errno::ENOTDIR,
    );
    t.errno("open_empty_enoent", open(c"", O_RDONLY, 0), Errno::ENOENT);
    t.errno("stat_empty_enoent", stat(c""), Errno::ENOENT);
    t.errno("mkdir_empty_enoent", mkdir(c"", 0o755), Errno::ENOENT);
    t.errno("unlink_empty_enoent", unlink(c""), Errno::ENOENT);
    t.errno(
        "creat_empty_enoent",
        open(c"", O_WRONLY | O_CREAT, 0o644),
        Errno::ENOENT,
    );

    // NAME_MAX and PATH_MAX.
    let mut name255 = PathBuf::<300>::new(b"/tmp/t_files/");
    name255.repeat(b'n', NAME_MAX);
    t.eq("name_255_create", put(name255.as_cstr(), b"long"), Ok(()));
    t.eq(
        "name_255_stat",
        stat(name255.as_cstr()).map(|s| s.size),
        Ok(4),
    );
    t.eq("name_255_unlink", unlink(name255.as_cstr()), Ok(()));
    let mut name256 = PathBuf::<300>::new(b"/tmp/t_files/");
    name256.repeat(b'n', NAME_MAX + 1);
    t.errno(
        "name_256_create_enametoolong",
        open(name256.as_cstr(), O_WRONLY | O_CREAT, 0o644),
        Errno::ENAMETOOLONG,
    );
    t.errno(
        "name_256_stat_enametoolong",
        stat(name256.as_cstr()),
        Errno::ENAMETOOLONG,
    );
    t.errno(
        "name_256_mkdir_enametoolong",
        mkdir(name256.as_cstr(), 0o755),
        Errno::ENAMETOOLONG,
    );
    name256.push(b"/x");
    t.errno(
        "name_256_inner_component_enametoolong",
        stat(name256.as_cstr()),
        Errno::ENAMETOOLONG,
    );
    let mut name255_missing = PathBuf::<300>::new(b"/tmp/t_files/");
    name255_missing.repeat(b'm', NAME_MAX);
    t.errno(
        "name_255_missing_enoent",
        stat(name255_missing.as_cstr()),
        Errno::ENOENT,
    );
    let root = stat(c"/").map(|s| s.ino);
    let mut slashes = PathBuf::<{ PATH_MAX + 8 }>::new(b"");
    slashes.repeat(b'/', PATH_MAX - 1);
    t.eq(
        "path_4095_bytes_resolves",
        stat(slashes.as_cstr()).map(|s| s.ino),
        root,
    );
    slashes.push(b"/");
    t.errno(
        "path_4096_bytes_enametoolong",
        stat(slashes.as_cstr()),
        Errno::ENAMETOOLONG,
    );
    t.errno(
        "open_path_4096_bytes_enametoolong",
        open(slashes.as_cstr(), O_RDONLY, 0),
        Errno::ENAMETOOLONG,
    );

    // Bad pointers.
    let gone = setup!(t, "map_page", mmap_anon(2 * PAGE));
    setup!(t, "unmap_page", munmap(gone + PAGE, PAGE));
    let open_at = |p: usize| {
        // SAFETY: openat only reads the path (a bad pointer is refused).
        unsafe { sys::raw(nr::OPENAT, [AT_FDCWD as usize, p, 0, 0, 0, 0]) }
    };
    t.errno("open_null_path_efault", open_at(0), Errno::EFAULT);
    t.errno(
        "open_unmapped_path_efault",
        open_at(gone + PAGE),
        Errno::EFAULT,
    );
    // "/tmp" at the very end of the mapped page, no NUL before the hole.
    // SAFETY: the first page is ours and mapped.
    unsafe { core::ptr::copy_nonoverlapping(b"/tmp".as_ptr(), (gone + PAGE - 4) as *mut u8, 4) };
    t.errno(
        "open_path_running_into_hole_efault",
        open_at(gone + PAGE - 4),
        Errno::EFAULT,
    );
    let path_call = |n: usize, p: usize, a2: usize| {
        // SAFETY: the call only reads the path (a bad pointer is refused).
        unsafe { sys::raw(n, [AT_FDCWD as usize, p, a2, 0, 0, 0]) }
    };
    t.errno(
        "mkdir_null_path_efault",
        path_call(nr::MKDIRAT, 0, 0o755),
        Errno::EFAULT,
    );
    t.errno(
        "unlink_null_path_efault",
        path_call(nr::UNLINKAT, 0, 0),
        Errno::EFAULT,
    );
    let mut st = Stat::default();
    let st_ptr = &mut st as *mut Stat as usize;
    // SAFETY: newfstatat reads a path and writes one struct stat into `st`.
    let r = unsafe { sys::raw(nr::NEWFSTATAT, [AT_FDCWD as usize, 0, st_ptr, 0, 0, 0]) };
    t.errno("stat_null_path_efault", r, Errno::EFAULT);
    let tmp = c"/tmp".as_ptr() as usize;
    // SAFETY: a bad stat buffer is refused; nothing of ours is written.
    let r = unsafe {
        sys::raw(
            nr::NEWFSTATAT,
            [AT_FDCWD as usize, tmp, gone + PAGE, 0, 0, 0],
        )
    };
    t.errno("stat_unmapped_buffer_efault", r, Errno::EFAULT);
    // SAFETY: as above, through fstat of stdout.
    let r = unsafe { sys::raw(nr::FSTAT, [1, 8, 0, 0, 0, 0]) };
    t.errno("fstat_bad_buffer_efault", r, Errno::EFAULT);
    // SAFETY: chdir only reads its path.
    let r = unsafe { sys::raw(nr::CHDIR, [0, 0, 0, 0, 0, 0]) };
    t.errno("chdir_null_efault", r, Errno::EFAULT);
    if let Ok(fd) = open(c"/tmp/t_files/a", O_RDWR, 0) {
        let _ = pwrite(fd, b"data", 0);
        // SAFETY: a read into an unmapped buffer is refused; nothing of ours is written.
        let r = unsafe { sys::raw(nr::READ, [fd as usize, gone + PAGE, 4, 0, 0, 0]) };
        t.errno("read_into_unmapped_efault", r, Errno::EFAULT);
        // SAFETY: the kernel only reads the (unmapped) buffer.
        let r = unsafe { sys::raw(nr::WRITE, [fd as usize, gone + PAGE, 4, 0, 0, 0]) };
        t.errno("write_from_unmapped_efault", r, Errno::EFAULT);
        t.eq("failed_reads_keep_offset", lseek(fd, 0, SEEK_CUR), Ok(0));
        let _ = close(fd);
    }
    // SAFETY: getcwd into an unmapped buffer is refused.
    let r = unsafe { sys::raw(nr::GETCWD, [gone + PAGE, 64, 0, 0, 0, 0]) };
    t.errno("getcwd_unmapped_efault", r, Errno::EFAULT);
    let _ = munmap(gone, PAGE);
}

fn devices(t: &mut Checks) {
    let null = setup!(t, "open_dev_null", open(c"/dev/null", O_RDWR, 0));
    let mut buf = [0xaau8; 4096];
    t.eq("dev_null_read_eof", read(null, &mut buf), Ok(0));
    t.eq("dev_null_write_all", write(null, &buf[..100]), Ok(100));
    t.eq("dev_null_lseek_0", lseek(null, 100, SEEK_SET), Ok(0));
    t.eq(
        "dev_null_fstat",
        fstat(null).map(|s| (s.kind(), s.rdev_major(), s.rdev_minor())),
        Ok((S_IFCHR, 1, 3)),
    );
    t.errno(
        "dev_null_ftruncate_einval",
        ftruncate(null, 0),
        Errno::EINVAL,
    );
    let _ = close(null);
    let zero = setup!(t, "open_dev_zero", open(c"/dev/zero", O_RDWR, 0));
    t.eq("dev_zero_read_full", read(zero, &mut buf), Ok(4096));
    t.eq("dev_zero_reads_zeros", buf.iter().all(|&b| b == 0), true);
    t.eq("dev_zero_write_all", write(zero, b"discarded"), Ok(9));
    t.eq(
        "dev_zero_fstat",
        fstat(zero).map(|s| (s.kind(), s.rdev_major(), s.rdev_minor())),
        Ok((S_IFCHR, 1, 5)),
    );
    // /dev/zero maps as anonymous memory: zeros, writable, private or shared.
    use user::mm::{map, mmap, munmap, prot};
    match mmap(0, 2 * 4096, prot::RW, map::PRIVATE, zero, 0) {
        Ok(a) => {
            // SAFETY: a fresh private mapping of two pages.
            let page = unsafe { core::slice::from_raw_parts_mut(a as *mut u8, 8192) };
            t.eq("dev_zero_mmap_zeros", page.iter().all(|&b| b == 0), true);
            page[5000] = 7;
            t.eq("dev_zero_mmap_writable", page[5000], 7);
            let _ = munmap(a, 8192);
        }
        Err(e) => t.fail("dev_zero_mmap", format_args!("{e:?}")),
    }
    t.eq(
        "dev_zero_mmap_shared",
        mmap(0, 4096, prot::RW, map::SHARED, zero, 0).map(|a| munmap(a, 4096).is_ok()),
        Ok(true),
    );
    let _ = close(zero);
    let null = setup!(t, "open_dev_null_again", open(c"/dev/null", O_RDWR, 0));
    t.errno(
        "dev_null_mmap_enodev",
        mmap(0, 4096, prot::RW, map::PRIVATE, null, 0),
        Errno::ENODEV,
    );
    let _ = close(null);
    t.errno(
        "mmap_closed_fd_ebadf",
        mmap(0, 4096, prot::RW, map::PRIVATE, 900, 0),
        Errno::EBADF,
    );
}

fn access_and_modes(t: &mut Checks) {
    let p = c"/tmp/t_files/acc";
    setup!(t, "access_setup", put(p, b"x"));
    t.eq("access_mode_0644", mode(p), Ok(S_IFREG | 0o644));
    t.eq("access_f_ok", access(p, F_OK), Ok(()));
    t.eq("access_r_ok", access(p, R_OK), Ok(()));
    t.eq("access_w_ok", access(p, W_OK), Ok(()));
    t.eq("access_rw_ok", access(p, R_OK | W_OK), Ok(()));
    t.errno("access_x_no_x_bit_eacces", access(p, X_OK), Errno::EACCES);
    t.errno(
        "access_rwx_no_x_bit_eacces",
        access(p, R_OK | W_OK | X_OK),
        Errno::EACCES,
    );
    t.errno(
        "access_missing_enoent",
        access(c"/tmp/t_files/none", F_OK),
        Errno::ENOENT,
    );
    t.errno("access_bad_mode_einval", access(p, 8), Errno::EINVAL);
    t.eq("access_dir_x", access(BASE, X_OK), Ok(()));
    let fd = setup!(t, "access_open", open(p, O_RDONLY, 0));
    t.eq("fchmod_0744", fchmod(fd, 0o744), Ok(()));
    t.eq("fchmod_shown_by_stat", mode(p), Ok(S_IFREG | 0o744));
    t.eq("access_x_after_chmod", access(p, X_OK), Ok(()));
    t.eq("chmod_0", chmod(p, 0), Ok(()));
    t.eq(
        "chmod_0_shown_by_fstat",
        fstat(fd).map(|s| s.mode),
        Ok(S_IFREG),
    );
    t.eq(
        "root_reads_and_writes_mode_0",
        access(p, R_OK | W_OK),
        Ok(()),
    );
    t.errno("root_x_mode_0_eacces", access(p, X_OK), Errno::EACCES);
    t.eq("chmod_group_x_only", chmod(p, 0o010), Ok(()));
    t.eq("root_x_with_any_x_bit", access(p, X_OK), Ok(()));
    let mut buf = [0u8; 4];
    t.eq("root_opens_mode_0", file_text(p, &mut buf), Ok("x"));
    t.eq("chmod_setuid", chmod(p, 0o4755), Ok(()));
    t.eq("chmod_setuid_kept", mode(p), Ok(S_IFREG | 0o4755));
    t.eq("fchmod_type_bits_ignored", fchmod(fd, 0o170_777), Ok(()));
    t.eq(
        "fchmod_type_bits_ignored_shown",
        fstat(fd).map(|s| s.mode),
        Ok(S_IFREG | 0o777),
    );
    let _ = close(fd);
    let l = c"/tmp/t_files/acc_link";
    let _ = symlink(c"acc", l);
    t.eq("chmod_through_symlink", chmod(l, 0o600), Ok(()));
    t.eq("chmod_through_symlink_target", mode(p), Ok(S_IFREG | 0o600));
    t.eq(
        "chmod_through_symlink_link_unchanged",
        lstat(l).map(|s| s.mode),
        Ok(S_IFLNK | 0o777),
    );
    t.errno(
        "chmod_missing_enoent",
        chmod(c"/tmp/t_files/none", 0o644),
        Errno::ENOENT,
    );
    t.eq("chmod_dir", chmod(c"/tmp/t_files/realdir", 0o700), Ok(()));
    t.eq(
        "chmod_dir_shown",
        mode(c"/tmp/t_files/realdir"),
        Ok(S_IFDIR | 0o700),
    );
}

fn fork_shares_offset(t: &mut Checks) {
    let p = c"/tmp/t_files/fork";
    let fd = setup!(t, "fork_open", open(p, O_RDWR | O_CREAT | O_TRUNC, 0o644));
    let _ = write(fd, b"0123456789");
    let _ = lseek(fd, 0, SEEK_SET);
    let pid = setup!(t, "fork", process::fork());
    if pid == 0 {
        let mut buf = [0u8; 4];
        let ok = read(fd, &mut buf) == Ok(4) && &buf == b"0123";
        sys::exit_group(i32::from(!ok))
    }
    t.eq(
        "fork_child_read_from_start",
        process::wait4(pid as isize, 0),
        Ok((pid, 0)),
    );
    t.eq(
        "fork_child_moved_parent_offset",
        lseek(fd, 0, SEEK_CUR),
        Ok(4),
    );
    let mut buf = [0u8; 16];
    t.eq(
        "fork_parent_reads_on",
        read(fd, &mut buf[..2]).map(|n| text(&buf[..n])),
        Ok("45"),
    );
    let pid = setup!(t, "fork_writer", process::fork());
    if pid == 0 {
        let ok = write(fd, b"AB") == Ok(2) && close(fd).is_ok();
        sys::exit_group(i32::from(!ok))
    }
    t.eq(
        "fork_child_wrote_and_closed",
        process::wait4(pid as isize, 0),
        Ok((pid, 0)),
    );
    t.eq(
        "fork_child_write_moved_offset",
        lseek(fd, 0, SEEK_CUR),
        Ok(8),
    );
    t.eq(
        "fork_child_write_landed",
        pread_text(fd, &mut buf, 0).map(|s| s == "012345AB89"),
        Ok(true),
    );
    t.eq("fork_child_close_keeps_parent_fd", size(fd), Ok(10));
    let _ = close(fd);
}

fn exec_closes_cloexec(t: &mut Checks) {
    let p = c"/tmp/t_files/exec";
    let ce = setup!(
        t,
        "exec_open_cloexec",
        open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    );
    let _ = write(ce, b"xyz");
    let keep = setup!(t, "exec_open_plain", open(p, O_RDONLY, 0));
    let _ = lseek(keep, 1, SEEK_SET);
    let dup_ce = setup!(t, "exec_dup3_cloexec", dup3(keep, 40, O_CLOEXEC));
    let arg = |fd: i32| {
        let mut p = PathBuf::<16>::new(b"");
        p.number(fd as u64);
        p
    };
    let (a1, a2, a3) = (arg(ce), arg(keep), arg(dup_ce));
    let me = b"/bin/t_files\0";
    let argv = [
        me.as_ptr(),
        c"exec-check".as_ptr(),
        a1.as_cstr().as_ptr(),
        a2.as_cstr().as_ptr(),
        a3.as_cstr().as_ptr(),
        core::ptr::null(),
    ];
    let envp = [core::ptr::null()];
    let mut errno = 0i64;
    let pid = setup!(
        t,
        "exec_vfork",
        process::vfork_exec(me, &argv, &envp, &mut errno)
    );
    let status = process::wait4(pid as isize, 0);
    t.eq(
        "exec_ran",
        status.map(|(_, s)| process::exited(s)),
        Ok(true),
    );
    let code = status.map_or(0xff, |(_, s)| process::exit_code(s));
    t.eq("exec_cloexec_fd_closed", code & 1, 0);
    t.eq("exec_plain_fd_kept", code & 2, 0);
    t.eq("exec_dup3_cloexec_fd_closed", code & 4, 0);
    t.eq("exec_kept_fd_reads_at_shared_offset", code & 8, 0);
    t.eq("exec_helper_status", code, 0);
    t.eq(
        "exec_child_moved_shared_offset",
        lseek(keep, 0, SEEK_CUR),
        Ok(3),
    );
    for fd in [ce, keep, dup_ce] {
        let _ = close(fd);
    }
}

/// `sendfile(out, in, offset, count)` through the raw call.
fn sendfile(out: i32, input: i32, offset: Option<&mut i64>, count: usize) -> Result<usize, Errno> {
    let off = offset.map_or(0, |o| o as *mut i64 as usize);
    // SAFETY: the kernel reads and writes one i64 at `off` (if not null).
    unsafe { user::sys::raw(71, [out as usize, input as usize, off, count, 0, 0]) }
}

/// `sendfile` from a file into a pipe: from `*offset` (updated, the file's own offset
/// untouched) or from the file offset (moved); short at the end of the file.
fn sendfile_checks(t: &mut Checks) {
    let p = c"/tmp/t_files/sendfile";
    setup!(t, "sendfile_setup", put(p, b"abcdefgh"));
    let fd = setup!(t, "sendfile_open", open(p, O_RDONLY, 0));
    let Ok([r, w]) = pipe2(0) else {
        t.fail("sendfile_pipe", format_args!("pipe2"));
        return;
    };
    let mut off = 2i64;
    t.eq(
        "sendfile_with_offset",
        sendfile(w, fd, Some(&mut off), 3),
        Ok(3),
    );
    t.eq("sendfile_offset_updated", off, 5);
    t.eq(
        "sendfile_file_offset_untouched",
        lseek(fd, 0, SEEK_CUR),
        Ok(0),
    );
    t.eq(
        "sendfile_from_file_offset",
        sendfile(w, fd, None, 100),
        Ok(8),
    );
    t.eq("sendfile_file_offset_moved", lseek(fd, 0, SEEK_CUR), Ok(8));
    t.eq("sendfile_at_end", sendfile(w, fd, None, 100), Ok(0));
    let mut got = [0u8; 32];
    let n = read(r, &mut got).unwrap_or(0);
    t.eq("sendfile_pipe_holds", &got[..n], &b"cdeabcdefgh"[..]);
    t.errno(
        "sendfile_bad_in_ebadf",
        sendfile(w, 900, None, 1),
        Errno::EBADF,
    );
    t.errno(
        "sendfile_write_only_in_ebadf",
        sendfile(r, w, None, 1),
        Errno::EBADF,
    );
    for f in [fd, r, w] {
        let _ = close(f);
    }
}

/// Runs `path` (NUL-terminated) with one argument through vfork + execve: the exit
/// code, or the errno the exec failed with.
fn run_script(path: &[u8]) -> Result<i32, Errno> {
    let argv = [path.as_ptr(), c"x".as_ptr().cast(), core::ptr::null()];
    let envp = [core::ptr::null()];
    let mut errno = 0i64;
    let pid = process::vfork_exec(path, &argv, &envp, &mut errno)?;
    let status = process::wait4(pid as isize, 0)?;
    if errno != 0 {
        return Err(Errno(-errno as i32));
    }
    Ok(process::exit_code(status.1) as i32)
}

/// `#!` scripts: the interpreter runs with its argument, the script's path and the
/// caller's arguments after argv[0] (hello prints them and exits with its first);
/// no execute bit is `EACCES`, a missing interpreter `ENOENT`.
fn scripts(t: &mut Checks) {
    let path = c"/tmp/t_files/script";
    let fd = setup!(
        t,
        "script_create",
        open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o755)
    );
    let _ = write(fd, b"#!/bin/hello 5\nnot run\n");
    let _ = close(fd);
    t.eq(
        "script_runs_its_interpreter",
        run_script(b"/tmp/t_files/script\0"),
        Ok(5),
    );
    let _ = chmod(path, 0o644);
    t.errno(
        "script_without_x_eacces",
        run_script(b"/tmp/t_files/script\0"),
        Errno::EACCES,
    );
    let missing = c"/tmp/t_files/script2";
    let fd = setup!(
        t,
        "script2_create",
        open(missing, O_WRONLY | O_CREAT | O_TRUNC, 0o755)
    );
    let _ = write(fd, b"#!/bin/no-such-interpreter\n");
    let _ = close(fd);
    t.errno(
        "script_missing_interpreter_enoent",
        run_script(b"/tmp/t_files/script2\0"),
        Errno::ENOENT,
    );
}

/// `t_files exec-check <cloexec fd> <kept fd> <cloexec dup>`: bit 0 if the
/// first is open, 1 if the second is not, 2 if the third is open, 3 if the
/// kept one does not read "yz".
fn exec_check(args: &user::Args) -> i32 {
    let fd = |i: usize| {
        args.arg(i)
            .and_then(|s| s.parse::<i32>().ok())
            .unwrap_or(-1)
    };
    let mut code = 0;
    if fcntl(fd(2), F_GETFD, 0) != Err(Errno::EBADF) {
        code |= 1;
    }
    if fcntl(fd(3), F_GETFD, 0) != Ok(0) {
        code |= 2;
    }
    if fcntl(fd(4), F_GETFD, 0) != Err(Errno::EBADF) {
        code |= 4;
    }
    let mut buf = [0u8; 8];
    if read(fd(3), &mut buf).map(|n| &buf[..n] == b"yz") != Ok(true) {
        code |= 8;
    }
    code
}

fn main(args: &user::Args) -> i32 {
    if args.arg(1) == Some("exec-check") {
        return exec_check(args);
    }
    let mut t = Checks::new();
    start(&mut t);
    create_read_write(&mut t);
    hard_links(&mut t);
    symlinks(&mut t);
    directories(&mut t);
    renames(&mut t);
    working_directory(&mut t);
    at_calls(&mut t);
    truncate(&mut t);
    dup_and_fcntl(&mut t);
    descriptors(&mut t);
    path_errors(&mut t);
    devices(&mut t);
    access_and_modes(&mut t);
    fork_shares_offset(&mut t);
    exec_closes_cloexec(&mut t);
    scripts(&mut t);
    sendfile_checks(&mut t);
    t.status()
}

user::entry!(main);
