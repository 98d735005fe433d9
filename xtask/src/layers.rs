//! The kernel's layering, checked by `cargo xtask lint` (DESIGN.md §3):
//! inside `kernel/src`, a module names only modules of its own layer or
//! below (`crate::<module>`), `arch` names none, and `asm!` /
//! `global_asm!` appear only in `kernel/src/arch/` (and in the few other
//! files of the workspace that must touch the hardware directly).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `kernel/src`'s top-level modules, top layer first. A module may name its
/// own layer and those after it.
pub const LAYERS: &[(&str, &[&str])] = &[
    (
        "boot and the top: what an exception means, checks, bring-up",
        &["main", "lib", "trap", "selfcheck", "smp", "expect_panic"],
    ),
    (
        "processes, system calls, files, device drivers",
        &["user", "fs", "dev"],
    ),
    ("address spaces", &["aspace"]),
    (
        "the kernel's own memory: page tables, frames, probes",
        &["mmu", "probe"],
    ),
    (
        "the blocking core: tasks, scheduler, locks",
        &["task", "sched", "sync", "tick"],
    ),
    (
        "platform services",
        &[
            "irq", "console", "exit", "heap", "platform", "percpu", "mem", "fdt_nops",
        ],
    ),
    ("the leaf: every asm! and system register", &["arch"]),
];

/// Files outside `kernel/src/arch/` that may hold `asm!`, and why.
pub const ASM_ALLOWED: &[(&str, &str)] = &[
    ("mm/src/arch_aarch64.rs", "mm's TLBI and barrier primitives"),
    ("drivers/src/psci.rs", "the SMC/HVC conduit"),
    (
        "drivers/src/gic/v3.rs",
        "the GICv3 CPU interface is system registers",
    ),
];

/// One breach of the rules, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    pub file: String,
    pub line: usize,
    pub what: String,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

/// The layer index of a top-level module, if the table has it.
fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The modules a line names through `crate::`: `crate::x::...`,
/// `crate::{x, y::z}`.
fn named_modules(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = item.trim().split("::").next().unwrap_or("");
                if !name.is_empty() && name != "self" {
                    names.push(name.to_string());
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
        rest = after;
    }
    names
}

