//! Names the code addresses in a fault report: the kernel logs `ELR 0x...`
//! and the host, which has the ELF's symbol table, appends `<function+off>`.
//! Cheaper than carrying a symbol table in the kernel image.

use object::{Object, ObjectSymbol, SymbolKind};

/// Function symbols of one ELF, sorted by address.
#[derive(Default)]
pub struct Symbols {
    funcs: Vec<(u64, u64, String)>,
}

impl Symbols {
    pub fn from_elf(elf: &[u8]) -> Symbols {
        let Ok(file) = object::File::parse(elf) else {
            return Symbols::default();
        };
        let mut funcs: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| {
                let name = s.name().ok()?;
                Some((
                    s.address(),
                    s.size(),
                    format!("{:#}", rustc_demangle::demangle(name)),
                ))
            })
            .collect();
        funcs.sort_by_key(|f| f.0);
        Symbols { funcs }
    }

    /// `name+0xoff` for an address inside a known function.
    pub fn lookup(&self, addr: u64) -> Option<String> {
        let i = self.funcs.partition_point(|f| f.0 <= addr).checked_sub(1)?;
        let (start, size, name) = &self.funcs[i];
        let off = addr - start;
        (off < (*size).max(1)).then(|| format!("{name}+{off:#x}"))
    }

    /// Appends `<symbol>` after every `ELR 0x<hex>` in a log message.
    pub fn annotate(&self, message: &str) -> String {
        const KEY: &str = "ELR 0x";
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        while let Some(at) = rest.find(KEY) {
            let hex_start = at + KEY.len();
            let hex_len = rest[hex_start..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            let end = hex_start + hex_len;
            out.push_str(&rest[..end]);
            if let Some(sym) = u64::from_str_radix(&rest[hex_start..end], 16)
                .ok()
                .and_then(|a| self.lookup(a))
            {
                out.push_str(&format!(" <{sym}>"));
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Symbols {
        Symbols {
            funcs: vec![
                (0x1000, 0x40, "kernel::a".into()),
                (0x2000, 0x10, "kernel::b".into()),
            ],
        }
    }

    #[test]
    fn addresses_inside_a_function_are_named() {
        let s = table();
        assert_eq!(s.lookup(0x1000).as_deref(), Some("kernel::a+0x0"));
        assert_eq!(s.lookup(0x103c).as_deref(), Some("kernel::a+0x3c"));
        assert_eq!(s.lookup(0x1040), None, "past the end of a");
        assert_eq!(s.lookup(0xfff), None, "before the first function");
    }

    #[test]
    fn every_elr_in_a_message_is_annotated() {
        let s = table();
        assert_eq!(
            s.annotate("EC 0x25, ELR 0x0000000000002004, then ELR 0x5"),
            "EC 0x25, ELR 0x0000000000002004 <kernel::b+0x4>, then ELR 0x5"
        );
        assert_eq!(s.annotate("no address here"), "no address here");
    }
}
