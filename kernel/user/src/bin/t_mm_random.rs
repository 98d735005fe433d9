//! A randomized differential test of the memory system calls:
//! `t_mm_random <seed> [ops] [switch ...]`.
//!
//! A small PRNG (xorshift64*, seeded from the decimal `seed`) picks `ops`
//! operations (default 300) on a private arena of [`PAGES`] pages at the
//! fixed address [`ARENA`], which both kernels leave free: `mmap`
//! (`MAP_FIXED` or `MAP_FIXED_NOREPLACE`, private or shared, `PROT_NONE`,
//! read-only or read/write), `munmap`, `mprotect`, `mremap` (shrink, same
//! size, grow in place, `MREMAP_MAYMOVE|MREMAP_FIXED` to another place in
//! the arena), `madvise(MADV_DONTNEED)`, and direct writes of a tag word to
//! pages that must be writable and reads that check it. The kernel never
//! chooses an address, so every result can be printed relative to the arena.
//!
//! The program keeps a page-granular model of the arena: what is mapped,
//! with which protection, the first word of each page (private pages, or the
//! page of the shared object a shared page maps) and which pages surely lie
//! in one area (an id per mapping, renewed whenever an area may be split).
//! Given an operation's result, the model applies Linux's semantics (also
//! the partial effects of some failures: `MADV_DONTNEED` over a hole drops
//! the mapped parts; with the switches below, `mprotect` over a hole and an
//! `mremap` move that fails after unmapping its target). Where the result
//! itself is certain the model predicts it, and a different result is a
//! `FAIL` line.
//!
//! After every operation the whole arena and the page on each side of it are
//! observed without touching them from user space: `madvise(MADV_NORMAL)`
//! (mapped?), `futex(FUTEX_WAIT)` with a zero timeout (readable? the tag?),
//! `clock_gettime` into the page's last 16 bytes (writable?). Every page whose
//! observation differs from the model is a `FAIL` line, and the model adopts
//! what was observed so that one difference does not cascade. Memory is only
//! ever accessed directly where the model and a probe just made both say it
//! is accessible: a fault would kill the program on both kernels and hide the
//! difference.
//!
//! Output: a header, one line per operation (`<n> <call>(<args>) = <result>`,
//! addresses as `A+<offset>`, errors by name), the `FAIL` lines, and a summary
//! line; the exit status is 0 iff there was no `FAIL`. On a kernel that
//! behaves like Linux the output depends on the seed only, so the conformance
//! suite compares it with Linux's byte for byte.
//!
//! Switches (further arguments) let the generator produce the classes of case
//! in which this kernel once differed from Linux (see [`SWITCHES`]); they are
//! off by default so that a new class can be added before its fix lands. The
//! test suites turn on those fixed since (xtask's `MM_RANDOM_SWITCHES`).
#![no_std]
#![no_main]
use core::fmt;

use user::mm::{self, advice, map, mremap_flags as mr, probe_read, probe_write, Probe, PAGE};
use user::{print, println, Errno};

/// The arena: far below both kernels' stacks and mmap bases, far above the
/// program and its break.
const ARENA: usize = 0x7000_0000_0000;
/// Pages in the arena; the page before and the page after it must stay
/// unmapped (nothing here maps them; a kernel that did is caught).
const PAGES: usize = 64;
/// Longest range an operation picks, in pages.
const MAX_LEN: usize = 8;
const DEFAULT_OPS: u32 = 300;
/// Shared objects the model tracks at once (each live one is mapped by at
/// least one page, so `PAGES` plus room for the new one suffice).
const OBJECTS: usize = PAGES + 8;

/// The generator's switches: name, bit, what it lets the generator do.
const SWITCHES: &[(&str, u32, &str)] = &[
    (
        "mprotect-holes",
        MPROTECT_HOLES,
        "mprotect over a range with a hole after mapped pages (Linux changes the pages before the hole and returns ENOMEM)",
    ),
    (
        "mremap-span",
        MREMAP_SPAN,
        "mremap shrink, same size or move whose old range spans several areas or a hole (Linux looks up only the first page's area)",
    ),
    (
        "mremap-merged",
        MREMAP_MERGED,
        "mremap grow or move over adjacent mappings made apart (the result depends on which areas the kernel merged)",
    ),
    (
        "mremap-check-order",
        MREMAP_CHECK_ORDER,
        "mremap move from an unmapped address to an overlapping target (Linux: EFAULT before the overlap's EINVAL)",
    ),
    (
        "mmap-bad-args",
        MMAP_BAD_ARGS,
        "mmap with invalid or unknown arguments (check order, unknown prot and flag bits)",
    ),
    (
        "shared-grow",
        SHARED_GROW,
        "growing a shared mapping past its object (Linux: those pages are SIGBUS, and regrown pages keep their contents)",
    ),
    (
        "shared-dup",
        SHARED_DUP,
        "mremap with old length 0 of a shared mapping: a second mapping of the same object",
    ),
];
const MPROTECT_HOLES: u32 = 1 << 0;
const MREMAP_SPAN: u32 = 1 << 1;
const MREMAP_MERGED: u32 = 1 << 2;
const MREMAP_CHECK_ORDER: u32 = 1 << 3;
const MMAP_BAD_ARGS: u32 = 1 << 4;
const SHARED_GROW: u32 = 1 << 5;
const SHARED_DUP: u32 = 1 << 6;

