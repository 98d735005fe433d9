//! Pipes: `pipe2` and its flags (`O_CLOEXEC`, `O_NONBLOCK`, bad flags and
//! pointers), data in order within one process, end of file once every write
//! end is closed, `EPIPE` once every read end is closed (SIGPIPE ignored or
//! blocked; a child with the default action dies of it), `O_NONBLOCK`'s
//! `EAGAIN` on an empty pipe and on a full one after exactly 65536 bytes
//! (Linux's default capacity, 16 pages), 1 MiB through a blocking writer in a
//! forked child, writes of `PIPE_BUF` bytes from two children that never
//! interleave, `fstat` (`S_IFIFO`), `ESPIPE` for seeks, and `dup`ed ends
//! that keep the pipe open until the last copy closes.
//!
//! Children only exit with a status (no output), so the output is the same
//! on every kernel.
#![no_std]
#![no_main]
use user::fs::*;
use user::mm::{mmap_anon, munmap};
use user::process;
use user::signal::{self, bit, SigAction, SIGPIPE, SIG_BLOCK, SIG_DFL, SIG_IGN, SIG_SETMASK};
use user::sys::{self, nr};
use user::{setup, Checks, Errno};

/// Linux's default pipe capacity: 16 pages.
const CAPACITY: usize = 65536;

fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("<not UTF-8>")
}

fn read_text(fd: i32, buf: &mut [u8]) -> Result<&str, Errno> {
    let n = read(fd, buf)?;
    Ok(text(&buf[..n]))
}

fn set_sigpipe(handler: u64) -> Result<(), Errno> {
    let act = SigAction {
        handler,
        ..SigAction::default()
    };
    signal::sigaction(SIGPIPE, Some(&act), None)
}

/// Reads until `read` fails (`EAGAIN` on an empty non-blocking pipe) or
/// returns 0: the bytes read and how it ended.
fn drain(fd: i32) -> (usize, Result<usize, Errno>) {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match read(fd, &mut buf) {
            Ok(0) => return (total, Ok(0)),
            Ok(n) => total += n,
            Err(e) => return (total, Err(e)),
        }
    }
}

/// Waits for `pid`; its status, or `u32::MAX` if `wait4` failed.
fn reap(pid: usize) -> u32 {
    match process::wait4(pid as isize, 0) {
        Ok((got, status)) if got == pid => status,
        _ => u32::MAX,
    }
}

