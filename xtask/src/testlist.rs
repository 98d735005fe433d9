//! Lists the tests of an `embedded-test` binary from its ELF, without booting it.
//!
//! `embedded-test` 0.7 puts each test in the `.embedded_test` section (INFO, at
//! address 1: `embedded-test.x`) as a static `(fn() -> !, &'static str)` (entry,
//! `module_path!()`) whose *symbol name* is a JSON descriptor
//! (`embedded-test-macros` `export_sym.rs`). The runner boots the image once per
//! test with the semihosting command line `run_addr <entry>` (DESIGN.md §5).

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};
use serde::Deserialize;

/// The section `embedded-test.x` collects the test records into.
pub const SECTION: &str = ".embedded_test";

/// A record: entry `fn` pointer, then the module path `&str` (pointer, length).
const RECORD_SIZE: usize = 24;

/// The JSON symbol name of one test, as `embedded-test-macros` writes it.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    pub disambiguator: u64,
    pub name: String,
    pub ignored: bool,
    pub should_panic: bool,
    /// Seconds; absent when neither the test nor its module set one.
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// Parses a symbol name found in the section; `None` for symbols that are not
/// test descriptors (e.g. `EMBEDDED_TEST_VERSION` from `.embedded_test.meta`).
pub fn parse_descriptor(symbol: &str) -> Option<Result<Descriptor>> {
    if !symbol.starts_with('{') {
        return None;
    }
    Some(
        serde_json::from_str(symbol)
            .with_context(|| format!("bad embedded-test descriptor `{symbol}`")),
    )
}

/// A test's full name: its module path without the crate name, then its name
/// (`exceptions::tests` + `data_abort` → `tests::data_abort`).
pub fn full_name(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, rest)) => format!("{rest}::{name}"),
        None => name.to_string(),
    }
}

/// One test of a binary, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    /// The address of the test's entry function: the `run_addr` argument.
    pub entry: u64,
    pub ignored: bool,
    pub should_panic: bool,
    pub timeout: Option<Duration>,
}

/// Builds a test from its symbol name and record; `read_str(ptr, len)` reads the
/// module path from the loaded image. `None` if the symbol is not a test.
pub fn describe<'a>(
    symbol: &str,
    record: &[u8],
    little_endian: bool,
    read_str: impl Fn(u64, u64) -> Result<&'a str>,
) -> Result<Option<TestCase>> {
    let Some(descriptor) = parse_descriptor(symbol) else {
        return Ok(None);
    };
    let descriptor = descriptor?;
    ensure!(
        record.len() >= RECORD_SIZE,
        "test record of `{}` is cut short",
        descriptor.name
    );
    let word = |i: usize| {
        let bytes: [u8; 8] = record[i * 8..i * 8 + 8].try_into().expect("8 bytes");
        if little_endian {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        }
    };
    let module_path = read_str(word(1), word(2))
        .with_context(|| format!("reading the module path of test `{}`", descriptor.name))?;
    Ok(Some(TestCase {
        name: full_name(module_path, &descriptor.name),
        entry: word(0),
        ignored: descriptor.ignored,
        should_panic: descriptor.should_panic,
        timeout: descriptor.timeout.map(Duration::from_secs),
    }))
}

/// Every test in `elf`, sorted by name; empty if the binary has no test section.
pub fn list_tests(elf: &[u8]) -> Result<Vec<TestCase>> {
    let file = object::File::parse(elf).context("parsing the test ELF")?;
    let Some(section) = file.section_by_name(SECTION) else {
        return Ok(Vec::new());
    };
    let data = section
        .data()
        .context("reading the .embedded_test section")?;
    let read_str = |address: u64, len: u64| -> Result<&str> {
        for segment in file.segments() {
            if let Ok(Some(bytes)) = segment.data_range(address, len) {
                return std::str::from_utf8(bytes).context("module path is not UTF-8");
            }
        }
        bail!("no loaded segment holds {len} bytes at {address:#x}")
    };
    let mut tests = Vec::new();
    for symbol in file.symbols() {
        if symbol.section_index() != Some(section.index()) {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        let offset = symbol
            .address()
            .checked_sub(section.address())
            .filter(|&o| o as usize <= data.len())
            .with_context(|| format!("symbol `{name}` lies outside {SECTION}"))?;
        let record = &data[offset as usize..];
        if let Some(test) = describe(name, record, file.is_little_endian(), read_str)? {
            tests.push(test);
        }
    }
    tests.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_json_from_the_macro() {
        let d = parse_descriptor(r#"{"disambiguator":18446744073709551615,"name":"data_abort","ignored":false,"should_panic":true,"timeout":5}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            d,
            Descriptor {
                disambiguator: u64::MAX,
                name: "data_abort".into(),
                ignored: false,
                should_panic: true,
                timeout: Some(5)
            }
        );
        let d = parse_descriptor(
            r#"{"disambiguator":1,"name":"a\"b","ignored":true,"should_panic":false}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (d.name.as_str(), d.ignored, d.timeout),
            ("a\"b", true, None)
        );
        assert!(parse_descriptor("EMBEDDED_TEST_VERSION").is_none());
        assert!(parse_descriptor(r#"{"name":"missing_fields"}"#)
            .unwrap()
            .is_err());
    }

    #[test]
    fn names_drop_the_crate() {
        assert_eq!(
            full_name("exceptions::tests", "data_abort"),
            "tests::data_abort"
        );
        assert_eq!(
            full_name("gic::tests::timer", "ticks"),
            "tests::timer::ticks"
        );
        assert_eq!(full_name("lonely", "t"), "t");
    }

    #[test]
    fn record_to_test_case() {
        let mut record = Vec::new();
        for word in [0x4008_1234u64, 0x4009_0000, 17] {
            record.extend_from_slice(&word.to_le_bytes());
        }
        let symbol = r#"{"disambiguator":7,"name":"svc_returns","ignored":false,"should_panic":false,"timeout":3}"#;
        let read = |ptr: u64, len: u64| -> Result<&'static str> {
            assert_eq!((ptr, len), (0x4009_0000, 17));
            Ok("exceptions::tests")
        };
        let test = describe(symbol, &record, true, read).unwrap().unwrap();
        assert_eq!(
            test,
            TestCase {
                name: "tests::svc_returns".into(),
                entry: 0x4008_1234,
                ignored: false,
                should_panic: false,
                timeout: Some(Duration::from_secs(3)),
            }
        );
        assert!(describe(symbol, &record[..16], true, read).is_err());
        assert!(describe("EMBEDDED_TEST_VERSION", &record, true, read)
            .unwrap()
            .is_none());
    }
}