/// Protection bits as the model keeps them.
const R: u32 = mm::prot::READ;
const W: u32 = mm::prot::WRITE;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed: never zero, neighbouring seeds far apart.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        ((self.next() >> 32) % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// What backs a page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Back {
    /// Private anonymous memory and its first word (`None`: unknown).
    Private(Option<u64>),
    /// Page `off` of shared object `obj`; past the object's end it is
    /// mapped but every access is refused (SIGBUS on Linux).
    Shared { obj: usize, off: usize },
}

#[derive(Clone, Copy)]
struct Page {
    prot: u32,
    /// Pages with the same id form one contiguous run that lies inside one
    /// area on any kernel (each id has at most one run, see `normalize`).
    id: u32,
    back: Back,
}

#[derive(Clone, Copy)]
struct Object {
    /// Size in pages when it was made (shared anonymous memory never grows).
    size: usize,
    /// First word of each page.
    words: [Option<u64>; MAX_LEN],
}

/// What the program knows the arena must look like.
struct Model {
    pages: [Option<Page>; PAGES],
    objects: [Object; OBJECTS],
    next_id: u32,
}

impl Model {
    fn new() -> Model {
        Model {
            pages: [None; PAGES],
            objects: [Object {
                size: 0,
                words: [None; MAX_LEN],
            }; OBJECTS],
            next_id: 1,
        }
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Page `i` of the arena; `None` also for the guard pages (`i` = -1 or
    /// `PAGES`).
    fn get(&self, i: isize) -> Option<Page> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.pages.get(i).copied().flatten())
    }

    fn mapped(&self, i: usize) -> bool {
        self.pages[i].is_some()
    }

    fn past_object(&self, p: &Page) -> bool {
        matches!(p.back, Back::Shared { obj, off } if off >= self.objects[obj].size)
    }

    fn readable(&self, p: &Page) -> bool {
        p.prot & R != 0 && !self.past_object(p)
    }

    fn writable(&self, p: &Page) -> bool {
        p.prot & W != 0 && !self.past_object(p)
    }

    /// The first word of a readable page, if known.
    fn word(&self, p: &Page) -> Option<u64> {
        match p.back {
            Back::Private(w) => w,
            Back::Shared { obj, off } => self.objects[obj].words.get(off).copied().flatten(),
        }
    }

    fn set_word(&mut self, i: usize, value: Option<u64>) {
        let Some(p) = self.pages[i].as_mut() else {
            return;
        };
        match &mut p.back {
            Back::Private(w) => *w = value,
            Back::Shared { obj, off } => {
                if let Some(w) = self.objects[*obj].words.get_mut(*off) {
                    *w = value;
                }
            }
        }
    }

    /// A shared object of `size` pages, zero-filled: a slot no page maps.
    fn new_object(&mut self, size: usize) -> usize {
        let slot = (0..OBJECTS)
            .find(|&o| {
                !self
                    .pages
                    .iter()
                    .flatten()
                    .any(|p| matches!(p.back, Back::Shared { obj, .. } if obj == o))
            })
            .expect("more shared objects than pages");
        self.objects[slot] = Object {
            size,
            words: [Some(0); MAX_LEN],
        };
        slot
    }

    fn unmap(&mut self, start: usize, end: usize) {
        for p in &mut self.pages[start.min(PAGES)..end.min(PAGES)] {
            *p = None;
        }
    }

    /// All of `start..end` mapped with one id: one area on any kernel.
    fn single(&self, start: usize, end: usize) -> bool {
        let Some(first) = self.pages[start] else {
            return false;
        };
        (start..end).all(|i| matches!(self.pages[i], Some(p) if p.id == first.id))
    }

    fn has_hole(&self, start: usize, end: usize) -> bool {
        (start..end).any(|i| !self.mapped(i))
    }

    /// Gives the mapped pages of `start..end` new ids: one per run of an
    /// old id (their areas may have been split at the ends).
    fn renumber(&mut self, start: usize, end: usize) {
        let mut last: Option<(u32, u32)> = None;
        for i in start..end {
            if let Some(p) = self.pages[i].as_mut() {
                let id = match last {
                    Some((old, new)) if old == p.id => new,
                    _ => {
                        self.next_id += 1;
                        self.next_id
                    }
                };
                last = Some((p.id, id));
                p.id = id;
            } else {
                last = None;
            }
        }
    }

