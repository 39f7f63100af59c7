//! A job to submit ([`JobRequest`]) and what `sbatch` receives for it.
//!
//! Invariants:
//! * The command is never given to a shell as text. `sbatch` reads a batch script on
//!   stdin whose only commands are `export NAME='value'` lines and one
//!   `exec 'argv0' 'argv1' …`, every word single-quoted (a `'` inside becomes `'\''`), so
//!   any bytes but NUL arrive unchanged: spaces, quotes, `$`, backticks, newlines, empty
//!   arguments. `exec` makes the job's exit status the command's.
//! * Every option is on `sbatch`'s command line; the script has no `#SBATCH` lines and
//!   its first command ends Slurm's directive scan, so no argument can smuggle one in.
//! * Paths are literal: `%` in `--output`/`--error` is written `%%`, so Slurm's filename
//!   patterns (`%j`, `%x`, …) never apply; a backslash there is refused (Slurm 22.05
//!   deletes it: `-o 'a\b%j'` writes `ab%j`).
//! * `--kill-on-invalid-dep=yes` and `--no-requeue` are always given: a job whose
//!   `afterok` parent failed is removed (Slurm 22.05 reports it `CANCELLED`, reason
//!   `DependencyNeverSatisfied`) instead of pending forever, and a job that ended is
//!   not started again by Slurm, so a final state stays final.
//! * A request is validated before `sbatch` runs; a [`RequestError`] names the field.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Resources;

/// A Slurm job id (as `sbatch --parsable` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for JobId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(JobId)
    }
}

/// Which environment the job starts from (`sbatch --export`); [`JobRequest::env`] is
/// set on top of either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Environment {
    /// The submitting process's environment (`--export=ALL`, Slurm's default).
    #[default]
    Inherit,
    /// The user's login environment on the compute node, as Slurm builds it
    /// (`--export=NONE`), plus Slurm's `SLURM_*` variables. For clusters whose nodes
    /// differ from the submitting host.
    Login,
}

/// One batch job: a command, where it runs and writes, what it waits for, what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    /// `--job-name`: non-empty, no control characters.
    pub name: String,
    /// The command and its arguments; `argv[0]` is looked up on the job's `PATH`.
    pub argv: Vec<OsString>,
    /// `--chdir`: the job's working directory (relative: to the submitter's).
    pub workdir: PathBuf,
    /// `--output`: the job's stdout (relative: to `workdir`). Slurm creates the file,
    /// not its directory.
    pub stdout: PathBuf,
    /// `--error`: the job's stderr; `None` writes it to `stdout` as well.
    pub stderr: Option<PathBuf>,
    /// The environment the job starts from.
    pub environment: Environment,
    /// Variables set for the command, in order, over `environment`.
    pub env: Vec<(String, OsString)>,
    /// `--dependency=afterok:…`: start only after all these jobs completed with exit
    /// code 0. Slurm treats an id it no longer (or never) knew as satisfied: list only
    /// parents that are pending, running, or finished within the cluster's `MinJobAge`.
    pub after_ok: Vec<JobId>,
    /// Partition, time, memory, CPUs, gres.
    pub resources: Resources,
}

