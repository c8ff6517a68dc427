//! The one door to external commands.
//!
//! Nothing else in the project starts processes. A command is found on
//! `PATH` (never by absolute path, so tests can put stand-ins first), runs
//! with `LC_ALL=C` so that the texts we parse are the English ones, gets a
//! timeout, and has stdout, stderr and exit status captured. Secrets go to
//! the child on stdin, never in argv.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::change::ChangeToken;

/// A command to run.
#[derive(Clone)]
pub struct Cmd {
    /// Program name, looked up on `PATH`.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    stdin: Option<Vec<u8>>,
    /// Longest time the command may take.
    pub timeout: Duration,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// The command changes the system.
    pub mutating: bool,
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The stdin bytes may be a password: never shown.
        f.debug_struct("Cmd")
            .field("command", &self.display())
            .field("stdin", &self.stdin.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Cmd {
    /// A command that only reads state.
    pub fn new(program: &str) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(30),
            cwd: None,
            mutating: false,
        }
    }
    /// A command that changes the system; needs the permission that check
    /// mode withholds.
    pub fn mutating(program: &str, _token: &ChangeToken) -> Cmd {
        Cmd {
            mutating: true,
            ..Cmd::new(program)
        }
    }
    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.args.push(arg.into());
        self
    }
    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    /// Bytes written to the child's stdin (then closed). Without it stdin
    /// is `/dev/null`, so a prompt reads EOF instead of hanging.
    pub fn stdin(mut self, bytes: Vec<u8>) -> Cmd {
        self.stdin = Some(bytes);
        self
    }
    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = timeout;
        self
    }
    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }
    /// The command line as a user would type it (stdin not shown).
    pub fn display(&self) -> String {
        let mut parts = vec![self.program.clone()];
        parts.extend(self.args.iter().map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.clone()
            }
        }));
        parts.join(" ")
    }
    /// The bytes for stdin, if any.
    pub fn stdin_bytes(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }
}

/// What a finished command left.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CmdOutput {
    /// The command line.
    pub command: String,
    /// Standard output, decoded lossily.
    pub stdout: String,
    /// Standard error, decoded lossily.
    pub stderr: String,
    /// Exit status, `None` when killed by a signal.
    pub rc: Option<i32>,
}

impl CmdOutput {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.rc == Some(0)
    }
}

/// Why a command could not run to completion.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// The program is not on `PATH`.
    #[error("{program} not found on PATH: {}", hint_for(.program))]
    NotFound {
        /// Program name.
        program: String,
    },
    /// The program could not be started.
    #[error("cannot run '{command}': {error}")]
    Spawn {
        /// Command line.
        command: String,
        /// OS error text.
        error: String,
    },
    /// The program ran past its timeout and was killed.
    #[error("'{command}' did not finish within {} s and was stopped", .after.as_secs())]
    TimedOut {
        /// Command line.
        command: String,
        /// The timeout.
        after: Duration,
        /// What it had printed so far.
        output: CmdOutput,
    },
}

fn hint_for(program: &str) -> &'static str {
    match program {
        "pvecm" | "pvesh" => "is this a Proxmox VE node?",
        p if p.starts_with("corosync") => "is corosync installed? Every Proxmox VE node has it",
        "getent" => "getent comes with the C library (libc-bin on Debian)",
        "ip" => "ip comes with iproute2",
        _ => "install it or fix PATH",
    }
}

/// Runs commands. The system implementation is [`SystemRunner`]; tests use
/// [`FakeRunner`].
pub trait Runner {
    /// Runs one command to completion or timeout.
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError>;
}

/// Runs real processes.
pub struct SystemRunner;

/// Finds a program on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Runner for SystemRunner {
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        let program = which(&cmd.program).ok_or_else(|| CmdError::NotFound {
            program: cmd.program.clone(),
        })?;
        let command = cmd.display();
        let mut child = spawn(cmd, &program).map_err(|e| CmdError::Spawn {
            command: command.clone(),
            error: e.to_string(),
        })?;

        if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), cmd.stdin.clone()) {
            std::thread::spawn(move || {
                // A child that exits without reading stdin closes the pipe: fine.
                let _ = pipe.write_all(&bytes);
            });
        }
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());

        let status = wait_for_exit(&mut child, cmd.timeout).map_err(|e| CmdError::Spawn {
            command: command.clone(),
            error: e.to_string(),
        })?;
        match status {
            Some(status) => {
                let out = CmdOutput {
                    command,
                    stdout: stdout.finish(Duration::from_secs(2)),
                    stderr: stderr.finish(Duration::from_secs(2)),
                    rc: status.code().or_else(|| status.signal().map(|s| 128 + s)),
                };
                Ok(out)
            }
            None => {
                kill_group(&mut child);
                let output = CmdOutput {
                    command: command.clone(),
                    stdout: stdout.finish(Duration::from_millis(200)),
                    stderr: stderr.finish(Duration::from_millis(200)),
                    rc: None,
                };
                Err(CmdError::TimedOut {
                    command,
                    after: cmd.timeout,
                    output,
                })
            }
        }
    }
}

