//! Writes a benchmark input pair: `gen-bench layers|files|files-shuffled|pair|big N DIR` makes
//! `DIR/lhs` and `DIR/rhs`, two OCI layouts of the chosen shape (N layers, N files, N files in
//! another order on the right, N MiB gzip, N MiB uncompressed written as it is made) that
//! differ in a few files.

use std::path::PathBuf;

use anyhow::{Context, bail};
use ocidiff_bench::{
    many_files, many_files_shuffled, many_layers, sized_pair, write_big_pair, write_layout,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [shape, n, dir] = args.as_slice() else {
        bail!("usage: gen-bench layers|files|files-shuffled|pair|big N DIR");
    };
    let n: usize = n
        .parse()
        .with_context(|| format!("N must be a count, not {n:?}"))?;
    let dir = PathBuf::from(dir);
    if shape == "big" {
        return write_big_pair(&dir, n).with_context(|| format!("writing {}", dir.display()));
    }
    for (variant, side) in [(0, "lhs"), (1, "rhs")] {
        let image = match shape.as_str() {
            "layers" => many_layers(n, variant),
            "files" => many_files(n, variant),
            "files-shuffled" => many_files_shuffled(n, variant),
            "pair" => sized_pair(n, variant),
            other => bail!(
                "unknown shape {other:?} (expected layers, files, files-shuffled, pair or big)"
            ),
        };
        let path = dir.join(side);
        write_layout(&path, image).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