    /// Keeps one run per id: a second run of an id (left when a hole split
    /// it) gets a new one, so that growing the first run up to it never makes
    /// the model think they are one area.
    fn normalize(&mut self) {
        let mut seen = [0u32; PAGES];
        let mut count = 0;
        let mut previous: Option<u32> = None;
        for i in 0..PAGES {
            let Some(id) = self.pages[i].map(|p| p.id) else {
                previous = None;
                continue;
            };
            if previous == Some(id) {
                continue;
            }
            let id = if seen[..count].contains(&id) {
                let fresh = self.fresh_id();
                let mut j = i;
                while j < PAGES && matches!(self.pages[j], Some(p) if p.id == id) {
                    if let Some(p) = self.pages[j].as_mut() {
                        p.id = fresh;
                    }
                    j += 1;
                }
                fresh
            } else {
                id
            };
            seen[count] = id;
            count += 1;
            previous = Some(id);
        }
    }

    /// The run of the id of mapped page `i`: `start..end`.
    fn run(&self, i: usize) -> (usize, usize) {
        let id = self.pages[i].map(|p| p.id);
        let same = |j: usize| self.pages[j].map(|p| p.id) == id;
        let mut start = i;
        while start > 0 && same(start - 1) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < PAGES && same(end) {
            end += 1;
        }
        (start, end)
    }
}

/// The tag op `op` writes to page `page`; its low 32 bits (what the futex
/// probe compares) are unique too.
fn tag(op: u32, page: usize) -> u64 {
    0x6d6d_0000_0000_0000 | u64::from(op) << 8 | page as u64
}

fn addr(page: usize) -> usize {
    ARENA + page * PAGE
}

/// An address as `A+<offset>` (or `A-<offset>`), a value the kernel
/// returned outside the arena without its value (it differs between
/// kernels).
struct At(usize);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        if (ARENA - PAGE..=ARENA + (PAGES + 1) * PAGE).contains(&a) {
            if a >= ARENA {
                write!(f, "A+{:#x}", a - ARENA)
            } else {
                write!(f, "A-{:#x}", ARENA - a)
            }
        } else {
            f.write_str("(outside the arena)")
        }
    }
}

/// A system call's result as printed: an address, 0 or the errno's name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Addr(usize),
    Zero,
    Error(Errno),
}

impl Outcome {
    fn of_addr(r: Result<usize, Errno>) -> Outcome {
        r.map_or_else(Outcome::Error, Outcome::Addr)
    }

    fn of_unit(r: Result<(), Errno>) -> Outcome {
        r.map_or_else(Outcome::Error, |()| Outcome::Zero)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Addr(a) => At(*a).fmt(f),
            Outcome::Zero => f.write_str("0"),
            Outcome::Error(e) => write!(f, "{e}"),
        }
    }
}

struct ProtName(u32);

impl fmt::Display for ProtName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = self.0 & (R | W);
        f.write_str(match known {
            0 => "NONE",
            R => "READ",
            W => "WRITE",
            _ => "READ|WRITE",
        })?;
        if self.0 & !(R | W) != 0 {
            write!(f, "|{:#x}", self.0 & !(R | W))?;
        }
        Ok(())
    }
}

struct MapFlags(u32);

impl fmt::Display for MapFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: [(u32, &str); 4] = [
            (map::ANONYMOUS, "ANONYMOUS"),
            (map::FIXED, "FIXED"),
            (map::FIXED_NOREPLACE, "FIXED_NOREPLACE"),
            (map::POPULATE, "POPULATE"),
        ];
        let mut rest = self.0;
        f.write_str(match rest & 0xf {
            0 => "NOTYPE",
            map::SHARED => "SHARED",
            map::PRIVATE => "PRIVATE",
            map::SHARED_VALIDATE => "SHARED_VALIDATE",
            _ => "TYPE?",
        })?;
        rest &= !0xf;
        for (bit, name) in names {
            if rest & bit != 0 {
                write!(f, "|{name}")?;
                rest &= !bit;
            }
        }
        if rest != 0 {
            write!(f, "|{rest:#x}")?;
        }
        Ok(())
    }
}

struct RemapFlags(u32);

impl fmt::Display for RemapFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("0"),
            mr::MAYMOVE => f.write_str("MAYMOVE"),
            x if x == mr::MAYMOVE | mr::FIXED => f.write_str("MAYMOVE|FIXED"),
            x => write!(f, "{x:#x}"),
        }
    }
}

/// What the probes found at one page.
struct Seen {
    mapped: bool,
    read: Probe,
    write: Result<(), Errno>,
}

/// A page's state as printed in a FAIL line: `unmapped`, or the access
/// (`---`, `r--`, `rw-`, `-w-`), `(not an area)` if it is accessible but not
/// mapped, and the first word of a readable page.
struct State {
    mapped: bool,
    read: bool,
    write: bool,
    /// `Some(Some(w))` the word, `Some(None)` a word other than the model's
    /// (not read: the model says the page is not readable), `None` unknown.
    word: Option<Option<u64>>,
}

impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.mapped == other.mapped
            && self.read == other.read
            && self.write == other.write
            && (!self.read
                || self.word.is_none()
                || other.word.is_none()
                || self.word == other.word)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.mapped && !self.read && !self.write {
            return f.write_str("unmapped");
        }
        write!(
            f,
            "{}{}-",
            if self.read { 'r' } else { '-' },
            if self.write { 'w' } else { '-' }
        )?;
        if !self.mapped {
            f.write_str(" (not an area)")?;
        }
        if self.read {
            match self.word {
                Some(Some(w)) => write!(f, " {w:#018x}")?,
                Some(None) => f.write_str(" (another word)")?,
                None => f.write_str(" (any word)")?,
            }
        }
        Ok(())
    }
}

struct Test {
    rng: Rng,
    model: Model,
    switches: u32,
    /// The operation being run (1-based), for lines and tags.
    op: u32,
    fails: u32,
}

impl Test {
    fn on(&self, switch: u32) -> bool {
        self.switches & switch != 0
    }

    fn fail(&mut self, what: fmt::Arguments<'_>) {
        self.fails += 1;
        println!("FAIL {} {}", self.op, what);
    }

    /// Prints the operation's line; a FAIL line if the result is not the
    /// predicted one.
    fn report(&mut self, call: fmt::Arguments<'_>, got: Outcome, want: Option<Outcome>) {
        println!("{} {} = {}", self.op, call, got);
        if let Some(want) = want {
            if want != got {
                self.fail(format_args!("result: want {want}"));
            }
        }
    }

    /// A range of 1..=MAX_LEN pages inside the arena.
    fn range(&mut self) -> (usize, usize) {
        let start = self.rng.below(PAGES);
        let len = 1 + self.rng.below(MAX_LEN);
        (start, len.min(PAGES - start))
    }

    /// Like [`Test::range`], but most of the time starting at a mapped page
    /// (ranges that start in a hole only ever fail).
    fn mapped_range(&mut self) -> (usize, usize) {
        if !self.rng.one_in(4) {
            if let Some(start) = self.mapped_page(|_, _| true) {
                let len = 1 + self.rng.below(MAX_LEN);
                return (start, len.min(PAGES - start));
            }
        }
        self.range()
    }

    fn prot(&mut self) -> u32 {
        match self.rng.below(7) {
            0 => mm::prot::NONE,
            1 | 2 => R,
            _ => R | W,
        }
    }