impl JobRequest {
    /// A job running `argv` in `workdir`, writing stdout and stderr to `stdout`, with the
    /// submitter's environment, no dependencies and Slurm's default resources.
    pub fn new<I, A>(
        name: impl Into<String>,
        argv: I,
        workdir: impl Into<PathBuf>,
        stdout: impl Into<PathBuf>,
    ) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        JobRequest {
            name: name.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            workdir: workdir.into(),
            stdout: stdout.into(),
            stderr: None,
            environment: Environment::Inherit,
            env: Vec::new(),
            after_ok: Vec::new(),
            resources: Resources::default(),
        }
    }

    /// Checks what `sbatch` and the shell cannot carry: see [`RequestError`].
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.name.is_empty() {
            return Err(RequestError::EmptyName);
        }
        if self.name.chars().any(char::is_control) {
            return Err(RequestError::ControlCharInName {
                name: self.name.clone(),
            });
        }
        if self.argv.is_empty() {
            return Err(RequestError::EmptyArgv);
        }
        if let Some(index) = self.argv.iter().position(|a| has_nul(a)) {
            return Err(RequestError::NulInArgument { index });
        }
        for (field, path) in [
            ("workdir", Some(&self.workdir)),
            ("stdout", Some(&self.stdout)),
            ("stderr", self.stderr.as_ref()),
        ] {
            if let Some(path) = path {
                if path.as_os_str().is_empty() {
                    return Err(RequestError::EmptyPath { field });
                }
                if has_nul(path.as_os_str()) {
                    return Err(RequestError::NulInPath {
                        field,
                        path: path.clone(),
                    });
                }
                if field != "workdir" && path.as_os_str().as_bytes().contains(&b'\\') {
                    return Err(RequestError::BackslashInPath {
                        field,
                        path: path.clone(),
                    });
                }
            }
        }
        for (name, value) in &self.env {
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(RequestError::InvalidEnvName { name: name.clone() });
            }
            if has_nul(value) {
                return Err(RequestError::NulInEnvValue { name: name.clone() });
            }
        }
        Ok(())
    }

    /// `sbatch`'s arguments for this request (the script comes on stdin).
    pub(crate) fn sbatch_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--parsable".into(),
            format!("--job-name={}", self.name).into(),
            flag_path("--chdir=", &self.workdir, false),
            flag_path("--output=", &self.stdout, true),
        ];
        if let Some(stderr) = &self.stderr {
            args.push(flag_path("--error=", stderr, true));
        }
        args.push(
            match self.environment {
                Environment::Inherit => "--export=ALL",
                Environment::Login => "--export=NONE",
            }
            .into(),
        );
        if !self.after_ok.is_empty() {
            let ids: Vec<String> = self.after_ok.iter().map(JobId::to_string).collect();
            args.push(format!("--dependency=afterok:{}", ids.join(":")).into());
        }
        args.push("--kill-on-invalid-dep=yes".into());
        args.push("--no-requeue".into());
        args.extend(self.resources.sbatch_args().into_iter().map(OsString::from));
        args
    }

    /// The batch script `sbatch` reads on stdin: exports, then `exec` of the command.
    pub(crate) fn batch_script(&self) -> Vec<u8> {
        let mut script =
            b"#!/bin/sh\n# mosx-slurm: the job's command, every word single-quoted.\n".to_vec();
        for (name, value) in &self.env {
            script.extend_from_slice(b"export ");
            script.extend_from_slice(name.as_bytes());
            script.push(b'=');
            shell_quote_into(value, &mut script);
            script.push(b'\n');
        }
        script.extend_from_slice(b"exec");
        for arg in &self.argv {
            script.push(b' ');
            shell_quote_into(arg, &mut script);
        }
        script.push(b'\n');
        script
    }
}