/// The code of a line: without a `//` comment (outside string literals,
/// roughly: a `//` inside quotes is kept).
fn code_of(line: &str) -> &str {
    let mut in_string = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Checks one kernel source file, `relative` to `kernel/src` (e.g.
/// `sched/schedule.rs`), with its text.
pub fn check_kernel_file(relative: &str, text: &str) -> Vec<Breach> {
    let module = relative
        .split('/')
        .next()
        .unwrap_or(relative)
        .trim_end_matches(".rs");
    let file = format!("kernel/src/{relative}");
    let mut breaches = Vec::new();
    let Some(own) = layer_of(module) else {
        breaches.push(Breach {
            file,
            line: 1,
            what: format!(
                "module `{module}` is in no layer: add it to xtask/src/layers.rs (LAYERS)"
            ),
        });
        return breaches;
    };
    for (index, line) in text.lines().enumerate() {
        let code = code_of(line);
        if module != "arch" && (code.contains("asm!(") || code.contains("asm! (")) {
            breaches.push(Breach {
                file: file.clone(),
                line: index + 1,
                what: "`asm!` outside kernel/src/arch/: give arch a function for it".into(),
            });
        }
        for name in named_modules(code) {
            if name == module {
                continue;
            }
            let Some(theirs) = layer_of(&name) else {
                continue; // a crate-root item (a function or macro in lib.rs)
            };
            if module == "arch" || theirs < own {
                breaches.push(Breach {
                    file: file.clone(),
                    line: index + 1,
                    what: format!(
                        "`{module}` ({}) names `crate::{name}` ({}), a layer above it",
                        LAYERS[own].0, LAYERS[theirs].0
                    ),
                });
            }
        }
    }
    breaches
}

/// Checks a file of another crate for `asm!` outside the allowed files.
pub fn check_asm_elsewhere(relative: &str, text: &str) -> Vec<Breach> {
    if ASM_ALLOWED.iter().any(|(file, _)| *file == relative) {
        return Vec::new();
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| code_of(line).contains("asm!("))
        .map(|(index, _)| Breach {
            file: relative.to_string(),
            line: index + 1,
            what: "`asm!` outside the files allowed to touch the hardware (xtask/src/layers.rs)"
                .into(),
        })
        .collect()
}

/// Every `.rs` file under `dir`, relative to `base`.
fn rust_files(base: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(rust_files(base, &path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
        }
    }
    files.sort();
    Ok(files)
}

/// Checks the workspace at `root`: the kernel's layers and `asm!`
/// everywhere in `kernel/src`, `mm/src`, `drivers/src` and `boards/src`
/// (the kernel's test suites and the user programs may use `asm!`).
pub fn check(root: &Path) -> Result<Vec<Breach>> {
    let mut breaches = Vec::new();
    let kernel = root.join("kernel/src");
    for file in rust_files(&kernel, &kernel)? {
        let relative = file.display().to_string();
        if relative.starts_with("bin/") {
            continue; // benchmark binaries: their own crates
        }
        let text = std::fs::read_to_string(kernel.join(&file))?;
        breaches.extend(check_kernel_file(&relative, &text));
    }
    for krate in ["mm/src", "drivers/src", "boards/src"] {
        for file in rust_files(root, &root.join(krate))? {
            let text = std::fs::read_to_string(root.join(&file))?;
            breaches.extend(check_asm_elsewhere(&file.display().to_string(), &text));
        }
    }
    Ok(breaches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_paths_and_groups() {
        assert_eq!(
            named_modules("use crate::aspace::AddressSpace;"),
            ["aspace"]
        );
        assert_eq!(
            named_modules("use crate::{arch, sync::validate, self};"),
            ["arch", "sync"]
        );
        assert_eq!(
            named_modules("crate::sched::yield_now(); crate::irq::handle()"),
            ["sched", "irq"]
        );
    }

    #[test]
    fn a_downward_name_is_fine() {
        let text =
            "use crate::arch;\nuse crate::sync::SpinLock;\nfn f() { crate::percpu::this_cpu(); }\n";
        assert_eq!(check_kernel_file("aspace/mod.rs", text), []);
        assert_eq!(
            check_kernel_file("sched/schedule.rs", "use crate::task::Task;\n"),
            []
        );
    }

    #[test]
    fn a_name_above_is_a_breach_with_its_line() {
        let text = "use crate::arch;\n\nfn f() { crate::aspace::switch_to(0); }\n";
        let breaches = check_kernel_file("sched/schedule.rs", text);
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].line, 3);
        assert!(breaches[0].what.contains("`sched`"), "{}", breaches[0]);
        assert!(
            breaches[0].what.contains("crate::aspace"),
            "{}",
            breaches[0]
        );
    }

    #[test]
    fn arch_names_nothing_of_the_kernel() {
        let breaches = check_kernel_file("arch/exception.rs", "use crate::percpu::MAX_CPUS;\n");
        assert_eq!(breaches.len(), 1);
        assert_eq!(
            check_kernel_file("arch/mod.rs", "use crate::arch::esr;\n"),
            []
        );
    }

    #[test]
    fn asm_outside_arch_is_a_breach_unless_in_a_comment() {
        let text = "// asm!(\"nop\") is not allowed here\nunsafe { core::arch::asm!(\"nop\") };\n";
        let breaches = check_kernel_file("aspace/fault.rs", text);
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].line, 2);
        assert_eq!(check_kernel_file("arch/cache.rs", text), []);
        assert_eq!(check_asm_elsewhere("mm/src/arch_aarch64.rs", text), []);
        assert_eq!(check_asm_elsewhere("mm/src/table/mod.rs", text).len(), 1);
    }

    #[test]
    fn a_module_in_no_layer_is_reported() {
        let breaches = check_kernel_file("newthing.rs", "");
        assert_eq!(breaches.len(), 1);
        assert!(breaches[0].what.contains("LAYERS"));
    }

    #[test]
    fn the_tree_keeps_its_layers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let breaches = check(&root).unwrap();
        let shown: Vec<String> = breaches.iter().map(|b| b.to_string()).collect();
        assert!(breaches.is_empty(), "{}", shown.join("\n"));
    }
}
