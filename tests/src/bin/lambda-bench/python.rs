//! The Python baseline, for comparison.

use super::*;

/// The Python baseline under AWS's runtime interface client, on its own table.
pub(crate) fn python_launch(
    args: &Args,
    python: &Path,
    py_table: &str,
) -> Result<Launch, BenchError> {
    let table_env = |t: &str| ("TABLE_NAME".to_owned(), t.to_owned());
    let dir = std::fs::canonicalize(&args.python_dir)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", args.python_dir.display())))?;
    Ok(Launch {
        name: "create-session".into(),
        runtime: "python",
        program: python.to_path_buf(),
        args: vec![
            "-m".into(),
            "awslambdaric".into(),
            "handler.lambda_handler".into(),
        ],
        cwd: Some(dir.clone()),
        extra_env: vec![
            ("LAMBDA_TASK_ROOT".into(), dir.display().to_string()),
            ("PYTHONPATH".into(), dir.display().to_string()),
            ("_HANDLER".into(), "handler.lambda_handler".into()),
            ("POWERTOOLS_SERVICE_NAME".into(), "create-session".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            table_env(py_table),
        ],
    })
}
