//! Writes a benchmark input pair: `gen-bench layers|files|pair N DIR` makes `DIR/lhs` and
//! `DIR/rhs`, two OCI layouts of the chosen shape (N layers, N files, N MiB) that differ in a
//! few files.

use std::path::PathBuf;

use anyhow::{Context, bail};
use ocidiff_bench::{many_files, many_layers, sized_pair, write_layout};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [shape, n, dir] = args.as_slice() else {
        bail!("usage: gen-bench layers|files|pair N DIR");
    };
    let n: usize = n
        .parse()
        .with_context(|| format!("N must be a count, not {n:?}"))?;
    let dir = PathBuf::from(dir);
    for (variant, side) in [(0, "lhs"), (1, "rhs")] {
        let image = match shape.as_str() {
            "layers" => many_layers(n, variant),
            "files" => many_files(n, variant),
            "pair" => sized_pair(n, variant),
            other => bail!("unknown shape {other:?} (expected layers, files or pair)"),
        };
        let path = dir.join(side);
        write_layout(&path, image).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
