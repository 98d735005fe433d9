//! On-target suite: starting user programs. The ELF checks (every malformed
//! or forbidden executable is refused before anything is mapped), the
//! initramfs reader, the `init=` command line, and a load into a real
//! address space: segment permissions (W^X), bss zeroed, the initial stack
//! laid out as Linux does.
#![no_std]
#![no_main]

extern crate alloc;
use kernel as _;

/// A minimal static executable: ELF header, `phdrs` program headers, then
/// `body` from file offset 0x1000.
fn elf(
    machine: u16,
    class: u8,
    e_type: u16,
    phdrs: &[(u32, u32, u64, u64, u64, u64)],
    body: &[u8],
) -> alloc::vec::Vec<u8> {
    let mut f = alloc::vec![0u8; 0x1000];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = class;
    f[5] = 1;
    f[6] = 1;
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&machine.to_le_bytes());
    f[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for (i, &(p_type, flags, offset, vaddr, filesz, memsz)) in phdrs.iter().enumerate() {
        let o = 64 + 56 * i;
        f[o..o + 4].copy_from_slice(&p_type.to_le_bytes());
        f[o + 4..o + 8].copy_from_slice(&flags.to_le_bytes());
        f[o + 8..o + 16].copy_from_slice(&offset.to_le_bytes());
        f[o + 16..o + 24].copy_from_slice(&vaddr.to_le_bytes());
        f[o + 32..o + 40].copy_from_slice(&filesz.to_le_bytes());
        f[o + 40..o + 48].copy_from_slice(&memsz.to_le_bytes());
    }
    f.extend_from_slice(body);
    f
}

const LOAD: u32 = 1;
const RX: u32 = 5;
const RW: u32 = 6;

/// Text (RX) at 0x401000 from offset 0x1000, data (RW) at 0x403000 from
/// offset 0x2000 with 16 bytes in the file and a 12 KiB bss after them.
fn good() -> alloc::vec::Vec<u8> {
    let mut body = alloc::vec![0xd4u8; 0x1000];
    body[..4].copy_from_slice(&0xd503201fu32.to_le_bytes()); // nop
    let mut data = alloc::vec![0u8; 0x10];
    data.copy_from_slice(b"initialised data");
    body.extend_from_slice(&data);
    elf(
        183,
        2,
        2,
        &[
            (LOAD, RX, 0x1000, 0x40_1000, 0x1000, 0x1000),
            (LOAD, RW, 0x2000, 0x40_3000, 0x10, 0x3000),
        ],
        &body,
    )
}

#[embedded_test::tests(default_timeout = 60)]
mod tests {
    use super::*;
    use kernel::aspace::AddressSpace;
    use kernel::user::elf::{ElfError, Executable};
    use kernel::user::{exec, initramfs};
    use mm::VirtAddr;

    #[test]
    fn a_well_formed_static_executable_is_accepted() {
        let f = good();
        let exe = Executable::parse(&f).expect("parse");
        assert_eq!(exe.entry, 0x40_1000);
        assert_eq!(exe.segments.len(), 2);
        assert!(!exe.position_independent);
    }

    #[test]
    fn malformed_and_forbidden_executables_are_refused() {
        let seg = [(LOAD, RX, 0x1000, 0x40_1000, 0x10, 0x10)];
        assert_eq!(
            Executable::parse(b"#!/bin/sh\n").err(),
            Some(ElfError::NotElf)
        );
        assert_eq!(
            Executable::parse(&elf(183, 1, 2, &seg, &[0; 16])).err(),
            Some(ElfError::Not64BitLittleEndian)
        );
        assert_eq!(
            Executable::parse(&elf(62, 2, 2, &seg, &[0; 16])).err(),
            Some(ElfError::NotAarch64)
        );
        assert_eq!(
            Executable::parse(&elf(183, 2, 1, &seg, &[0; 16])).err(),
            Some(ElfError::NotExecutable)
        );
        let interp = [(3, 4, 0x1000, 0, 0x10, 0x10), seg[0]];
        assert_eq!(
            Executable::parse(&elf(183, 2, 2, &interp, &[0; 16])).err(),
            Some(ElfError::Dynamic)
        );
        let wx = [(LOAD, 7, 0x1000, 0x40_1000, 0x10, 0x10)];
        assert_eq!(
            Executable::parse(&elf(183, 2, 2, &wx, &[0; 16])).err(),
            Some(ElfError::WriteExecute)
        );
        let past_end = [(LOAD, RX, 0x1000, 0x40_1000, 0x10_0000, 0x10_0000)];
        assert_eq!(
            Executable::parse(&elf(183, 2, 2, &past_end, &[0; 16])).err(),
            Some(ElfError::Malformed)
        );
        let file_bigger_than_memory = [(LOAD, RX, 0x1000, 0x40_1000, 0x10, 0x8)];
        assert_eq!(
            Executable::parse(&elf(183, 2, 2, &file_bigger_than_memory, &[0; 16])).err(),
            Some(ElfError::Malformed)
        );
        let incongruent = [(LOAD, RX, 0x1000, 0x40_1800, 0x10, 0x10)];
        assert_eq!(
            Executable::parse(&elf(183, 2, 2, &incongruent, &[0; 16])).err(),
            Some(ElfError::Malformed)
        );
        let sharing_a_page = [
            (LOAD, RX, 0x1000, 0x40_1000, 0x10, 0x10),
            (LOAD, RW, 0x1000, 0x40_1000, 0x10, 0x10),
        ];
        assert_eq!(
            Executable::parse(&elf(183, 2, 2, &sharing_a_page, &[0; 16])).err(),
            Some(ElfError::Overlap)
        );
        assert_eq!(
            Executable::parse(&elf(183, 2, 2, &[], &[0; 16])).err(),
            Some(ElfError::NoSegments)
        );
        // The headers themselves: a file cut inside its header, a program
        // header table running past the end, entries of another size than
        // ELF64's 56 bytes (Linux refuses them too).
        assert_eq!(
            Executable::parse(&good()[..40]).err(),
            Some(ElfError::Malformed)
        );
        let mut table_past_end = good();
        table_past_end[56..58].copy_from_slice(&1000u16.to_le_bytes());
        assert_eq!(
            Executable::parse(&table_past_end).err(),
            Some(ElfError::Malformed)
        );
        for phentsize in [32u16, 64] {
            let mut f = good();
            f[54..56].copy_from_slice(&phentsize.to_le_bytes());
            assert_eq!(
                Executable::parse(&f).err(),
                Some(ElfError::Malformed),
                "e_phentsize {}",
                phentsize
            );
        }
    }

