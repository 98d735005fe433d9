//! The initramfs both kernels boot with: every user program of `kernel/user`
//! as `/bin/<name>`, in a cpio "newc" archive (the format Linux's
//! `Documentation/driver-api/early-userspace/buffer-format.rst` describes).
//!
//! Besides `/bin`, the archive holds what Linux needs to start a program with
//! a console: `/dev/console` (character device 5:1), which Linux opens as the
//! first program's fds 0-2; and what the file-system tests use: `/tmp`
//! (mode 0o1777), `/dev/null` (1:3), `/dev/zero` (1:5) and `/dev/tty` (5:0),
//! all 0o666, and an empty `/proc` (0o555). Linux unpacks the archive into
//! its rootfs with these modes (it chmods each entry after making it, so the
//! umask does not apply).
//!
//! The busybox initramfs ([`build_busybox`]) is the same archive, entry for
//! entry, followed by Debian's static busybox as `/bin/busybox` (0755), a
//! symbolic link `/bin/<applet>` -> `busybox` for every applet named in the
//! binary ([`applets`]) that is not already a name in `/bin`, `/sbin` and
//! `/usr/bin` (and `/usr/sbin`) as symbolic links to `/bin` (`sbin` ->
//! `bin`, `usr/bin` -> `../bin`, `usr/sbin` -> `../bin`: one directory holds
//! every link, and a script's `#!/usr/bin/env` or `/sbin/...` still finds
//! its program), and `/etc` with the files the caller adds (the shell
//! scripts of the busybox suite under `/etc/scripts/`, a command line
//! wrapped in `/etc/run.sh`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context, Result};

use crate::compile::{parse_artifacts, USER_TARGET};
use crate::workspace::{display, Workspace};

/// The user-program package.
pub const USER: &str = "user";

/// One entry of a cpio archive. Paths are relative (`bin/hello`), as
/// Linux's own `gen_init_cpio` writes them. `mode` holds the permission
/// bits (set-id and sticky bits included); the type bits come from the
/// variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        data: Vec<u8>,
    },
    CharDevice {
        path: String,
        mode: u32,
        major: u32,
        minor: u32,
    },
    /// A symbolic link to `target`, written as Linux's `gen_init_cpio`
    /// writes one: mode `S_IFLNK | 0o777`, the target as the data (no NUL).
    Symlink {
        path: String,
        target: String,
    },
}

impl Entry {
    /// A directory with mode 0o755.
    pub fn dir(path: &str) -> Entry {
        Entry::Dir {
            path: path.into(),
            mode: 0o755,
        }
    }

    /// A symbolic link `path` -> `target`.
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }

    /// A character device `major:minor` with permission bits `mode`.
    pub fn char_device(path: &str, mode: u32, major: u32, minor: u32) -> Entry {
        Entry::CharDevice {
            path: path.into(),
            mode,
            major,
            minor,
        }
    }
}

/// The entries every initramfs starts with, before the programs of `/bin`.
pub fn base_entries() -> Vec<Entry> {
    vec![
        Entry::dir("bin"),
        Entry::dir("dev"),
        Entry::char_device("dev/console", 0o600, 5, 1),
        Entry::char_device("dev/null", 0o666, 1, 3),
        Entry::char_device("dev/zero", 0o666, 1, 5),
        Entry::char_device("dev/tty", 0o666, 5, 0),
        Entry::Dir {
            path: "proc".into(),
            mode: 0o555,
        },
        Entry::Dir {
            path: "tmp".into(),
            mode: 0o1777,
        },
    ]
}

/// The initramfs on disk and the programs in it.
#[derive(Clone, Debug)]
pub struct Initramfs {
    /// `target/initramfs/initramfs.cpio`.
    pub path: PathBuf,
    /// Program names (each is `/bin/<name>` in the archive), sorted.
    pub programs: Vec<String>,
}

/// Builds every user program (release, `aarch64-unknown-none`) and writes the
/// archive under `target/initramfs/`.
pub fn build(ws: &Workspace) -> Result<Initramfs> {
    let programs = build_programs(ws)?;
    let entries = program_entries(&programs)?;
    let path = write_archive(ws, "initramfs.cpio", &entries)?;
    Ok(Initramfs {
        path,
        programs: programs.into_iter().map(|(name, _)| name).collect(),
    })
}

