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
}

impl Entry {
    /// A directory with mode 0o755.
    pub fn dir(path: &str) -> Entry {
        Entry::Dir {
            path: path.into(),
            mode: 0o755,
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
    let mut entries = base_entries();
    for (name, elf) in &programs {
        let data = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
        entries.push(Entry::File {
            path: format!("bin/{name}"),
            data,
        });
    }
    let folder = ws.target_dir.join("initramfs");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let path = folder.join("initramfs.cpio");
    write_if_changed(&path, &newc(&entries))?;
    Ok(Initramfs {
        path,
        programs: programs.into_iter().map(|(name, _)| name).collect(),
    })
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

    #[test]
    fn every_header_field_is_eight_hex_digits() {
        let archive = newc(&[]);
        assert_eq!(archive.len(), 124);
        assert!(archive[6..110].iter().all(u8::is_ascii_hexdigit));
    }
}