fn basics(t: &mut Checks) {
    let [r, w] = setup!(t, "pipe2", pipe2(0));
    t.eq("pipe2_lowest_fds", (r, w), (3, 4));
    let mut buf = [0u8; 100];
    t.eq("write", write(w, b"hello"), Ok(5));
    t.eq("read_what_is_there", read_text(r, &mut buf), Ok("hello"));
    t.eq("write_0_bytes", write(w, b""), Ok(0));
    t.eq("read_0_bytes_empty_pipe", read(r, &mut buf[..0]), Ok(0));
    let (sr, sw) = (fstat(r), fstat(w));
    t.eq(
        "fstat_read_end_fifo_0600",
        sr.map(|s| s.mode),
        Ok(S_IFIFO | 0o600),
    );
    t.eq(
        "fstat_write_end_fifo_0600",
        sw.map(|s| s.mode),
        Ok(S_IFIFO | 0o600),
    );
    t.eq(
        "both_ends_one_inode",
        sr.is_ok() && sr.map(|s| s.ino) == sw.map(|s| s.ino),
        true,
    );
    t.eq("getfl_read_end", fcntl(r, F_GETFL, 0), Ok(O_RDONLY as i32));
    t.eq("getfl_write_end", fcntl(w, F_GETFL, 0), Ok(O_WRONLY as i32));
    t.eq(
        "getfd_no_cloexec",
        (fcntl(r, F_GETFD, 0), fcntl(w, F_GETFD, 0)),
        (Ok(0), Ok(0)),
    );
    t.errno(
        "lseek_read_end_espipe",
        lseek(r, 0, SEEK_CUR),
        Errno::ESPIPE,
    );
    t.errno(
        "lseek_write_end_espipe",
        lseek(w, 0, SEEK_SET),
        Errno::ESPIPE,
    );
    t.errno("pread_espipe", pread(r, &mut buf, 0), Errno::ESPIPE);
    t.errno("pwrite_espipe", pwrite(w, b"x", 0), Errno::ESPIPE);
    t.errno("read_write_end_ebadf", read(w, &mut buf), Errno::EBADF);
    t.errno("write_read_end_ebadf", write(r, b"x"), Errno::EBADF);
    t.errno("ftruncate_pipe_einval", ftruncate(w, 0), Errno::EINVAL);
    t.errno("fsync_pipe_einval", fsync(w), Errno::EINVAL);
    t.errno(
        "getdents_pipe_enotdir",
        getdents64(r, &mut buf),
        Errno::ENOTDIR,
    );
    t.eq("writev", writev(w, &[b"ab", b"", b"cd"]), Ok(4));
    let (mut x, mut y) = ([0u8; 3], [0u8; 3]);
    t.eq("readv", readv(r, &mut [&mut x, &mut y]), Ok(4));
    t.eq("readv_in_order", (text(&x), text(&y[..1])), ("abc", "d"));
    let _ = write(w, b"one");
    let _ = write(w, b"two");
    t.eq(
        "writes_read_as_one_stream",
        read_text(r, &mut buf),
        Ok("onetwo"),
    );
    let _ = write(w, b"abcdef");
    t.eq("partial_read", read_text(r, &mut buf[..2]), Ok("ab"));
    t.eq("partial_read_rest", read_text(r, &mut buf), Ok("cdef"));
    let _ = write(w, b"last");
    t.eq("close_write_end", close(w), Ok(()));
    t.eq("data_left_after_close", read_text(r, &mut buf), Ok("last"));
    t.eq("eof_after_last_writer", read(r, &mut buf), Ok(0));
    t.eq("eof_again", read(r, &mut buf), Ok(0));
    t.eq("close_read_end", close(r), Ok(()));
    t.errno("closed_end_ebadf", read(r, &mut buf), Errno::EBADF);

    // SAFETY: a bad pointer: the kernel refuses to write the two fds there.
    let r = unsafe { sys::raw(nr::PIPE2, [0, 0, 0, 0, 0, 0]) };
    t.errno("pipe2_null_efault", r, Errno::EFAULT);
    t.errno("pipe2_bad_flags_einval", pipe2(O_TRUNC), Errno::EINVAL);
    t.errno("pipe2_append_einval", pipe2(O_APPEND), Errno::EINVAL);
    t.eq(
        "failed_pipe2_leaves_fds_free",
        open(c"/dev/null", O_RDONLY, 0),
        Ok(3),
    );
    let _ = close(3);

    let [r, w] = setup!(t, "pipe2_cloexec", pipe2(O_CLOEXEC));
    t.eq(
        "pipe2_cloexec_both_ends",
        (fcntl(r, F_GETFD, 0), fcntl(w, F_GETFD, 0)),
        (Ok(FD_CLOEXEC as i32), Ok(FD_CLOEXEC as i32)),
    );
    t.eq(
        "pipe2_cloexec_not_in_getfl",
        (fcntl(r, F_GETFL, 0), fcntl(w, F_GETFL, 0)),
        (Ok(O_RDONLY as i32), Ok(O_WRONLY as i32)),
    );
    let _ = (close(r), close(w));
    let [r, w] = setup!(t, "pipe2_nonblock", pipe2(O_NONBLOCK));
    t.eq(
        "pipe2_nonblock_both_ends",
        (fcntl(r, F_GETFL, 0), fcntl(w, F_GETFL, 0)),
        (Ok(O_NONBLOCK as i32), Ok((O_WRONLY | O_NONBLOCK) as i32)),
    );
    t.eq(
        "pipe2_nonblock_no_cloexec",
        (fcntl(r, F_GETFD, 0), fcntl(w, F_GETFD, 0)),
        (Ok(0), Ok(0)),
    );
    let _ = (close(r), close(w));
}

