//! `cargo xtask image --to DIR`: copies the image's files to the SD card's
//! mounted boot partition, after checking that it is one (the Pi 4 firmware,
//! `start4.elf`, is there).
//!
//! A file of the card's own that a copy replaces (Raspberry Pi OS's
//! `kernel8.img`, `config.txt`, `cmdline.txt`) is kept once as `NAME.orig`,
//! so the card can go back: nothing is kept when `NAME.orig` exists already
//! or when the card's `config.txt` is ours (then the files there are from an
//! earlier copy).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The Pi 4's firmware: every Pi 4 boot partition has it.
pub const FIRMWARE: &str = "start4.elf";

/// Refuses `dir` unless it is a folder holding [`FIRMWARE`] (in any case:
/// the partition is FAT).
pub fn check(dir: &Path) -> Result<()> {
    let shown = dir.display();
    if !dir.is_dir() {
        bail!(
            "{shown} is not a folder: pass the folder where the SD card's boot partition is \
             mounted (e.g. /media/$USER/bootfs); nothing was written"
        );
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {shown}"))?;
    let mut found = false;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {shown}"))?;
        found |= entry.file_name().eq_ignore_ascii_case(FIRMWARE);
    }
    if !found {
        bail!(
            "{shown} does not look like a Raspberry Pi boot partition: it has no {FIRMWARE} \
             (the Pi 4 firmware); nothing was written. Mount the SD card's FAT boot partition \
             (from a Raspberry Pi OS image: `bootfs`) and pass its folder"
        );
    }
    Ok(())
}

