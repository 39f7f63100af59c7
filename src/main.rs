//! The `mosx` command line. Exit codes: 0 success, 1 a stage or report failed,
//! 2 the spec or the command line is invalid (nothing was written).

fn main() {
    std::process::exit(mosx::cli::main());
}
