//! `--trace-init`: each function started once more under strace.

use super::*;

/// Each function started once more under `strace -f -tt`; see `--trace-init`.
pub(crate) async fn trace_inits(
    services: &Services,
    launches: impl Iterator<Item = &Launch>,
    dir: &Path,
) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", dir.display())))?;
    for launch in launches {
        let out = dir.join(format!("{}.strace", launch.name));
        let traced = Launch {
            name: launch.name.clone(),
            runtime: "rust",
            program: PathBuf::from("strace"),
            args: vec![
                "-f".into(),
                "-tt".into(),
                "-o".into(),
                out.display().to_string(),
                launch.program.display().to_string(),
            ],
            cwd: None,
            extra_env: launch.extra_env.clone(),
        };
        traced.start(services).await?.stop().await;
    }
    Ok(())
}