/// Copies each of `files` into the boot partition `dir`, byte for byte, and
/// syncs them to the card. Keeps the card's own files first (see the module
/// doc); `config.txt` is written last, so it is ours only once the rest is.
/// One line per file written or kept goes to `log`.
pub fn install(
    files: &[PathBuf],
    dir: &Path,
    config_header: &str,
    log: &mut dyn Write,
) -> Result<()> {
    check(dir)?;
    let mut copies = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .with_context(|| format!("{} has no file name", file.display()))?;
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        copies.push((dir.join(name), bytes));
    }
    copies.sort_by_key(|(path, _)| path.ends_with("config.txt"));

    let config = dir.join("config.txt");
    let ours = std::fs::read_to_string(&config).is_ok_and(|text| text.starts_with(config_header));
    if !ours {
        for (path, _) in &copies {
            let mut orig = path.clone().into_os_string();
            orig.push(".orig");
            let orig = PathBuf::from(orig);
            if path.exists() && !orig.exists() {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                write_synced(&orig, &bytes)?;
                writeln!(
                    log,
                    "kept the card's own {} as {} ({} bytes)",
                    path.display(),
                    orig.display(),
                    bytes.len()
                )?;
            }
        }
    }
    for (path, bytes) in &copies {
        write_synced(path, bytes)?;
        writeln!(log, "wrote {} ({} bytes)", path.display(), bytes.len())?;
    }
    // The folder's entries and the FAT itself.
    let folder = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    rustix::fs::syncfs(&folder).with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// Writes `bytes` to `path` and waits until they are on the device.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const HEADER: &str = "# ours";

    /// A fresh, empty folder under the system's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every file in `dir` and its contents.
    fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    /// The image's files in a folder of their own, as `image` writes them.
    fn image(dir: &Path, kernel: &[u8], config: &str) -> Vec<PathBuf> {
        let files = [
            ("kernel8.img", kernel.to_vec()),
            ("config.txt", config.as_bytes().to_vec()),
            ("cmdline.txt", b"init=/bin/hello 3\n".to_vec()),
            ("initramfs.cpio", b"070701\x00\xff".to_vec()),
        ];
        files
            .into_iter()
            .map(|(name, bytes)| {
                let path = dir.join(name);
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }

    fn install_logged(files: &[PathBuf], card: &Path) -> Result<String> {
        let mut log = Vec::new();
        install(files, card, HEADER, &mut log)?;
        Ok(String::from_utf8(log).unwrap())
    }

    #[test]
    fn refused_without_the_firmware_and_nothing_is_written() {
        let root = scratch("card-refused");
        let files = image(&root, b"kernel", "# ours\n");
        let card = root.join("card");
        std::fs::create_dir(&card).unwrap();
        std::fs::write(card.join("fixup4.dat"), b"fw").unwrap();
        std::fs::write(card.join("start4.elf.bak"), b"fw").unwrap();
        let before = contents(&card);
        let error = format!("{:#}", install_logged(&files, &card).unwrap_err());
        assert!(error.contains("has no start4.elf"), "{error}");
        assert!(error.contains("nothing was written"), "{error}");
        assert_eq!(contents(&card), before);

        let missing = root.join("not-mounted");
        let error = format!("{:#}", install_logged(&files, &missing).unwrap_err());
        assert!(error.contains("is not a folder"), "{error}");
        assert!(error.contains("nothing was written"), "{error}");
        assert!(!missing.exists());
        let plain_file = &files[0];
        assert!(check(plain_file).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn copies_byte_exact_and_keeps_the_cards_own_files_once() {
        let root = scratch("card-copy");
        let card = root.join("bootfs");
        let build = root.join("rpi4-sd");
        std::fs::create_dir_all(&card).unwrap();
        std::fs::create_dir_all(&build).unwrap();
        // A Raspberry Pi OS boot partition (FAT: the name's case does not matter).
        let os_files: [(&str, &[u8]); 5] = [
            ("START4.ELF", b"firmware"),
            ("fixup4.dat", b"fixup"),
            ("kernel8.img", b"Linux Image"),
            ("config.txt", b"dtparam=audio=on\n"),
            (
                "cmdline.txt",
                b"console=serial0,115200 root=PARTUUID=1234-02 rootwait\n",
            ),
        ];
        for (name, bytes) in os_files {
            std::fs::write(card.join(name), bytes).unwrap();
        }
        let files = image(
            &build,
            b"\x00first kernel\xff",
            "# ours\nkernel=kernel8.img\n",
        );
        let log = install_logged(&files, &card).unwrap();
        let d = card.display();
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            [
                format!("kept the card's own {d}/kernel8.img as {d}/kernel8.img.orig (11 bytes)"),
                format!("kept the card's own {d}/cmdline.txt as {d}/cmdline.txt.orig (54 bytes)"),
                format!("kept the card's own {d}/config.txt as {d}/config.txt.orig (17 bytes)"),
                format!("wrote {d}/kernel8.img (14 bytes)"),
                format!("wrote {d}/cmdline.txt (18 bytes)"),
                format!("wrote {d}/initramfs.cpio (8 bytes)"),
                format!("wrote {d}/config.txt (26 bytes)"),
            ]
        );
        let on_card = contents(&card);
        for file in &files {
            let name = file.file_name().unwrap().to_str().unwrap();
            assert_eq!(on_card[name], std::fs::read(file).unwrap(), "{name}");
        }
        for (name, bytes) in os_files {
            let kept = match name {
                "START4.ELF" | "fixup4.dat" => name.to_string(),
                _ => format!("{name}.orig"),
            };
            assert_eq!(on_card[&kept], bytes, "{kept}");
        }
        // The card's 5 files, initramfs.cpio, 3 backups.
        assert_eq!(on_card.len(), 9);

        // Again, with a new kernel: the backups are not replaced by our files.
        let files = image(&build, b"second kernel", "# ours\nkernel=kernel8.img\n");
        let log = install_logged(&files, &card).unwrap();
        assert!(!log.contains("kept"), "{log}");
        assert_eq!(log.lines().count(), 4);
        let again = contents(&card);
        assert_eq!(again["kernel8.img"], b"second kernel");
        assert_eq!(again["kernel8.img.orig"], b"Linux Image");
        assert_eq!(again["config.txt.orig"], b"dtparam=audio=on\n");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_existing_backup_is_never_replaced() {
        let root = scratch("card-backup-exists");
        let files = image(&root, b"kernel", "# ours\n");
        let card = root.join("card");
        std::fs::create_dir(&card).unwrap();
        std::fs::write(card.join("start4.elf"), b"fw").unwrap();
        // Raspberry Pi OS's files put back by hand after an earlier copy.
        std::fs::write(card.join("config.txt"), b"os config\n").unwrap();
        std::fs::write(card.join("config.txt.orig"), b"os config\n").unwrap();
        std::fs::write(card.join("kernel8.img"), b"Linux").unwrap();
        std::fs::write(card.join("kernel8.img.orig"), b"older Linux").unwrap();
        let log = install_logged(&files, &card).unwrap();
        assert!(!log.contains("kept"), "{log}");
        let on_card = contents(&card);
        assert_eq!(on_card["kernel8.img.orig"], b"older Linux");
        assert_eq!(on_card["config.txt.orig"], b"os config\n");
        assert_eq!(on_card["kernel8.img"], b"kernel");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_card_with_only_the_firmware_gets_no_backups() {
        let root = scratch("card-bare");
        let files = image(&root, b"kernel", "# ours\n");
        let card = root.join("card");
        std::fs::create_dir(&card).unwrap();
        std::fs::write(card.join("start4.elf"), b"fw").unwrap();
        install_logged(&files, &card).unwrap();
        // The second copy replaces only files of ours: no `.orig` of them.
        let log = install_logged(&files, &card).unwrap();
        assert!(!log.contains("kept"), "{log}");
        assert!(contents(&card).keys().all(|name| !name.ends_with(".orig")));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