fn nonblocking(t: &mut Checks) {
    let [r, w] = setup!(t, "nb_pipe2", pipe2(O_NONBLOCK));
    let mut buf = [0u8; 4096];
    t.errno("nb_read_empty_eagain", read(r, &mut buf), Errno::EAGAIN);
    let page = [0x5au8; 4096];
    let mut total = 0;
    let mut writes = 0;
    let last = loop {
        match write(w, &page) {
            Ok(n) => {
                total += n;
                writes += 1;
                if writes > 1000 {
                    break Ok(n);
                }
            }
            Err(e) => break Err(e),
        }
    };
    t.eq("nb_fill_ends_with_eagain", last, Err(Errno::EAGAIN));
    t.eq("nb_capacity_65536", total, CAPACITY);
    t.errno("nb_full_one_byte_eagain", write(w, b"x"), Errno::EAGAIN);
    t.eq("nb_read_a_page", read(r, &mut buf), Ok(4096));
    t.eq("nb_page_freed_write", write(w, &page), Ok(4096));
    t.errno("nb_full_again_eagain", write(w, b"x"), Errno::EAGAIN);
    t.eq("nb_drain", drain(r), (CAPACITY, Err(Errno::EAGAIN)));
    let big = setup!(t, "nb_map", mmap_anon(2 * CAPACITY));
    // SAFETY: the mapping is ours, 2 * CAPACITY bytes.
    let big_buf = unsafe { core::slice::from_raw_parts(big as *const u8, 100_000) };
    t.eq("nb_big_write_partial", write(w, big_buf), Ok(CAPACITY));
    t.errno("nb_big_write_then_full", write(w, big_buf), Errno::EAGAIN);
    t.eq("nb_drain_big", drain(r), (CAPACITY, Err(Errno::EAGAIN)));
    let _ = munmap(big, 2 * CAPACITY);
    t.eq("nb_close_writer", close(w), Ok(()));
    t.eq("nb_read_after_writer_closed_eof", read(r, &mut buf), Ok(0));
    let _ = close(r);

    let [r, w] = setup!(t, "setfl_pipe2", pipe2(0));
    t.eq(
        "setfl_nonblock",
        fcntl(r, F_SETFL, O_NONBLOCK as usize),
        Ok(0),
    );
    t.eq(
        "setfl_nonblock_shown",
        fcntl(r, F_GETFL, 0),
        Ok(O_NONBLOCK as i32),
    );
    t.errno(
        "setfl_nonblock_read_eagain",
        read(r, &mut buf),
        Errno::EAGAIN,
    );
    let _ = write(w, b"ok");
    t.eq("setfl_nonblock_read_data", read_text(r, &mut buf), Ok("ok"));
    t.eq("setfl_blocking_again", fcntl(r, F_SETFL, 0), Ok(0));
    t.eq(
        "setfl_blocking_shown",
        fcntl(r, F_GETFL, 0),
        Ok(O_RDONLY as i32),
    );
    let _ = (close(r), close(w));
}

