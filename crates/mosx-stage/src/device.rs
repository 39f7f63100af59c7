//! `--device`: the device that stages executed by the worker run on. The planner only parses
//! the request and never loads libtorch; the worker (`mosx-worker`, `device.rs`) resolves it
//! against the machine and reports the label it resolved to (`cpu`, `cuda:0`), which is what
//! the run and its stage rows record.
//!
//! Invariant: [`DeviceRequest::label`] round-trips through [`DeviceRequest::parse`].

use std::fmt;

/// A `--device` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    /// CUDA device 0 when CUDA is available, else the CPU (the default).
    #[default]
    Auto,
    Cpu,
    /// `cuda` (device 0) or `cuda:N`.
    Cuda(usize),
}

/// A `--device` value that is not `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--device `{0}`: expected auto, cpu, cuda or cuda:N")]
pub struct DeviceSyntaxError(pub String);

impl DeviceRequest {
    /// `None` is [`DeviceRequest::Auto`].
    pub fn parse(arg: Option<&str>) -> Result<DeviceRequest, DeviceSyntaxError> {
        match arg {
            None | Some("auto") => Ok(DeviceRequest::Auto),
            Some("cpu") => Ok(DeviceRequest::Cpu),
            Some("cuda") => Ok(DeviceRequest::Cuda(0)),
            Some(s) => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .map(DeviceRequest::Cuda)
                .ok_or_else(|| DeviceSyntaxError(s.into())),
        }
    }

    /// A `--device` argument checked for its syntax and kept as written: the value parser of
    /// `mosx run --device`, so a misspelt device is refused (exit 2) before anything is
    /// planned, whether or not a stage needs the worker. Which devices the machine has is the
    /// worker's to say when it starts.
    pub fn checked_arg(s: &str) -> Result<String, DeviceSyntaxError> {
        DeviceRequest::parse(Some(s)).map(|_| s.to_string())
    }

    /// `auto`, `cpu` or `cuda:N`.
    pub fn label(self) -> String {
        match self {
            DeviceRequest::Auto => "auto".into(),
            DeviceRequest::Cpu => "cpu".into(),
            DeviceRequest::Cuda(i) => format!("cuda:{i}"),
        }
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl std::str::FromStr for DeviceRequest {
    type Err = DeviceSyntaxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceRequest::parse(Some(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_round_trip() {
        assert_eq!(DeviceRequest::parse(None), Ok(DeviceRequest::Auto));
        assert_eq!(
            DeviceRequest::parse(Some("cuda")),
            Ok(DeviceRequest::Cuda(0))
        );
        assert_eq!(
            DeviceRequest::parse(Some("cuda:3")),
            Ok(DeviceRequest::Cuda(3))
        );
        for r in [
            DeviceRequest::Auto,
            DeviceRequest::Cpu,
            DeviceRequest::Cuda(0),
            DeviceRequest::Cuda(7),
        ] {
            assert_eq!(DeviceRequest::parse(Some(&r.label())), Ok(r));
        }
        for bad in ["tpu", "cuda:", "cuda:x", "CPU", "", "cuda:-1", " cpu"] {
            let e = DeviceRequest::parse(Some(bad)).unwrap_err();
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
            assert!(DeviceRequest::checked_arg(bad).is_err());
        }
        assert_eq!(DeviceRequest::checked_arg("cuda:1").unwrap(), "cuda:1");
    }
}
