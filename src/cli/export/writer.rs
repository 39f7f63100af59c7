//! Where an export goes: stdout or a file put in place only when complete.

use std::io::Write;
use std::path::Path;

use mosx_report::output::{self, OutputFile};

use crate::cli::common::UsageError;

/// Where the table goes: stdout, or a file written through `mosx_report::output` (never
/// through a symlink; a temporary file renamed into place by [`Output::finish`], so a failed
/// export leaves no partial file).
pub(super) enum Output {
    Stdout(std::io::BufWriter<std::io::StdoutLock<'static>>),
    File(OutputFile),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(f) => f.flush(),
        }
    }
}

impl Output {
    /// Flushes stdout, or puts the file in place.
    pub(super) fn finish(self) -> anyhow::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush()?,
            Output::File(f) => {
                f.commit().map_err(|e| UsageError(e.to_string()))?;
            }
        }
        Ok(())
    }
}

/// The output stream; a missing folder, a symlink or an unwritable file is an error naming
/// the path.
pub(super) fn open_output(path: Option<&Path>) -> anyhow::Result<Output> {
    let Some(p) = path else {
        return Ok(Output::Stdout(std::io::BufWriter::new(
            std::io::stdout().lock(),
        )));
    };
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(UsageError(format!(
                "cannot write `{}`: folder `{}` does not exist",
                p.display(),
                parent.display()
            ))
            .into());
        }
    }
    let usage = |e: mosx_report::OutputError| UsageError(e.to_string());
    let c = output::confine(p, None).map_err(usage)?;
    Ok(Output::File(OutputFile::create(&c).map_err(usage)?))
}