fn broken_pipes(t: &mut Checks) {
    // A child with SIGPIPE's default action dies of it.
    let [r, w] = setup!(t, "sigpipe_pipe2", pipe2(0));
    let _ = close(r);
    let pid = setup!(t, "sigpipe_fork", process::fork());
    if pid == 0 {
        let _ = set_sigpipe(SIG_DFL);
        let _ = write(w, b"x");
        sys::exit_group(0)
    }
    let status = reap(pid);
    t.eq(
        "sigpipe_default_kills",
        (process::signaled(status), process::term_signal(status)),
        (true, SIGPIPE as u32),
    );
    t.eq("sigpipe_status_13_no_core", status, SIGPIPE as u32);

    // Blocked: EPIPE, and SIGPIPE waits; ignoring it discards it.
    let old = signal::sigprocmask(SIG_BLOCK, Some(bit(SIGPIPE)));
    t.eq("sigpipe_block", old.map(|m| m & bit(SIGPIPE)), Ok(0));
    t.errno("epipe_blocked", write(w, b"x"), Errno::EPIPE);
    t.eq(
        "sigpipe_pending_while_blocked",
        signal::sigpending().map(|s| s & bit(SIGPIPE)),
        Ok(bit(SIGPIPE)),
    );
    t.eq("sigpipe_ignore", set_sigpipe(SIG_IGN), Ok(()));
    t.eq(
        "sigpipe_ignore_discards_pending",
        signal::sigpending().map(|s| s & bit(SIGPIPE)),
        Ok(0),
    );
    let _ = signal::sigprocmask(SIG_SETMASK, Some(0));
    t.errno("epipe_ignored", write(w, b"x"), Errno::EPIPE);
    t.errno("epipe_again", write(w, &[0u8; 5000]), Errno::EPIPE);
    t.eq(
        "epipe_ignored_nothing_pending",
        signal::sigpending().map(|s| s & bit(SIGPIPE)),
        Ok(0),
    );
    t.eq("write_0_bytes_no_reader", write(w, b""), Ok(0));
    let _ = close(w);

    // A dup'ed read end keeps the pipe open.
    let [r, w] = setup!(t, "dup_read_pipe2", pipe2(0));
    let r2 = setup!(t, "dup_read_end", dup(r));
    let _ = close(r);
    t.eq("dup_read_end_keeps_pipe", write(w, b"x"), Ok(1));
    let mut buf = [0u8; 8];
    t.eq("dup_read_end_reads", read_text(r2, &mut buf), Ok("x"));
    let _ = close(r2);
    t.errno("last_read_end_closed_epipe", write(w, b"x"), Errno::EPIPE);
    let _ = close(w);

    // A dup'ed write end keeps it open too.
    let [r, w] = setup!(t, "dup_write_pipe2", pipe2(0));
    let w2 = setup!(t, "dup_write_end", fcntl(w, F_DUPFD, 10));
    let _ = close(w);
    t.eq("dup_write_end_writes", write(w2, b"y"), Ok(1));
    t.eq("dup_write_end_data", read_text(r, &mut buf), Ok("y"));
    let _ = write(w2, b"z");
    let _ = close(w2);
    t.eq("data_then_eof_data", read_text(r, &mut buf), Ok("z"));
    t.eq("last_write_end_closed_eof", read(r, &mut buf), Ok(0));
    let _ = close(r);

    // A forked child's copy of the write end counts too.
    let [r, w] = setup!(t, "fork_pipe2", pipe2(0));
    let pid = setup!(t, "fork_writer", process::fork());
    if pid == 0 {
        let _ = close(r);
        let ok = write(w, b"from child") == Ok(10);
        sys::exit_group(i32::from(!ok))
    }
    let _ = close(w);
    let mut got = [0u8; 32];
    let mut n = 0;
    while let Ok(k) = read(r, &mut got[n..]) {
        if k == 0 {
            break;
        }
        n += k;
    }
    t.eq("child_copy_data_then_eof", text(&got[..n]), "from child");
    t.eq("child_writer_status", reap(pid), 0);
    let _ = close(r);
}

/// The transfer's byte at `i`.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 11)) as u8
}

fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn big_transfer(t: &mut Checks) {
    const LEN: usize = 1 << 20;
    let src = setup!(t, "transfer_map", mmap_anon(LEN));
    // SAFETY: the mapping is ours, LEN bytes, and nothing else refers to it.
    let data = unsafe { core::slice::from_raw_parts_mut(src as *mut u8, LEN) };
    for (i, b) in data.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let want_hash = fnv(FNV_START, data);
    let [r, w] = setup!(t, "transfer_pipe2", pipe2(0));
    let pid = setup!(t, "transfer_fork", process::fork());
    if pid == 0 {
        let _ = close(r);
        let sizes = [1usize, 100, 4096, 5000, 65536, 12345, 70000, 3];
        let mut at = 0;
        let mut ok = true;
        let mut k = 0;
        while at < LEN {
            let n = sizes[k % sizes.len()].min(LEN - at);
            ok &= write(w, &data[at..at + n]) == Ok(n);
            at += n;
            k += 1;
        }
        sys::exit_group(i32::from(!ok))
    }
    let _ = close(w);
    let mut buf = [0u8; 3000];
    let mut total = 0usize;
    let mut hash = FNV_START;
    let mut first_wrong = None;
    loop {
        match read(r, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for (j, &b) in buf[..n].iter().enumerate() {
                    if first_wrong.is_none() && b != pattern(total + j) {
                        first_wrong = Some(total + j);
                    }
                }
                hash = fnv(hash, &buf[..n]);
                total += n;
            }
            Err(e) => {
                t.fail("transfer_read", format_args!("{e:?}"));
                break;
            }
        }
    }
    t.eq("transfer_1_mib", total, LEN);
    t.eq("transfer_in_order", first_wrong, None);
    t.eq("transfer_checksum", hash, want_hash);
    t.eq("transfer_writer_wrote_all", reap(pid), 0);
    let _ = close(r);
    let _ = munmap(src, LEN);
}

fn atomic_writes(t: &mut Checks) {
    const RECORDS: usize = 64;
    const TOTAL: usize = 2 * RECORDS * PIPE_BUF;
    let [r, w] = setup!(t, "atomic_pipe2", pipe2(0));
    let mut pids = [0usize; 2];
    for (k, pid) in pids.iter_mut().enumerate() {
        *pid = setup!(t, "atomic_fork", process::fork());
        if *pid == 0 {
            let _ = close(r);
            let record = [b'A' + k as u8; PIPE_BUF];
            let mut ok = true;
            for _ in 0..RECORDS {
                ok &= write(w, &record) == Ok(PIPE_BUF);
            }
            sys::exit_group(i32::from(!ok))
        }
    }
    let _ = close(w);
    let at = setup!(t, "atomic_map", mmap_anon(TOTAL + PIPE_BUF));
    // SAFETY: the mapping is ours and nothing else refers to it.
    let stream = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, TOTAL + PIPE_BUF) };
    let mut total = 0;
    // Odd-sized reads: record boundaries are found in the stream, not per read.
    while total < stream.len() {
        let end = (total + 1000).min(stream.len());
        match read(r, &mut stream[total..end]) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    t.eq("atomic_total", total, TOTAL);
    let mut counts = [0usize; 2];
    let mut mixed = 0;
    for record in stream[..total.min(TOTAL)].chunks(PIPE_BUF) {
        let first = record[0];
        if record.iter().any(|&b| b != first) || !(b'A'..=b'B').contains(&first) {
            mixed += 1;
        } else {
            counts[usize::from(first - b'A')] += 1;
        }
    }
    t.eq("atomic_no_record_interleaved", mixed, 0);
    t.eq("atomic_each_child_all_records", counts, [RECORDS, RECORDS]);
    t.eq(
        "atomic_writers_status",
        (reap(pids[0]), reap(pids[1])),
        (0, 0),
    );
    let _ = close(r);
    let _ = munmap(at, TOTAL + PIPE_BUF);
}

