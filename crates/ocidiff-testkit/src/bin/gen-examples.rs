//! Writes the repository's example images: `gen-examples [DIR]` (default `examples/`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("examples"), PathBuf::from);
    match ocidiff_testkit::examples::write_examples(&dir) {
        Ok(()) => {
            println!(
                "wrote {} and {}",
                dir.join(ocidiff_testkit::examples::V1_DIR).display(),
                dir.join(ocidiff_testkit::examples::V2_ARCHIVE).display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-examples: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