    /// A mapped page, if any.
    fn mapped_page(&mut self, ok: impl Fn(&Model, &Page) -> bool) -> Option<usize> {
        let count = (0..PAGES)
            .filter(|&i| self.model.pages[i].is_some_and(|p| ok(&self.model, &p)))
            .count();
        if count == 0 {
            return None;
        }
        let pick = self.rng.below(count);
        (0..PAGES)
            .filter(|&i| self.model.pages[i].is_some_and(|p| ok(&self.model, &p)))
            .nth(pick)
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..16 => self.mmap(),
            16..24 => self.munmap(),
            24..38 => self.mprotect(),
            38..46 => self.madvise(),
            46..68 => self.mremap(),
            68..90 => self.write(),
            _ => self.read(),
        }
        self.model.normalize();
        self.sweep();
    }

    fn mmap(&mut self) {
        let (start, pages) = self.range();
        let mut prot = self.prot();
        let shared = self.rng.one_in(4);
        let noreplace = self.rng.one_in(8);
        let mut flags = map::ANONYMOUS
            | if shared { map::SHARED } else { map::PRIVATE }
            | if noreplace {
                map::FIXED_NOREPLACE
            } else {
                map::FIXED
            };
        let mut at = addr(start);
        let mut len = pages * PAGE;
        let mut offset = 0;
        let bad = self.on(MMAP_BAD_ARGS) && self.rng.one_in(3);
        if bad {
            // One or two different mutations (the same one twice could
            // cancel out: two half-page shifts make an aligned address).
            let first = self.rng.below(8);
            let second = (first + 1 + self.rng.below(7)) % 8;
            let count = 1 + self.rng.below(2);
            for mutation in [first, second].into_iter().take(count) {
                match mutation {
                    0 => prot |= 0x40,
                    1 => flags |= 0x40,
                    2 => flags = flags & !0xf | map::SHARED_VALIDATE,
                    3 => at += 0x800,
                    4 => len = 0,
                    5 => offset = 0x800,
                    6 => flags &= !0xf,
                    _ => len = len.saturating_sub(0x100),
                }
            }
        }
        let want = if bad {
            None
        } else if noreplace && !(start..start + pages).all(|i| !self.model.mapped(i)) {
            Some(Outcome::Error(Errno::EEXIST))
        } else {
            Some(Outcome::Addr(at))
        };
        let got = Outcome::of_addr(mm::mmap(at, len, prot, flags, -1, offset));
        self.report(
            format_args!(
                "mmap({}, {len:#x}, {}, {}, -1, {offset:#x})",
                At(at),
                ProtName(prot),
                MapFlags(flags)
            ),
            got,
            want,
        );
        let Outcome::Addr(a) = got else {
            return;
        };
        if a != addr(start) || len == 0 {
            self.cleanup(a, len);
            return;
        }
        // Linux keeps the READ and WRITE bits (write implies read on arm64).
        let prot = if prot & W != 0 { R | W } else { prot & R };
        let pages = len.div_ceil(PAGE);
        let id = self.model.fresh_id();
        let obj = matches!(flags & 0xf, map::SHARED | map::SHARED_VALIDATE)
            .then(|| self.model.new_object(pages));
        for i in 0..pages {
            self.model.pages[start + i] = Some(Page {
                prot,
                id,
                back: match obj {
                    Some(obj) => Back::Shared { obj, off: i },
                    None => Back::Private(Some(0)),
                },
            });
        }
    }

    /// A mapping the kernel made where the model did not ask: outside the
    /// arena it is unmapped again (inside, the sweep reports it).
    fn cleanup(&mut self, a: usize, len: usize) {
        let inside = (ARENA - PAGE..ARENA + (PAGES + 1) * PAGE).contains(&a);
        if !inside && len != 0 {
            let _ = mm::munmap(a, len);
        }
    }

    fn munmap(&mut self) {
        let (start, pages) = self.range();
        let got = Outcome::of_unit(mm::munmap(addr(start), pages * PAGE));
        self.report(
            format_args!("munmap({}, {:#x})", At(addr(start)), pages * PAGE),
            got,
            Some(Outcome::Zero),
        );
        if got == Outcome::Zero {
            self.model.unmap(start, start + pages);
        }
    }

    fn mprotect(&mut self) {
        let (start, mut pages) = self.mapped_range();
        let prot = self.prot();
        if !self.on(MPROTECT_HOLES) && self.model.mapped(start) {
            // Up to the first hole: this kernel changes nothing when there
            // is one further on, Linux the pages before it.
            pages = (start..start + pages)
                .take_while(|&i| self.model.mapped(i))
                .count();
        }
        let end = start + pages;
        let hole = (start..end).find(|&i| !self.model.mapped(i));
        let want = Some(match hole {
            None => Outcome::Zero,
            Some(_) => Outcome::Error(Errno::ENOMEM),
        });
        let got = Outcome::of_unit(mm::mprotect(addr(start), pages * PAGE, prot));
        self.report(
            format_args!(
                "mprotect({}, {:#x}, {})",
                At(addr(start)),
                pages * PAGE,
                ProtName(prot)
            ),
            got,
            want,
        );
        // Linux changes area after area up to the first hole.
        let changed = match got {
            Outcome::Zero => end,
            Outcome::Error(Errno::ENOMEM) => hole.unwrap_or(start),
            _ => start,
        };
        for i in start..changed {
            if let Some(p) = self.model.pages[i].as_mut() {
                p.prot = prot;
            }
        }
        self.model.renumber(start, changed);
    }

    fn madvise(&mut self) {
        let (start, pages) = self.mapped_range();
        let end = start + pages;
        let want = if self.model.has_hole(start, end) {
            Outcome::Error(Errno::ENOMEM)
        } else {
            Outcome::Zero
        };
        let got = Outcome::of_unit(mm::madvise(addr(start), pages * PAGE, advice::DONTNEED));
        self.report(
            format_args!(
                "madvise({}, {:#x}, DONTNEED)",
                At(addr(start)),
                pages * PAGE
            ),
            got,
            Some(want),
        );
        if matches!(got, Outcome::Zero | Outcome::Error(Errno::ENOMEM)) {
            // The mapped parts are dropped even around holes; shared pages
            // keep their object's contents.
            for i in start..end {
                if matches!(self.model.pages[i], Some(p) if matches!(p.back, Back::Private(_))) {
                    self.model.set_word(i, Some(0));
                }
            }
        }
    }

    fn mremap(&mut self) {
        for _ in 0..32 {
            if let Some(plan) = self.remap_plan() {
                return self.remap(plan);
            }
        }
        // Nothing fits (e.g. an empty arena): map something instead.
        self.mmap();
    }

    /// A random mremap the switches allow, or `None` to draw again.
    fn remap_plan(&mut self) -> Option<Remap> {
        let (s, o) = if self.rng.one_in(5) {
            self.range()
        } else {
            let p = self.mapped_page(|_, _| true)?;
            let (rs, re) = self.model.run(p);
            let s = rs + self.rng.below(re - rs);
            (s, 1 + self.rng.below((re - s).min(MAX_LEN)))
        };
        let (o, n, flags) = match self.rng.below(10) {
            // Shrink (or, one in four, same size), with or without MAYMOVE.
            0..3 => {
                // A one-page old range can only stay the same size: take the
                // run up to its end instead.
                let o = if o == 1 && self.model.mapped(s) {
                    (self.model.run(s).1 - s).min(MAX_LEN)
                } else {
                    o
                };
                let n = if o == 1 || self.rng.one_in(4) {
                    o
                } else {
                    1 + self.rng.below(o - 1)
                };
                (o, n, if self.rng.one_in(3) { mr::MAYMOVE } else { 0 })
            }
            // Grow in place: mostly from the end of the run into the free
            // pages after it (the growth that can succeed), else anyhow.
            3..6 => {
                let end = if s < PAGES && self.model.mapped(s) {
                    self.model.run(s).1
                } else {
                    s + o
                };
                let free = (end..PAGES).take_while(|&i| !self.model.mapped(i)).count();
                if free > 0 && end - s <= MAX_LEN && !self.rng.one_in(4) {
                    let o = end - s;
                    (o, o + 1 + self.rng.below(free.min(MAX_LEN)), 0)
                } else {
                    (o, o + 1 + self.rng.below(MAX_LEN), 0)
                }
            }
            // Old length 0: a second mapping of a shared object.
            6 if self.on(SHARED_DUP) => (0, 1 + self.rng.below(MAX_LEN), mr::MAYMOVE | mr::FIXED),
            // Move.
            _ => (o, 1 + self.rng.below(MAX_LEN), mr::MAYMOVE | mr::FIXED),
        };
        let fixed = flags & mr::FIXED != 0;
        let t = if fixed {
            self.rng.below(PAGES - n + 1)
        } else {
            s
        };
        if s + n > PAGES && !fixed {
            return None;
        }
        // As Linux's check: the ranges overlap (with old length 0, the
        // target strictly around the old address).
        let overlap = fixed && s + o > t && t + n > s;
        if o == 0 && t <= s && s < t + n {
            // The target would swallow the old page itself.
            return None;
        }
        let m = &self.model;
        let start = m.pages[s];
        let shared = start.is_some_and(|p| matches!(p.back, Back::Shared { .. }));
        let single = o > 0 && m.single(s, s + o);
        let hole = o > 0 && m.has_hole(s, s + o);
        let grows = n > o;
        // The switches the case needs (none: this kernel agrees with Linux).
        let mut needs = 0;
        if o == 0 {
            needs |= SHARED_DUP;
        } else if start.is_none() {
            if overlap {
                needs |= MREMAP_CHECK_ORDER;
            }
        } else if overlap || single {
            // EINVAL for the overlap; one area behaves alike on both kernels.
        } else if hole {
            // A grow in place is EFAULT on both kernels.
            if fixed || !grows {
                needs |= MREMAP_SPAN;
            }
        } else if fixed || grows {
            needs |= MREMAP_MERGED;
        } else {
            needs |= MREMAP_SPAN;
        }
        if shared && grows && !hole && !overlap {
            needs |= SHARED_GROW;
        }
        if needs & !self.switches != 0 {
            return None;
        }
        // Growing with MAYMOVE would let the kernel pick an address when it
        // cannot grow in place: only where it can.
        let flags =
            if !fixed && grows && single && self.tail_free(s + o, s + n) && self.rng.one_in(3) {
                mr::MAYMOVE
            } else {
                flags
            };
        Some(Remap {
            s,
            o,
            n,
            flags,
            t,
            overlap,
        })
    }

    /// Nothing mapped in `start..end`, inside the arena.
    fn tail_free(&self, start: usize, end: usize) -> bool {
        end <= PAGES && !(start..end).any(|i| self.model.mapped(i))
    }

    /// Linux's result for a plan, when it does not depend on how the kernel
    /// merged areas.
    fn remap_want(&self, r: &Remap) -> Option<Outcome> {
        let m = &self.model;
        let Some(first) = m.pages[r.s] else {
            return Some(Outcome::Error(Errno::EFAULT));
        };
        let fixed = r.flags & mr::FIXED != 0;
        if fixed {
            if r.overlap {
                return Some(Outcome::Error(Errno::EINVAL));
            }
            if r.o == 0 {
                return Some(match first.back {
                    Back::Shared { .. } => Outcome::Addr(addr(r.t)),
                    Back::Private(_) => Outcome::Error(Errno::EINVAL),
                });
            }
            // The tail past the new length goes first: only the rest must be
            // one area.
            let core = r.o.min(r.n);
            if m.single(r.s, r.s + core) {
                return Some(Outcome::Addr(addr(r.t)));
            }
            if m.has_hole(r.s, r.s + core) {
                return Some(Outcome::Error(Errno::EFAULT));
            }
            return None;
        }
        if r.n <= r.o {
            return Some(Outcome::Addr(addr(r.s)));
        }
        if m.has_hole(r.s, r.s + r.o) {
            return Some(Outcome::Error(Errno::EFAULT));
        }
        if !m.single(r.s, r.s + r.o) {
            return None;
        }
        if self.tail_free(r.s + r.o, r.s + r.n) {
            Some(Outcome::Addr(addr(r.s)))
        } else {
            Some(Outcome::Error(Errno::ENOMEM))
        }
    }

    fn remap(&mut self, r: Remap) {
        let want = self.remap_want(&r);
        let (s, o, n) = (r.s, r.o, r.n);
        let fixed = r.flags & mr::FIXED != 0;
        let got = Outcome::of_addr(mm::mremap(
            addr(s),
            o * PAGE,
            n * PAGE,
            r.flags,
            if fixed { addr(r.t) } else { 0 },
        ));
        if fixed {
            self.report(
                format_args!(
                    "mremap({}, {:#x}, {:#x}, {}, {})",
                    At(addr(s)),
                    o * PAGE,
                    n * PAGE,
                    RemapFlags(r.flags),
                    At(addr(r.t))
                ),
                got,
                want,
            );
        } else {
            self.report(
                format_args!(
                    "mremap({}, {:#x}, {:#x}, {})",
                    At(addr(s)),
                    o * PAGE,
                    n * PAGE,
                    RemapFlags(r.flags)
                ),
                got,
                want,
            );
        }
        let start_mapped = self.model.mapped(s);
        match got {
            Outcome::Addr(a) if fixed && a == addr(r.t) => self.moved(&r),
            Outcome::Addr(a) if !fixed && a == addr(s) => {
                if n <= o {
                    self.model.unmap(s + n, s + o);
                } else {
                    self.extend(s + o - 1, s + o, s + n);
                }
            }
            Outcome::Addr(a) => {
                // Moved where the model did not ask: the old range is gone.
                self.model.unmap(s, s + o);
                self.cleanup(a, n * PAGE);
            }
            Outcome::Error(_) if fixed && start_mapped && !r.overlap => {
                // Linux unmaps the target and the old range's tail before it
                // looks at the old area (EFAULT: the rest is not one area;
                // EINVAL: old length 0 of a private mapping).
                self.model.unmap(r.t, r.t + n);
                if o > n {
                    self.model.unmap(s + n, s + o);
                }
            }
            _ => {}
        }
    }

    /// Pages `from..to` continue the area of page `last` (a grown mapping):
    /// same protection and id, zero-filled or the object's next pages.
    fn extend(&mut self, last: usize, from: usize, to: usize) {
        let Some(p) = self.model.pages[last] else {
            return;
        };
        for (k, i) in (from..to).enumerate() {
            self.model.pages[i] = Some(Page {
                back: match p.back {
                    Back::Private(_) => Back::Private(Some(0)),
                    Back::Shared { obj, off } => Back::Shared {
                        obj,
                        off: off + 1 + k,
                    },
                },
                ..p
            });
        }
    }

    /// A successful `MREMAP_FIXED` move (or, with old length 0, a second
    /// mapping of a shared object).
    fn moved(&mut self, r: &Remap) {
        let (s, o, n, t) = (r.s, r.o, r.n, r.t);
        // The pages that move (with old length 0: the first page maps the
        // same object page again).
        let kept = if o == 0 { 1 } else { o.min(n) };
        let mut copy = [None; MAX_LEN];
        for (k, c) in copy.iter_mut().enumerate().take(kept) {
            *c = self.model.pages[s + k];
        }
        let id = self.model.fresh_id();
        self.model.unmap(t, t + n);
        if o > 0 {
            self.model.unmap(s, s + o);
        }
        for (k, c) in copy.iter().enumerate().take(n) {
            self.model.pages[t + k] = c.map(|p| Page { id, ..p });
        }
        // The part past the old length continues the last old page.
        if n > kept {
            self.extend(t + kept - 1, t + kept, t + n);
        }
    }

    fn write(&mut self) {
        let Some(i) = self.mapped_page(|m, p| m.writable(p)) else {
            return self.mmap();
        };
        let value = tag(self.op, i);
        let probe = probe_write(addr(i) + PAGE - 16);
        let got = match probe {
            Ok(()) => {
                // SAFETY: the model and the kernel both say the page is
                // mapped writable; it is the arena's, no Rust object's.
                unsafe { mm::poke(addr(i), value) };
                self.model.set_word(i, Some(value));
                Outcome::Zero
            }
            Err(e) => Outcome::Error(e),
        };
        self.report(
            format_args!("write({}, {value:#018x})", At(addr(i))),
            got,
            Some(Outcome::Zero),
        );
    }

    fn read(&mut self) {
        // Mostly a page holding a tag (zero pages are the common case).
        let tagged = if self.rng.one_in(4) {
            None
        } else {
            self.mapped_page(|m, p| m.readable(p) && m.word(p).is_some_and(|w| w != 0))
        };
        let Some(i) =
            tagged.or_else(|| self.mapped_page(|m, p| m.readable(p) && m.word(p).is_some()))
        else {
            return self.write();
        };
        let want = self.model.pages[i].and_then(|p| self.model.word(&p));
        let probe = probe_read(addr(i), want.unwrap_or(0) as u32);
        match probe {
            Probe::Refused(e) => {
                println!("{} read({}) = {e}", self.op, At(addr(i)));
                self.fail(format_args!("result: want {:#018x}", want.unwrap_or(0)));
            }
            _ => {
                // SAFETY: the model and the kernel both say the page is
                // readable.
                let value = unsafe { mm::peek(addr(i)) };
                println!("{} read({}) = {value:#018x}", self.op, At(addr(i)));
                if Some(value) != want {
                    self.fail(format_args!("result: want {:#018x}", want.unwrap_or(0)));
                    self.model.set_word(i, Some(value));
                }
            }
        }
    }

    /// Observes every page of the arena and its two neighbours; a FAIL line
    /// for each that differs from the model, which then adopts it.
    fn sweep(&mut self) {
        for i in -1..=PAGES as isize {
            let a = ARENA.wrapping_add_signed(i * PAGE as isize);
            let page = self.model.get(i);
            let expected = page.and_then(|p| {
                self.model
                    .readable(&p)
                    .then(|| self.model.word(&p))
                    .flatten()
            });
            let seen = Seen {
                mapped: mm::madvise(a, PAGE, advice::NORMAL).is_ok(),
                read: probe_read(a, expected.unwrap_or(0) as u32),
                write: probe_write(a + PAGE - 16),
            };
            let model_readable = page.is_some_and(|p| self.model.readable(&p));
            let want = State {
                mapped: page.is_some(),
                read: model_readable,
                write: page.is_some_and(|p| self.model.writable(&p)),
                word: expected.map(Some),
            };
            let read = !matches!(seen.read, Probe::Refused(_));
            let word = match seen.read {
                Probe::Holds => expected.map(Some),
                Probe::Differs if model_readable => {
                    // SAFETY: the model and the kernel both say the page is
                    // readable.
                    Some(Some(unsafe { mm::peek(a) }))
                }
                Probe::Differs => Some(None),
                Probe::Refused(_) => None,
            };
            let got = State {
                mapped: seen.mapped,
                read,
                write: seen.write.is_ok(),
                word,
            };
            if want != got {
                self.fail(format_args!("{}: want {want}, got {got}", At(a)));
                self.adopt(i, &got);
            }
        }
    }

    /// Takes what the kernel shows at page `i` as the model's page, with an
    /// id of its own.
    fn adopt(&mut self, i: isize, got: &State) {
        let Ok(i) = usize::try_from(i) else {
            return;
        };
        if i >= PAGES {
            return;
        }
        if !got.mapped && !got.read && !got.write {
            self.model.pages[i] = None;
            return;
        }
        let id = self.model.fresh_id();
        let prot = if got.read { R } else { 0 } | if got.write { W } else { 0 };
        self.model.pages[i] = Some(Page {
            prot,
            id,
            back: Back::Private(got.word.flatten()),
        });
    }
}

