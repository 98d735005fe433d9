//! Runs in the busybox initramfs (`initramfs::build_busybox`): the shell
//! scripts of the busybox suite and the command lines of `cargo xtask run
//! --busybox`.
//!
//! The scripts are the files `xtask/busybox/*.sh`; the archive holds each as
//! `/etc/scripts/<name>.sh`, and a test runs `/bin/sh /etc/scripts/<name>.sh`.
//!
//! Both kernels cut the program line into words at spaces: this kernel's
//! `init=` takes the words after it, and on Linux `/bin/linux-init` cuts each
//! quoted line of the command line (`linux.rs`). So `/bin/sh -c 'echo hi'`
//! cannot travel as three words. When a word of a `--busybox` command has
//! white space or a `"` in it, or is empty, the command goes into
//! `/etc/run.sh` instead, shell-quoted (`exec '/bin/sh' '-c' 'echo hi'`), and
//! the program line becomes `/bin/sh /etc/run.sh`. `--busybox-script FILE`
//! puts FILE in the archive as `/etc/script.sh` and runs
//! `/bin/sh /etc/script.sh`, followed by the program words if any (its
//! `$1`...).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::linux::Program;
use crate::workspace::Workspace;

/// The suite's scripts, relative to the workspace root.
pub const SCRIPTS_DIR: &str = "xtask/busybox";
/// Where the archive holds them.
pub const SCRIPTS_IN_INITRAMFS: &str = "/etc/scripts/";
/// The shell.
pub const SHELL: &str = "/bin/sh";
/// A wrapped command line (see the module's documentation).
pub const RUN_SCRIPT: &str = "/etc/run.sh";
/// `--busybox-script FILE`.
pub const USER_SCRIPT: &str = "/etc/script.sh";

/// The suite's scripts as initramfs files (`etc/scripts/<name>.sh`), by name.
pub fn suite_files(ws: &Workspace) -> Result<Vec<(String, Vec<u8>)>> {
    let dir = ws.root.join(SCRIPTS_DIR);
    let mut files = Vec::new();
    for name in script_names(&dir)? {
        let path = dir.join(&name);
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        files.push((in_archive(&format!("{SCRIPTS_IN_INITRAMFS}{name}")), data));
    }
    Ok(files)
}

/// The `*.sh` file names in `dir`, sorted.
pub fn script_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sh") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `/etc/x` as an archive path (`etc/x`).
fn in_archive(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

/// Whether `word` reaches the program as one argument through both kernels'
/// command lines.
pub fn travels_as_a_word(word: &str) -> bool {
    !word.is_empty() && !word.chars().any(|c| c.is_whitespace() || c == '"')
}

/// `word` in single quotes for the shell (a `'` as `'\''`).
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A command for `cargo xtask run --busybox`: the program line to start and
/// the files it needs in the archive besides the suite's scripts.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    pub program: Program,
    pub files: Vec<(String, Vec<u8>)>,
}

/// The command for `words` (default `/bin/sh`) and `script` (see the
/// module's documentation).
pub fn command(words: &[String], script: Option<(&Path, Vec<u8>)>) -> Result<Command> {
    let mut files = Vec::new();
    let mut words = words.to_vec();
    if let Some((path, data)) = script {
        if data.is_empty() {
            bail!("--busybox-script {}: the file is empty", path.display());
        }
        files.push((in_archive(USER_SCRIPT), data));
        words.insert(0, USER_SCRIPT.to_string());
        words.insert(0, SHELL.to_string());
    }
    if words.is_empty() {
        words.push(SHELL.to_string());
    }
    if !words.iter().all(|w| travels_as_a_word(w)) {
        let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
        let text = format!(
            "# cargo xtask run --busybox: a command line with words no kernel command line carries\nexec {}\n",
            quoted.join(" ")
        );
        files.push((in_archive(RUN_SCRIPT), text.into_bytes()));
        words = vec![SHELL.to_string(), RUN_SCRIPT.to_string()];
    }
    let (path, args) = words.split_first().expect("at least the shell");
    Ok(Command {
        program: Program {
            path: path.clone(),
            args: args.to_vec(),
        },
        files,
    })
}

/// Reads `--busybox-script FILE`.
pub fn read_script(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading --busybox-script {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[&str]) -> Vec<String> {
        line.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_shell_by_default_and_plain_words_unchanged() {
        let c = command(&[], None).unwrap();
        assert_eq!(c.program.line(), "/bin/sh");
        assert!(c.files.is_empty());
        let c = command(&words(&["/bin/ls", "-l", "/bin"]), None).unwrap();
        assert_eq!(c.program.line(), "/bin/ls -l /bin");
        assert!(c.files.is_empty());
    }

    #[test]
    fn words_with_spaces_go_through_a_script() {
        let c = command(
            &words(&["/bin/sh", "-c", "echo 'hi there'; x=\"a b\""]),
            None,
        )
        .unwrap();
        assert_eq!(c.program.line(), "/bin/sh /etc/run.sh");
        assert_eq!(c.files.len(), 1);
        assert_eq!(c.files[0].0, "etc/run.sh");
        let text = String::from_utf8(c.files[0].1.clone()).unwrap();
        assert!(
            text.ends_with("\nexec '/bin/sh' '-c' 'echo '\\''hi there'\\''; x=\"a b\"'\n"),
            "{text}"
        );
        let c = command(&words(&["/bin/echo", ""]), None).unwrap();
        assert_eq!(c.program.line(), "/bin/sh /etc/run.sh", "an empty word too");
    }

    #[test]
    fn a_script_file_runs_with_its_arguments() {
        let file = Path::new("t.sh");
        let c = command(&words(&["a", "b"]), Some((file, b"echo $1\n".to_vec()))).unwrap();
        assert_eq!(c.program.line(), "/bin/sh /etc/script.sh a b");
        assert_eq!(
            c.files,
            [("etc/script.sh".to_string(), b"echo $1\n".to_vec())]
        );
        assert!(command(&[], Some((file, Vec::new()))).is_err());
    }

    #[test]
    fn word_rules() {
        assert!(travels_as_a_word("/etc/scripts/pipes.sh"));
        assert!(travels_as_a_word("$((1+2))"));
        for bad in ["", "a b", "a\tb", "say\"x\""] {
            assert!(!travels_as_a_word(bad), "{bad:?}");
        }
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