    fn cpio(entries: &[(&str, u32, &[u8])]) -> &'static [u8] {
        let mut out = alloc::vec::Vec::new();
        for (i, &(name, mode, data)) in entries
            .iter()
            .chain([("TRAILER!!!", 0, &[][..])].iter())
            .enumerate()
        {
            let header = alloc::format!(
                "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                i + 1, mode, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
            );
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            while out.len() % 4 != 0 {
                out.push(0);
            }
            out.extend_from_slice(data);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
        alloc::boxed::Box::leak(out.into_boxed_slice())
    }

    #[test]
    fn the_initramfs_finds_files_by_path() {
        let a = cpio(&[
            ("bin", 0o40755, b""),
            ("bin/prog", 0o100755, b"abc"),
            ("./etc/x", 0o100644, b"12345"),
        ]);
        let f = initramfs::find(a, "/bin/prog").unwrap().expect("found");
        assert_eq!(f.data, b"abc");
        assert_eq!(f.mode & initramfs::S_IFMT, initramfs::S_IFREG);
        assert_eq!(
            initramfs::find(a, "/etc/x").unwrap().unwrap().data,
            b"12345"
        );
        assert!(initramfs::find(a, "/bin/other").unwrap().is_none());
    }

    #[test]
    fn a_damaged_initramfs_is_an_error_not_a_crash() {
        let a = cpio(&[("bin/prog", 0o100755, b"abcdef")]);
        let cut: &'static [u8] = &a[..120];
        assert!(matches!(
            initramfs::find(cut, "/bin/prog"),
            Err(initramfs::CpioError::Truncated(_))
        ));
        let mut bad = a.to_vec();
        bad[0] = b'9';
        let bad: &'static [u8] = alloc::boxed::Box::leak(bad.into_boxed_slice());
        assert_eq!(
            initramfs::find(bad, "/bin/prog").err(),
            Some(initramfs::CpioError::BadMagic(0))
        );
    }

    #[test]
    fn init_and_its_arguments_come_from_the_command_line() {
        let (path, argv) = exec::init_command("console=ttyAMA0 init=/bin/t a b").expect("init=");
        assert_eq!(path, "/bin/t");
        assert_eq!(argv, ["/bin/t", "a", "b"]);
        assert!(exec::init_command("console=ttyAMA0 quiet").is_none());
    }

    fn word(a: &AddressSpace, va: u64) -> u64 {
        let mut b = [0u8; 8];
        a.copy_from(VirtAddr::new(va), &mut b).expect("readable");
        u64::from_le_bytes(b)
    }

    fn cstr(a: &AddressSpace, va: u64) -> alloc::string::String {
        let mut s = alloc::string::String::new();
        for i in 0..256 {
            let mut b = [0u8; 1];
            a.copy_from(VirtAddr::new(va + i), &mut b)
                .expect("readable");
            if b[0] == 0 {
                break;
            }
            s.push(b[0] as char);
        }
        s
    }