/// [`base_entries`], then every program as `/bin/<name>`.
fn program_entries(programs: &[(String, PathBuf)]) -> Result<Vec<Entry>> {
    let mut entries = base_entries();
    for (name, elf) in programs {
        let data = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
        entries.push(Entry::File {
            path: format!("bin/{name}"),
            data,
        });
    }
    Ok(entries)
}

/// Writes `entries` as `target/initramfs/<file_name>` (only if it changed).
fn write_archive(ws: &Workspace, file_name: &str, entries: &[Entry]) -> Result<PathBuf> {
    let folder = ws.target_dir.join("initramfs");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let path = folder.join(file_name);
    write_if_changed(&path, &newc(entries))?;
    Ok(path)
}

/// The busybox initramfs on disk.
#[derive(Clone, Debug)]
pub struct BusyboxInitramfs {
    /// `target/initramfs/<file_name>`.
    pub path: PathBuf,
    /// The applets linked in `/bin`, sorted.
    pub linked: Vec<String>,
    /// The applets left out because `/bin` has a program of that name.
    pub shadowed: Vec<String>,
}

/// The busybox initramfs, written as `target/initramfs/<file_name>`:
/// everything [`build`] writes, then `/bin/busybox` (Debian's
/// `busybox-static`, fetched as root the first time: `debian::busybox`),
/// its applet links, `/sbin` and `/usr/bin`, and `/etc` with `files` (paths
/// relative to the root, e.g. `etc/scripts/pipes.sh`; their parent folders
/// under `etc/` are made). Files are written 0755, like the programs.
pub fn build_busybox(
    ws: &Workspace,
    file_name: &str,
    files: &[(String, Vec<u8>)],
) -> Result<BusyboxInitramfs> {
    let binary_path = crate::debian::busybox(ws)?;
    let binary = std::fs::read(&binary_path)
        .with_context(|| format!("reading {}", binary_path.display()))?;
    let applets = applets(&binary).with_context(|| format!("in {}", binary_path.display()))?;
    let programs = build_programs(ws)?;
    let mut entries = program_entries(&programs)?;
    let names: Vec<String> = programs.into_iter().map(|(name, _)| name).collect();
    let (linked, shadowed) = busybox_entries(&mut entries, &names, binary, &applets, files)?;
    let path = write_archive(ws, file_name, &entries)?;
    Ok(BusyboxInitramfs {
        path,
        linked,
        shadowed,
    })
}

/// Appends the busybox part to `entries` (which hold `/bin/<program>` for
/// each of `programs`): `/bin/busybox`, the links, `sbin`, `usr`, `etc` and
/// `files`. Returns the applets linked and those a program shadows.
pub fn busybox_entries(
    entries: &mut Vec<Entry>,
    programs: &[String],
    binary: Vec<u8>,
    applets: &[String],
    files: &[(String, Vec<u8>)],
) -> Result<(Vec<String>, Vec<String>)> {
    entries.push(Entry::File {
        path: "bin/busybox".into(),
        data: binary,
    });
    let (mut linked, mut shadowed) = (Vec::new(), Vec::new());
    for applet in applets {
        if applet == "busybox" || programs.contains(applet) {
            shadowed.push(applet.clone());
            continue;
        }
        entries.push(Entry::symlink(&format!("bin/{applet}"), "busybox"));
        linked.push(applet.clone());
    }
    entries.push(Entry::symlink("sbin", "bin"));
    entries.push(Entry::dir("usr"));
    entries.push(Entry::symlink("usr/bin", "../bin"));
    entries.push(Entry::symlink("usr/sbin", "../bin"));
    entries.push(Entry::dir("etc"));
    let mut made = vec!["etc".to_string()];
    for (path, data) in files {
        if path.starts_with('/') || path.split('/').any(|c| c.is_empty() || c == "..") {
            bail!("initramfs file `{path}`: a relative path without `..` or empty parts");
        }
        if !path.starts_with("etc/") {
            bail!("initramfs file `{path}`: added files go under etc/");
        }
        let mut parent = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if !made.contains(&parent) {
                entries.push(Entry::dir(&parent));
                made.push(parent.clone());
            }
        }
        entries.push(Entry::File {
            path: path.clone(),
            data: data.clone(),
        });
    }
    Ok((linked, shadowed))
}

/// The start of busybox's applet name table: the names are one sorted,
/// NUL-separated string (`applet_names` of the generated `applet_tables.h`),
/// and the first two are always `[` and `[[` (`test`'s other names).
const APPLET_TABLE_START: &[u8] = b"[\0[[\0";

