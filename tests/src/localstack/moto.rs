//! Finding and starting `moto_server`: one per process, on a free loopback port, dying with it.

use super::{LocalStackError, MOTO_BINARY, MOTO_START_TIMEOUT, workspace_root};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first `moto_server` that is a Python script (see [`moto_command`]): on PATH, then in
/// `$VIRTUAL_ENV/bin`, then in `<workspace>/.venv/bin`. Others are passed over (a pyenv shim
/// on PATH is a bash script: run as is it would be plain, threaded moto); when only such
/// ones exist, that is the error.
pub fn find_moto_server() -> Result<PathBuf, LocalStackError> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        candidates.push(PathBuf::from(venv).join("bin"));
    }
    let local_venv = workspace_root().join(".venv").join("bin");
    candidates.push(local_venv.clone());
    let found: Vec<PathBuf> = candidates
        .into_iter()
        .map(|dir| dir.join(MOTO_BINARY))
        .filter(|p| is_executable(p))
        .collect();
    if let Some(python) = found.iter().find(|p| moto_command(p).is_ok()) {
        return Ok(python.clone());
    }
    match found.first() {
        Some(other) => Err(moto_command(other)
            .err()
            .unwrap_or_else(|| LocalStackError::MotoNotFound(local_venv.display().to_string()))),
        None => Err(LocalStackError::MotoNotFound(
            local_venv.display().to_string(),
        )),
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Starts moto from a dedicated thread that then waits on it for the rest of the process.
/// The thread matters: `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
/// and test threads end long before the process does.
pub(super) fn start_moto_owner() -> Result<String, LocalStackError> {
    let binary = find_moto_server()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("moto-server".into())
        .spawn(move || match start_moto(&binary) {
            Ok((mut child, endpoint)) => {
                let _ = tx.send(Ok(endpoint));
                // Keeps this thread (the child's "parent" for PDEATHSIG) alive; returns only
                // if moto dies on its own.
                if let Ok(status) = child.wait() {
                    eprintln!("testkit: moto_server exited early ({status})");
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| LocalStackError::MotoStart(format!("could not start a thread: {e}")))?;
    rx.recv().unwrap_or_else(|_| {
        Err(LocalStackError::MotoStart(
            "the starter thread ended without an answer".into(),
        ))
    })
}

/// Set to a file path to keep moto's request log there; otherwise the log lives only while
/// moto starts (to explain a failed start) and is unlinked once it answers.
pub const MOTO_LOG_VAR: &str = "TESTKIT_MOTO_LOG";

fn start_moto(binary: &Path) -> Result<(Child, String), LocalStackError> {
    let kept_log = std::env::var_os(MOTO_LOG_VAR).map(PathBuf::from);
    let log_path = kept_log.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("testkit-moto-{}.log", std::process::id()))
    });
    let log = std::fs::File::create(&log_path).map_err(|e| {
        LocalStackError::MotoStart(format!("cannot write {}: {e}", log_path.display()))
    })?;
    let mut cmd = moto_command(binary)?;
    // Port 0: moto binds a free port itself and names it (no probe-then-bind race).
    cmd.args(["-H", "127.0.0.1", "-p", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| LocalStackError::MotoStart(format!("cannot run {}: {e}", binary.display())))?;
    let started = child
        .stdout
        .take()
        .ok_or_else(|| LocalStackError::MotoStart("no pipe to moto's stdout".into()))
        .and_then(|out| wait_for_listening_line(out, &mut child))
        .and_then(|addr| {
            wait_until_answering(&mut child, addr)
                .map(|()| addr)
                .map_err(LocalStackError::MotoStart)
        });
    match started {
        Ok(addr) => {
            if kept_log.is_none() {
                // moto keeps writing to its open descriptor; nothing is left behind.
                let _ = std::fs::remove_file(&log_path);
            }
            Ok((child, format!("http://{addr}")))
        }
        Err(LocalStackError::MotoStart(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(LocalStackError::MotoStart(format!(
                "{e}; moto said: {}",
                tail.join(" | ")
            )))
        }
        Err(e) => Err(e),
    }
}

/// What [`SERIALIZED_MOTO`] prints once it listens, and only once its requests are serialized.
const LISTENING_LINE: &str = "serialized moto listening on http://";

/// Reads moto's stdout until [`LISTENING_LINE`] (its address), then keeps draining it on a
/// thread of its own so that moto never blocks on a full pipe.
fn wait_for_listening_line(
    out: std::process::ChildStdout,
    child: &mut Child,
) -> Result<SocketAddr, LocalStackError> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("moto-stdout".into())
        .spawn(move || {
            let mut lines = std::io::BufReader::new(out).lines();
            let first = lines
                .by_ref()
                .map_while(Result::ok)
                .find(|l| l.starts_with(LISTENING_LINE));
            let _ = tx.send(first);
            for _ in lines {}
        })
        .map_err(|e| LocalStackError::MotoStart(format!("could not start a thread: {e}")))?;
    let line = match rx.recv_timeout(MOTO_START_TIMEOUT) {
        Ok(Some(line)) => line,
        Ok(None) => {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(LocalStackError::MotoStart(format!(
                "moto exited ({status}) before listening with serialized requests"
            )));
        }
        Err(_) => {
            return Err(LocalStackError::MotoStart(format!(
                "moto did not say it listens within {MOTO_START_TIMEOUT:?}"
            )));
        }
    };
    line[LISTENING_LINE.len()..]
        .trim()
        .parse()
        .map_err(|e| LocalStackError::MotoStart(format!("moto named no address ({line}): {e}")))
}

/// Runs moto's own `main` with one change: requests are handled one at a time. Real DynamoDB
/// applies each conditional write atomically; moto's threaded server does not (two concurrent
/// `attribute_not_exists` puts can both succeed), which would make every "exactly one of N
/// concurrent writers wins" test pass by luck. If moto's internals move, the script refuses to
/// run (exit 3, saying why) rather than fall back to plain moto, and so does [`moto_command`]
/// for a `moto_server` it cannot run the script under. The same script serves `make test` and
/// `make run` (tests/scripts/lib.sh).
pub(super) const SERIALIZED_MOTO: &str = include_str!("../../scripts/moto_serialized.py");

/// The interpreter named by `moto_server`'s shebang running [`SERIALIZED_MOTO`]. A
/// `moto_server` that is not a Python script with a plain interpreter line is refused: run as
/// is, it would be the threaded moto the concurrency tests must not pass on by luck.
pub(super) fn moto_command(binary: &Path) -> Result<Command, LocalStackError> {
    let first_line = std::fs::File::open(binary)
        .ok()
        .and_then(|f| {
            use std::io::BufRead;
            let mut line = String::new();
            std::io::BufReader::new(f).read_line(&mut line).ok()?;
            Some(line)
        })
        .unwrap_or_default();
    let interpreter: Vec<&str> = match first_line.strip_prefix("#!") {
        Some(rest) => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.split_first() {
                Some((env, args)) if env.ends_with("/env") => args.to_vec(),
                _ => words,
            }
        }
        None => Vec::new(),
    };
    match interpreter.split_first() {
        Some((python, args)) if python.contains("python") => {
            let mut cmd = Command::new(python);
            cmd.args(args).arg("-c").arg(SERIALIZED_MOTO);
            Ok(cmd)
        }
        _ => Err(LocalStackError::MotoStart(format!(
            "{} has no python shebang, so its requests cannot be serialized \
             (tests/scripts/moto_serialized.py); refusing to run a threaded moto",
            binary.display()
        ))),
    }
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// Polls until moto answers an HTTP request (any status), or it exits, or time runs out.
fn wait_until_answering(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + MOTO_START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("moto_server exited at start ({status})"));
        }
        if answers_http(addr) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "moto_server did not answer on {addr} within {MOTO_START_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