    #[test]
    fn loading_respects_segment_permissions_zeroes_bss_and_builds_the_linux_stack() {
        let f = good();
        let exe = Executable::parse(&f).unwrap();
        let a = AddressSpace::new().unwrap();
        let loaded =
            exec::load(&a, &exe, "/bin/t", &["/bin/t", "one", "two"], &["HOME=/"]).expect("load");
        assert_eq!(loaded.entry, 0x40_1000);
        assert_eq!(loaded.brk, mm::VirtAddr::new(0x40_6000));
        // Text is read/execute only, data and bss read/write, never both.
        let text = a.area_at(VirtAddr::new(0x40_1000)).unwrap();
        assert!(text.prot.exec && !text.prot.write);
        let data = a.area_at(VirtAddr::new(0x40_5000)).unwrap();
        assert!(data.prot.write && !data.prot.exec);
        assert!(a.translate(VirtAddr::new(0x40_1000)).is_some());
        let mut b = [0u8; 16];
        a.copy_from(VirtAddr::new(0x40_3000), &mut b).unwrap();
        assert_eq!(&b, b"initialised data");
        a.copy_from(VirtAddr::new(0x40_3010), &mut b).unwrap();
        assert_eq!(b, [0; 16], "bss after the file bytes in the same page");
        a.copy_from(VirtAddr::new(0x40_5ff0), &mut b).unwrap();
        assert_eq!(b, [0; 16], "bss pages");
        assert!(
            a.copy_to(VirtAddr::new(0x40_1000), b"x").is_err(),
            "text must not be writable"
        );
        // The stack: 16-byte aligned argc, argv, envp, auxv.
        let sp = loaded.sp;
        assert_eq!(sp % 16, 0);
        assert_eq!(word(&a, sp), 3);
        assert_eq!(cstr(&a, word(&a, sp + 8)), "/bin/t");
        assert_eq!(cstr(&a, word(&a, sp + 16)), "one");
        assert_eq!(cstr(&a, word(&a, sp + 24)), "two");
        assert_eq!(word(&a, sp + 32), 0);
        assert_eq!(cstr(&a, word(&a, sp + 40)), "HOME=/");
        assert_eq!(word(&a, sp + 48), 0);
        let mut aux = alloc::collections::BTreeMap::new();
        let mut p = sp + 56;
        loop {
            let (k, v) = (word(&a, p), word(&a, p + 8));
            if k == 0 {
                break;
            }
            aux.insert(k, v);
            p += 16;
        }
        assert_eq!(aux.get(&6), Some(&4096), "AT_PAGESZ");
        assert_eq!(aux.get(&9), Some(&0x40_1000), "AT_ENTRY");
        assert_eq!(aux.get(&5), Some(&2), "AT_PHNUM");
        assert_eq!(aux.get(&4), Some(&56), "AT_PHENT");
        assert!(
            aux.contains_key(&3) && aux.contains_key(&16),
            "AT_PHDR, AT_HWCAP"
        );
        let random = *aux.get(&25).expect("AT_RANDOM");
        a.copy_from(VirtAddr::new(random), &mut b).unwrap();
        assert_ne!(b, [0; 16]);
        assert_eq!(cstr(&a, *aux.get(&31).expect("AT_EXECFN")), "/bin/t");
    }

    #[test]
    fn a_load_that_collides_is_refused() {
        let f = good();
        let exe = Executable::parse(&f).unwrap();
        let a = AddressSpace::new().unwrap();
        a.map_anonymous(
            4096,
            mm::vma::Prot::RW,
            mm::vma::Placement::Fixed(VirtAddr::new(0x40_3000)),
            false,
        )
        .unwrap();
        assert!(exec::load(&a, &exe, "/bin/t", &["/bin/t"], &[]).is_err());
    }

    /// Code written through the data side must reach instruction fetch: a
    /// page becomes executable only after its lines are cleaned to the point
    /// of unification and the I-cache is invalidated for it (one sync per
    /// page present when mprotect makes it executable; one per page an
    /// executable area faults in). QEMU keeps its caches coherent, so the
    /// count is what shows the maintenance here.
    #[test]
    fn pages_made_executable_are_synced_for_instruction_fetch() {
        use core::sync::atomic::Ordering;
        use kernel::arch::ICACHE_SYNCS;
        use mm::vma::{Placement, Prot};
        let a = AddressSpace::new().unwrap();
        let va = a
            .map_anonymous(3 * 4096, Prot::RW, Placement::Anywhere, false)
            .unwrap();
        let range = mm::VaRange::new(va, va.add(3 * 4096));
        // Two of the three pages present (written), the third never touched.
        a.copy_to(va, &[0x1f, 0x20, 0x03, 0xd5]).unwrap();
        a.copy_to(va.add(4096), &[0x1f, 0x20, 0x03, 0xd5]).unwrap();
        let before = ICACHE_SYNCS.load(Ordering::Relaxed);
        a.protect(range, Prot::RX).unwrap();
        assert_eq!(
            ICACHE_SYNCS.load(Ordering::Relaxed) - before,
            2,
            "each present page is synced once when it becomes executable"
        );
        let before = ICACHE_SYNCS.load(Ordering::Relaxed);
        a.protect(range, Prot::R).unwrap();
        assert_eq!(
            ICACHE_SYNCS.load(Ordering::Relaxed),
            before,
            "no sync for a page that cannot run"
        );
        a.protect(range, Prot::RX).unwrap();
        let before = ICACHE_SYNCS.load(Ordering::Relaxed);
        a.handle_fault(va.add(2 * 4096), false, true).unwrap();
        assert_eq!(
            ICACHE_SYNCS.load(Ordering::Relaxed) - before,
            1,
            "a frame faulted into an executable area is synced"
        );
    }
}