/// The applet names of a busybox executable, read from its name table
/// (the executable is aarch64 and cannot be asked with `--list` here). The
/// table is the first place where `[\0[[\0` starts a run of NUL-separated
/// names in strictly increasing order; it ends at the first name that is
/// empty, not in increasing order or has a byte no applet name has (the
/// bytes after the table belong to other data).
pub fn applets(binary: &[u8]) -> Result<Vec<String>> {
    let mut from = 0;
    while let Some(at) = binary[from..]
        .windows(APPLET_TABLE_START.len())
        .position(|w| w == APPLET_TABLE_START)
    {
        let start = from + at;
        let names = applet_run(&binary[start..]);
        // A real table has far more than `[` and `[[`.
        if names.len() > 2 {
            return Ok(names);
        }
        from = start + 1;
    }
    bail!("no busybox applet table (NUL-separated names starting with `[`, `[[`)")
}

/// The sorted names at the start of `bytes` (see [`applets`]).
fn applet_run(bytes: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for chunk in bytes.split(|&b| b == 0) {
        let valid = !chunk.is_empty()
            && chunk.iter().all(|&b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'[' | b'-' | b'_' | b'.')
            });
        if !valid {
            break;
        }
        let name = String::from_utf8(chunk.to_vec()).expect("ASCII");
        if names.last().is_some_and(|last| *last >= name) {
            break;
        }
        names.push(name);
    }
    names
}

