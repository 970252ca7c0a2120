//! `release-package`: writes `target/release-<version>/` from the arm64 zips `make lambda-build`
//! left in `target/lambda/` (see testkit::release for what the folder holds). `make package`
//! runs it; it prints the folder's path.

use clap::Parser;
use std::path::PathBuf;
use testkit::localstack::workspace_root;
use testkit::release::{Inputs, write};

#[derive(Debug, Parser)]
#[command(
    name = "release-package",
    about = "The release folder: function zips, SHA256SUMS, packaged template, OpenAPI, event schema"
)]
struct Args {
    /// Where `<function>/bootstrap.zip` are (relative to the repository root).
    #[arg(long, default_value = "target/lambda")]
    lambda_dir: PathBuf,
    /// The folder is written here as release-<version> (relative to the repository root).
    #[arg(long, default_value = "target")]
    out_dir: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let root = workspace_root();
    let inputs = Inputs {
        lambda_dir: root.join(args.lambda_dir),
        out_dir: root.join(args.out_dir),
        root,
    };
    match write(&inputs) {
        Ok(dir) => {
            println!("{}", dir.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("release-package: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