/// A [`JobRequest`] that cannot be submitted as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("job name is empty")]
    EmptyName,
    #[error("job name {name:?} contains a control character")]
    ControlCharInName { name: String },
    #[error("job has no command (argv is empty)")]
    EmptyArgv,
    #[error("argv[{index}] contains a NUL byte, which no process argument can carry")]
    NulInArgument { index: usize },
    #[error("{field} is an empty path")]
    EmptyPath { field: &'static str },
    #[error("{field} path {path:?} contains a NUL byte")]
    NulInPath { field: &'static str, path: PathBuf },
    /// Slurm drops every backslash of an `--output`/`--error` path (a backslash turns
    /// its filename patterns off), so such a path cannot be given literally.
    #[error("{field} path {path:?} contains a backslash, which Slurm removes from output paths")]
    BackslashInPath { field: &'static str, path: PathBuf },
    #[error("environment variable name {name:?} is not a shell name ([A-Za-z_][A-Za-z0-9_]*)")]
    InvalidEnvName { name: String },
    #[error("environment variable {name} has a NUL byte in its value")]
    NulInEnvValue { name: String },
}

fn has_nul(s: &OsStr) -> bool {
    s.as_bytes().contains(&0)
}

/// `flag` followed by `path`, with `%` doubled where Slurm would expand patterns.
fn flag_path(flag: &str, path: &Path, literal_percent: bool) -> OsString {
    let mut bytes = flag.as_bytes().to_vec();
    for &b in path.as_os_str().as_bytes() {
        if literal_percent && b == b'%' {
            bytes.push(b'%');
        }
        bytes.push(b);
    }
    OsString::from_vec(bytes)
}

/// Appends `s` as one single-quoted POSIX shell word.
fn shell_quote_into(s: &OsStr, out: &mut Vec<u8>) {
    out.push(b'\'');
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn request() -> JobRequest {
        JobRequest::new("a b", ["/bin/echo", "x"], "/w d", "/o/100%/out.log")
    }

    #[test]
    fn sbatch_args_are_literal_and_complete() {
        let mut r = request();
        r.stderr = Some("err%j".into());
        r.after_ok = vec![JobId(12), JobId(3)];
        r.environment = Environment::Login;
        r.resources.mem = Some("1G".parse().unwrap());
        let args: Vec<String> = r
            .sbatch_args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=a b",
                "--chdir=/w d",
                "--output=/o/100%%/out.log",
                "--error=err%%j",
                "--export=NONE",
                "--dependency=afterok:12:3",
                "--kill-on-invalid-dep=yes",
                "--no-requeue",
                "--mem=1024M",
            ]
        );
        let plain: Vec<OsString> = request().sbatch_args();
        assert!(plain.contains(&"--export=ALL".into()));
        assert!(!plain
            .iter()
            .any(|a| a.as_bytes().starts_with(b"--dependency")));
    }

    /// The script, run by the real `/bin/sh` with `exec` replaced by `printf`, gives back
    /// every argument and variable byte for byte.
    #[test]
    fn script_quoting_survives_the_shell() {
        let tricky = [
            "plain",
            "two words",
            "",
            "it's",
            "\"double\"",
            "$HOME `id` $(id) \\n \\",
            "new\nline",
            "'''",
            "tab\there",
            "ü ✓",
            "#SBATCH --mem=1",
        ];
        let mut r = JobRequest::new("q", ["printf", "[%s]\\n"], "/", "/dev/null");
        r.argv.extend(tricky.iter().map(OsString::from));
        r.env = vec![
            ("MOSX_X".into(), "a 'b' \"c\" $d".into()),
            ("_Y".into(), "".into()),
        ];
        r.validate().unwrap();
        let script = String::from_utf8(r.batch_script()).unwrap();
        let probe = script.replace("\nexec ", "\nprintf '%s|%s\\n' \"$MOSX_X\" \"$_Y\"; ");
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(&probe)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: String = std::iter::once("a 'b' \"c\" $d|\n".to_string())
            .chain(tricky.iter().map(|t| format!("[{t}]\n")))
            .collect();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
        // No line of the script is a directive.
        assert!(!script.lines().any(|l| l.starts_with("#SBATCH")));
    }

    #[test]
    fn non_utf8_bytes_are_quoted_verbatim() {
        let r = JobRequest::new(
            "q",
            [OsString::from_vec(vec![b'a', 0xff, b'\''])],
            "/",
            "/dev/null",
        );
        let script = r.batch_script();
        assert!(script.ends_with(b"exec 'a\xff'\\'''\n"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut r = request();
        r.name.clear();
        assert_eq!(r.validate(), Err(RequestError::EmptyName));
        r.name = "a\nb".into();
        assert!(matches!(
            r.validate(),
            Err(RequestError::ControlCharInName { .. })
        ));
        let mut r = request();
        r.argv.clear();
        assert_eq!(r.validate(), Err(RequestError::EmptyArgv));
        let mut r = request();
        r.argv.push(OsString::from_vec(b"a\0b".to_vec()));
        assert_eq!(r.validate(), Err(RequestError::NulInArgument { index: 2 }));
        let mut r = request();
        r.stderr = Some(PathBuf::new());
        assert_eq!(
            r.validate(),
            Err(RequestError::EmptyPath { field: "stderr" })
        );
        let mut r = request();
        r.stdout = "a\\b".into();
        assert!(matches!(
            r.validate(),
            Err(RequestError::BackslashInPath {
                field: "stdout",
                ..
            })
        ));
        let mut r = request();
        r.workdir = "/tmp/a\\b".into();
        assert_eq!(r.validate(), Ok(()));
        let mut r = request();
        r.env.push(("1X".into(), "v".into()));
        assert_eq!(
            r.validate(),
            Err(RequestError::InvalidEnvName { name: "1X".into() })
        );
        let mut r = request();
        r.env.push(("X-Y".into(), "v".into()));
        assert!(r.validate().unwrap_err().to_string().contains("X-Y"));
        assert_eq!(request().validate(), Ok(()));
    }

    #[test]
    fn job_id_text() {
        assert_eq!("42".parse::<JobId>().unwrap(), JobId(42));
        assert!("42;cluster".parse::<JobId>().is_err());
        assert_eq!(JobId(7).to_string(), "7");
    }
}