/// Starts `program` in a process group of its own, in the C locale, with
/// its output piped.
fn spawn(cmd: &Cmd, program: &Path) -> std::io::Result<Child> {
    let mut builder = Command::new(program);
    builder
        .args(&cmd.args)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &cmd.cwd {
        builder.current_dir(dir);
    }
    builder.spawn()
}

/// Waits for the child to exit, with growing pauses; `None` when it ran
/// past `timeout`.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match child.try_wait()? {
            Some(status) => return Ok(Some(status)),
            None if started.elapsed() >= timeout => return Ok(None),
            None => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// Kills the child and reaps it.
fn kill_group(child: &mut Child) {
    // The whole process group goes, so helpers it started
    // (ssh, for one) do not outlive the module.
    if let Ok(pgid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

struct Collector {
    buffer: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Collector {
    fn finish(self, wait: Duration) -> String {
        // A grandchild may still hold the pipe open; do not wait for it forever.
        let _ = self.done.recv_timeout(wait);
        let bytes = self.buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> Collector {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let (tx, done) = std::sync::mpsc::channel();
    let sink = Arc::clone(&buffer);
    std::thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut b) = sink.lock() {
                    b.extend_from_slice(&chunk[..n]);
                }
            }
        }
        let _ = tx.send(());
    });
    Collector { buffer, done }
}

/// A scripted runner for tests: answers each command line from a table and
/// records what ran.
#[derive(Default)]
pub struct FakeRunner {
    answers: Mutex<Vec<(String, Result<CmdOutput, CmdError>)>>,
    /// Every command line run, in order, with its stdin bytes.
    pub log: Mutex<Vec<(String, Option<Vec<u8>>)>>,
    /// Every command line run, in order, with the timeout it was given.
    pub timeouts: Mutex<Vec<(String, Duration)>>,
}

impl FakeRunner {
    /// Answers `command_line` (as [`Cmd::display`] shows it) with this
    /// output; later answers for the same line are used in turn, the last
    /// one repeatedly.
    pub fn answer(self, command_line: &str, stdout: &str, stderr: &str, rc: i32) -> FakeRunner {
        let out = CmdOutput {
            command: command_line.to_string(),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
            rc: Some(rc),
        };
        if let Ok(mut answers) = self.answers.lock() {
            answers.push((command_line.to_string(), Ok(out)));
        }
        self
    }
    /// Answers `command_line` with an error.
    pub fn fail(self, command_line: &str, err: CmdError) -> FakeRunner {
        if let Ok(mut answers) = self.answers.lock() {
            answers.push((command_line.to_string(), Err(err)));
        }
        self
    }
    /// The command lines run so far.
    pub fn commands(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|l| l.iter().map(|(c, _)| c.clone()).collect())
            .unwrap_or_default()
    }
}

impl Runner for FakeRunner {
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        let line = cmd.display();
        if let Ok(mut log) = self.log.lock() {
            log.push((line.clone(), cmd.stdin.clone()));
        }
        if let Ok(mut timeouts) = self.timeouts.lock() {
            timeouts.push((line.clone(), cmd.timeout));
        }
        let mut answers = self.answers.lock().map_err(|_| CmdError::NotFound {
            program: cmd.program.clone(),
        })?;
        let matching: Vec<usize> = answers
            .iter()
            .enumerate()
            .filter(|(_, (l, _))| *l == line)
            .map(|(i, _)| i)
            .collect();
        match matching.as_slice() {
            [] => Err(CmdError::NotFound {
                program: cmd.program.clone(),
            }),
            [only] => answers[*only].1.clone(),
            [first, ..] => Ok(answers.remove(*first).1?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status_with_c_locale() {
        let out = SystemRunner
            .run(&Cmd::new("sh").args(["-c", "echo out; echo err >&2; echo $LC_ALL; exit 3"]))
            .unwrap();
        assert_eq!(out.stdout, "out\nC\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.rc, Some(3));
    }

    #[test]
    fn feeds_stdin_without_putting_it_in_argv() {
        let cmd = Cmd::new("sh")
            .args(["-c", "read line; echo got:$line"])
            .stdin(b"s3cret\n".to_vec());
        assert!(!cmd.display().contains("s3cret"));
        assert!(!format!("{cmd:?}").contains("s3cret"));
        assert_eq!(SystemRunner.run(&cmd).unwrap().stdout, "got:s3cret\n");
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let err = SystemRunner
            .run(&Cmd::new("pvecm-does-not-exist"))
            .unwrap_err();
        assert_eq!(
            err,
            CmdError::NotFound {
                program: "pvecm-does-not-exist".into()
            }
        );
        assert_eq!(
            CmdError::NotFound {
                program: "pvecm".into()
            }
            .to_string(),
            "pvecm not found on PATH: is this a Proxmox VE node?"
        );
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let started = Instant::now();
        let err = SystemRunner
            .run(
                &Cmd::new("sh")
                    .args(["-c", "sleep 30 & sleep 30"])
                    .timeout(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert!(matches!(err, CmdError::TimedOut { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        assert_eq!(
            Cmd::new("pvecm").args(["add", "a b", "--x"]).display(),
            "pvecm add 'a b' --x"
        );
    }
}