/// `ppoll` and `pselect6` on a pipe's ends: nothing to read at first, room to write;
/// bytes make the read end ready; no writer is a hang-up, no reader an error on the
/// write end; a bad descriptor is `POLLNVAL` (ppoll) or `EBADF` (pselect6); a short
/// timeout passes with nothing ready.
fn polling(t: &mut Checks) {
    use user::fs::poll::*;
    use user::fs::PollFd;
    let Ok([r, w]) = user::fs::pipe2(0) else {
        t.fail("poll_setup", format_args!("pipe2"));
        return;
    };
    let zero = user::time::Timespec { sec: 0, nsec: 0 };
    let mut fds = [
        PollFd {
            fd: r,
            events: POLLIN,
            revents: 0,
        },
        PollFd {
            fd: w,
            events: POLLOUT,
            revents: 0,
        },
        PollFd {
            fd: -1,
            events: POLLIN,
            revents: 0,
        },
    ];
    t.eq(
        "ppoll_empty_pipe",
        user::fs::ppoll(&mut fds, Some(&zero)),
        Ok(1),
    );
    t.eq(
        "ppoll_empty_revents",
        (fds[0].revents, fds[1].revents, fds[2].revents),
        (0, POLLOUT, 0),
    );
    let _ = user::fs::write(w, b"x");
    t.eq(
        "ppoll_after_write",
        user::fs::ppoll(&mut fds, Some(&zero)),
        Ok(2),
    );
    t.eq("ppoll_read_end_ready", fds[0].revents, POLLIN);
    let mut rs = 1u64 << r;
    let mut ws = 1u64 << w;
    let mut tmo = user::time::Timespec { sec: 0, nsec: 0 };
    t.eq(
        "pselect_both_ready",
        user::fs::pselect(w + 1, &mut rs, &mut ws, &mut tmo),
        Ok(2),
    );
    t.eq("pselect_sets", (rs, ws), (1u64 << r, 1u64 << w));
    let mut one = [0u8; 1];
    let _ = user::fs::read(r, &mut one);
    let mut rs = 1u64 << r;
    let mut ws = 0u64;
    let mut tmo = user::time::Timespec {
        sec: 0,
        nsec: 20_000_000,
    };
    t.eq(
        "pselect_times_out",
        user::fs::pselect(r + 1, &mut rs, &mut ws, &mut tmo),
        Ok(0),
    );
    t.eq("pselect_timeout_cleared_set", rs, 0);
    t.eq("pselect_time_left_written", (tmo.sec, tmo.nsec), (0, 0));
    let short = user::time::Timespec {
        sec: 0,
        nsec: 10_000_000,
    };
    let mut only_read = [PollFd {
        fd: r,
        events: POLLIN,
        revents: 0,
    }];
    t.eq(
        "ppoll_times_out",
        user::fs::ppoll(&mut only_read, Some(&short)),
        Ok(0),
    );
    let _ = user::fs::close(w);
    t.eq(
        "ppoll_no_writer_hangs_up",
        user::fs::ppoll(&mut only_read, Some(&zero)),
        Ok(1),
    );
    t.eq("ppoll_hangup_revents", only_read[0].revents, POLLHUP);
    let Ok([r2, w2]) = user::fs::pipe2(0) else {
        t.fail("poll_setup_2", format_args!("pipe2"));
        return;
    };
    let _ = user::fs::close(r2);
    let mut only_write = [PollFd {
        fd: w2,
        events: POLLOUT,
        revents: 0,
    }];
    t.eq(
        "ppoll_no_reader_error",
        user::fs::ppoll(&mut only_write, Some(&zero)),
        Ok(1),
    );
    t.eq(
        "ppoll_error_revents",
        only_write[0].revents,
        POLLOUT | POLLERR,
    );
    let _ = user::fs::close(w2);
    let mut bad = [PollFd {
        fd: 900,
        events: POLLIN,
        revents: 0,
    }];
    t.eq(
        "ppoll_bad_fd_counts",
        user::fs::ppoll(&mut bad, Some(&zero)),
        Ok(1),
    );
    t.eq("ppoll_bad_fd_nval", bad[0].revents, POLLNVAL);
    let mut rs = 1u64 << 60;
    let mut ws = 0u64;
    let mut tmo = zero;
    t.errno(
        "pselect_bad_fd",
        user::fs::pselect(61, &mut rs, &mut ws, &mut tmo),
        Errno::EBADF,
    );
    let _ = user::fs::close(r);
}

fn main(_: &user::Args) -> i32 {
    let mut t = Checks::new();
    basics(&mut t);
    nonblocking(&mut t);
    broken_pipes(&mut t);
    big_transfer(&mut t);
    atomic_writes(&mut t);
    polling(&mut t);
    t.status()
}

user::entry!(main);