/// `cargo build -p user --release --bins`: the programs' names and ELF paths, sorted.
pub fn build_programs(ws: &Workspace) -> Result<Vec<(String, PathBuf)>> {
    let mut command = ws.cargo();
    command.args([
        "build",
        "-p",
        USER,
        "--bins",
        "--release",
        "--target",
        USER_TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    eprintln!("$ {}", display(&command));
    let output = command.output().context("running cargo")?;
    if !output.status.success() {
        bail!("`{}` failed", display(&command));
    }
    let mut programs: Vec<(String, PathBuf)> =
        parse_artifacts(&String::from_utf8_lossy(&output.stdout))
            .into_iter()
            .filter(|a| !a.test)
            .map(|a| (a.name, a.executable))
            .collect();
    programs.sort();
    if programs.is_empty() {
        bail!("cargo built no user programs");
    }
    Ok(programs)
}

/// Rewrites `path` only when its contents change, so QEMU's file and its
/// timestamp stay put across runs that changed nothing.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The archive: each entry's header, name and data (written by the `cpio`
/// crate's newc writer), then the trailer. Inodes count from 1 in entry
/// order; owner, group and mtime are 0, so the archive is reproducible.
pub fn newc(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let (path, mode, nlink, data, (major, minor)): (&str, u32, u32, &[u8], (u32, u32)) =
            match entry {
                Entry::Dir { path, mode } => (path, 0o040_000 | mode, 2, &[], (0, 0)),
                Entry::File { path, data } => (path, 0o100_755, 1, data, (0, 0)),
                Entry::CharDevice {
                    path,
                    mode,
                    major,
                    minor,
                } => (path, 0o020_000 | mode, 1, &[], (*major, *minor)),
                Entry::Symlink { path, target } => (path, 0o120_777, 1, target.as_bytes(), (0, 0)),
            };
        let size = u32::try_from(data.len()).expect("a cpio member is under 4 GiB");
        let mut member = cpio::NewcBuilder::new(path)
            .ino(index as u32 + 1)
            .mode(mode)
            .nlink(nlink)
            .rdev_major(major)
            .rdev_minor(minor)
            .write(&mut out, size);
        // Writing into a Vec cannot fail, and `size` is exactly the data's.
        member.write_all(data).expect("writing to memory");
        member.finish().expect("writing to memory");
    }
    cpio::newc::trailer(&mut out).expect("writing to memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(header: &[u8], index: usize) -> u32 {
        let start = 6 + 8 * index;
        u32::from_str_radix(std::str::from_utf8(&header[start..start + 8]).unwrap(), 16).unwrap()
    }

    #[test]
    fn header_layout() {
        let archive = newc(&[Entry::File {
            path: "bin/hello".into(),
            data: b"abcde".to_vec(),
        }]);
        assert_eq!(&archive[..6], b"070701");
        assert_eq!(field(&archive, 0), 1, "inode");
        assert_eq!(field(&archive, 1), 0o100_755, "mode");
        assert_eq!(field(&archive, 4), 1, "nlink");
        assert_eq!(field(&archive, 6), 5, "filesize");
        assert_eq!(field(&archive, 11), 10, "namesize includes the NUL");
        // 110-byte header + "bin/hello\0" = 120, already a multiple of 4.
        assert_eq!(&archive[110..120], b"bin/hello\0");
        assert_eq!(&archive[120..125], b"abcde");
        assert_eq!(&archive[125..128], &[0, 0, 0], "data padded to 4 bytes");
        assert_eq!(&archive[128..134], b"070701");
    }

    #[test]
    fn name_padding_and_trailer() {
        let archive = newc(&[Entry::dir("bin")]);
        // 110 + "bin\0" = 114, padded to 116; then the trailer's header.
        assert_eq!(&archive[110..116], b"bin\0\0\0");
        assert_eq!(field(&archive, 1), 0o040_755);
        let trailer = &archive[116..];
        assert_eq!(&trailer[..6], b"070701");
        assert_eq!(field(trailer, 11), 11);
        assert_eq!(&trailer[110..121], b"TRAILER!!!\0");
        assert_eq!(trailer.len(), 124, "the trailer ends on a 4-byte boundary");
        assert!(archive.len().is_multiple_of(4));
    }

    #[test]
    fn device_nodes_carry_their_numbers() {
        let archive = newc(&[Entry::char_device("dev/console", 0o600, 5, 1)]);
        assert_eq!(field(&archive, 1), 0o020_600);
        assert_eq!((field(&archive, 9), field(&archive, 10)), (5, 1));
        assert_eq!(field(&archive, 6), 0);
    }

    /// Each member of `archive`: name, mode, rdev major and minor (the trailer left out).
    fn members(archive: &[u8]) -> Vec<(String, u32, u32, u32)> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let header = &archive[at..];
            assert_eq!(&header[..6], b"070701");
            let namesize = field(header, 11) as usize;
            let name = std::str::from_utf8(&header[110..110 + namesize - 1]).unwrap();
            if name == "TRAILER!!!" {
                return out;
            }
            out.push((
                name.to_string(),
                field(header, 1),
                field(header, 9),
                field(header, 10),
            ));
            let data = (110 + namesize).next_multiple_of(4);
            at += (data + field(header, 6) as usize).next_multiple_of(4);
        }
    }

    #[test]
    fn base_entries_for_the_file_system_tests() {
        let got = members(&newc(&base_entries()));
        let want = [
            ("bin", 0o040_755, 0, 0),
            ("dev", 0o040_755, 0, 0),
            ("dev/console", 0o020_600, 5, 1),
            ("dev/null", 0o020_666, 1, 3),
            ("dev/zero", 0o020_666, 1, 5),
            ("dev/tty", 0o020_666, 5, 0),
            ("proc", 0o040_555, 0, 0),
            ("tmp", 0o041_777, 0, 0),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|&(n, m, a, b)| (n.to_string(), m, a, b))
            .collect();
        assert_eq!(got, want);
    }

    /// One newc member as `gen_init_cpio` lays it out, written by hand:
    /// header (13 fields of 8 hex digits), name, NUL, padding, data, padding.
    fn by_hand(
        ino: u32,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        name: &str,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = b"070701".to_vec();
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        for field in fields {
            out.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn archive_bytes_match_a_hand_written_archive() {
        let mut entries = base_entries();
        entries.push(Entry::File {
            path: "bin/hello".into(),
            data: b"\x7fELF...".to_vec(),
        });
        entries.push(Entry::symlink("bin/sh", "busybox"));
        let mut want = Vec::new();
        want.extend(by_hand(1, 0o040_755, 2, (0, 0), "bin", b""));
        want.extend(by_hand(2, 0o040_755, 2, (0, 0), "dev", b""));
        want.extend(by_hand(3, 0o020_600, 1, (5, 1), "dev/console", b""));
        want.extend(by_hand(4, 0o020_666, 1, (1, 3), "dev/null", b""));
        want.extend(by_hand(5, 0o020_666, 1, (1, 5), "dev/zero", b""));
        want.extend(by_hand(6, 0o020_666, 1, (5, 0), "dev/tty", b""));
        want.extend(by_hand(7, 0o040_555, 2, (0, 0), "proc", b""));
        want.extend(by_hand(8, 0o041_777, 2, (0, 0), "tmp", b""));
        want.extend(by_hand(9, 0o100_755, 1, (0, 0), "bin/hello", b"\x7fELF..."));
        // gen_init_cpio's symlink: S_IFLNK | 0777, one link, the target as
        // the data without a NUL.
        want.extend(by_hand(10, 0o120_777, 1, (0, 0), "bin/sh", b"busybox"));
        want.extend(by_hand(0, 0, 1, (0, 0), "TRAILER!!!", b""));
        assert_eq!(newc(&entries), want);
    }

    #[test]
    fn the_busybox_archive_starts_with_the_plain_one() {
        let plain = base_entries();
        let mut entries = plain.clone();
        let files = [("etc/scripts/a.sh".to_string(), b"echo a\n".to_vec())];
        let applets: Vec<String> = ["[", "[[", "busybox", "hello", "ls", "sh"]
            .map(String::from)
            .to_vec();
        let (linked, shadowed) = busybox_entries(
            &mut entries,
            &["hello".into()],
            b"BB".to_vec(),
            &applets,
            &files,
        )
        .unwrap();
        assert_eq!(linked, ["[", "[[", "ls", "sh"]);
        assert_eq!(shadowed, ["busybox", "hello"]);
        let (a, b) = (newc(&plain), newc(&entries));
        let trailer = 124;
        assert_eq!(a[..a.len() - trailer], b[..a.len() - trailer]);
        let got = members(&b);
        let tail: Vec<(&str, u32)> = got[plain.len()..]
            .iter()
            .map(|(n, m, _, _)| (n.as_str(), *m))
            .collect();
        assert_eq!(
            tail,
            [
                ("bin/busybox", 0o100_755),
                ("bin/[", 0o120_777),
                ("bin/[[", 0o120_777),
                ("bin/ls", 0o120_777),
                ("bin/sh", 0o120_777),
                ("sbin", 0o120_777),
                ("usr", 0o040_755),
                ("usr/bin", 0o120_777),
                ("usr/sbin", 0o120_777),
                ("etc", 0o040_755),
                ("etc/scripts", 0o040_755),
                ("etc/scripts/a.sh", 0o100_755),
            ]
        );
        let mut bad = Vec::new();
        for path in ["etc/../x", "/etc/x", "bin/x", "etc//x"] {
            let files = [(path.to_string(), Vec::new())];
            assert!(
                busybox_entries(&mut bad, &[], Vec::new(), &[], &files).is_err(),
                "{path}"
            );
        }
    }

    #[test]
    fn applet_names_from_the_table() {
        // Other strings before and after, a lone `[` elsewhere, and a `[\0[[\0`
        // that does not start a table.
        let mut binary = b"\x7fELF\0[\0usage\0[\0[[\0\0junk\0".to_vec();
        binary.extend_from_slice(b"[\0[[\0ash\0cat\0ls\0sh\0zcat\0");
        binary.extend_from_slice(b"\0/var/log/wtmp\0-/bin/sh\0");
        assert_eq!(
            applets(&binary).unwrap(),
            ["[", "[[", "ash", "cat", "ls", "sh", "zcat"]
        );
        // The table ends where the order does, or at a byte no name has.
        assert_eq!(applet_run(b"[\0[[\0ls\0cat\0"), ["[", "[[", "ls"]);
        assert_eq!(applet_run(b"[\0[[\0ls\0x y\0"), ["[", "[[", "ls"]);
        assert!(applets(b"no table here").is_err());
        assert!(applets(b"[\0[[\0\0").is_err());
    }

    /// On Debian's `busybox-static` when it is cached (`cargo xtask fetch-debian-kernel`).
    #[test]
    fn applet_names_of_the_real_busybox() {
        let Ok(ws) = Workspace::locate() else { return };
        let Some(path) = crate::debian::cached_busybox(&ws) else {
            eprintln!("busybox-static not cached: skipped");
            return;
        };
        let names = applets(&std::fs::read(path).unwrap()).unwrap();
        assert!(names.len() > 200, "{}", names.len());
        for name in [
            "[", "[[", "sh", "ash", "ls", "cat", "sort", "awk", "sed", "md5sum", "zcat",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted");
    }

    #[test]
    fn every_header_field_is_eight_hex_digits() {
        let archive = newc(&[]);
        assert_eq!(archive.len(), 124);
        assert!(archive[6..110].iter().all(u8::is_ascii_hexdigit));
    }
}