/// One mremap: old range `s..s+o` (pages), new length `n`, target `t`.
struct Remap {
    s: usize,
    o: usize,
    n: usize,
    flags: u32,
    t: usize,
    /// The target overlaps the old range (EINVAL).
    overlap: bool,
}

fn usage() -> i32 {
    println!("usage: t_mm_random <seed> [ops] [switch ...]; switches:");
    for (name, _, what) in SWITCHES {
        println!("  {name}: {what}");
    }
    2
}

fn main(args: &user::Args) -> i32 {
    let Some(seed) = args.arg(1).and_then(|s| s.parse::<u64>().ok()) else {
        return usage();
    };
    let ops = match args.arg(2) {
        None => DEFAULT_OPS,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if n < 1 << 24 => n,
            _ => return usage(),
        },
    };
    let mut switches = 0;
    for name in args.args().skip(3) {
        match SWITCHES.iter().find(|(n, _, _)| *n == name) {
            Some((_, bit, _)) => switches |= bit,
            None => return usage(),
        }
    }
    print!("t_mm_random seed {seed} ops {ops} arena A={ARENA:#x} pages {PAGES} switches");
    let mut any = false;
    for (name, bit, _) in SWITCHES {
        if switches & bit != 0 {
            print!("{}{name}", if any { "," } else { " " });
            any = true;
        }
    }
    println!("{}", if any { "" } else { " none" });
    let mut test = Test {
        rng: Rng::new(seed),
        model: Model::new(),
        switches,
        op: 0,
        fails: 0,
    };
    // The arena and its neighbours start unmapped.
    test.sweep();
    for op in 1..=ops {
        test.op = op;
        test.step();
    }
    println!(
        "t_mm_random seed {seed}: {ops} operations, {} FAIL",
        test.fails
    );
    i32::from(test.fails != 0)
}

user::entry!(main);
