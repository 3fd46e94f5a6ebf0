//! The `switchyard` binary.

#![forbid(unsafe_code)]

/// mimalloc: the request path allocates many small, short-lived buffers, which it serves
/// faster than the system allocator (see `switchyard bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}
