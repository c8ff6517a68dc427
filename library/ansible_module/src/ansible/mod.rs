//! Ansible's binary-module protocol.
//!
//! A module binary is `fn main() { pve_cluster::ansible::run::<MyModule>() }`.
//! [`run`] reads the args file named by `argv[1]` (or, when that is `-`,
//! the args from standard input, as the collection's action plugin sends
//! them: no file on the node, nothing on a command line), splits off the
//! `_ansible_*` keys, validates the user's options against the module's
//! [`Spec`], hands typed parameters to the module, and prints exactly one
//! JSON object, on every path: bad arguments, a module error, a panic.

pub mod json;
mod mask;
mod output;
pub mod spec;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::cmd::{Runner, SystemRunner};
pub use mask::mask;
pub use spec::{Opt, Spec, Type};

/// One Ansible module.
pub trait Module {
    /// Typed parameters, deserialised from the validated options.
    type Params: DeserializeOwned;
    /// The module's name, used when `_ansible_module_name` is absent.
    const NAME: &'static str;
    /// Whether the module honours check mode. One that does not is never
    /// run under `--check`: it returns Ansible's standard skipped result.
    const SUPPORTS_CHECK_MODE: bool;
    /// The argument spec.
    fn spec() -> Spec;
    /// Does the work.
    fn run(params: Self::Params, ctx: &mut Context<'_>) -> Result<Outcome, Failure>;
}

/// The `_ansible_*` keys the controller sends, typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InternalArgs {
    /// `--check`.
    pub check_mode: bool,
    /// `--diff`.
    pub diff: bool,
    /// Number of `-v`.
    pub verbosity: u64,
    /// The task has `no_log: true`.
    pub no_log: bool,
    /// The module's name as the controller resolved it.
    pub module_name: Option<String>,
    /// An action plugin asked the module to ignore unknown options.
    pub ignore_unknown_opts: bool,
    /// `exception` details are wanted for errors.
    pub tracebacks_for_errors: bool,
}

impl InternalArgs {
    /// Takes every `_ansible_*` key out of `args`, known or not.
    pub fn split_from(args: &mut Map<String, Value>) -> InternalArgs {
        let internal: Vec<String> = args
            .keys()
            .filter(|k| k.starts_with("_ansible_"))
            .cloned()
            .collect();
        let mut parsed = InternalArgs::default();
        for key in internal {
            let Some(value) = args.remove(&key) else {
                continue;
            };
            let flag = || {
                spec::coerce(Type::Bool, &value)
                    .ok()
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
            };
            match key.as_str() {
                "_ansible_check_mode" => parsed.check_mode = flag(),
                "_ansible_diff" => parsed.diff = flag(),
                "_ansible_no_log" => parsed.no_log = flag(),
                "_ansible_ignore_unknown_opts" => parsed.ignore_unknown_opts = flag(),
                "_ansible_verbosity" => {
                    parsed.verbosity = spec::coerce(Type::Int, &value)
                        .ok()
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0);
                }
                "_ansible_module_name" => parsed.module_name = value.as_str().map(str::to_string),
                "_ansible_tracebacks_for" => {
                    parsed.tracebacks_for_errors = value
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| i == "error"));
                }
                _ => {}
            }
        }
        parsed
    }
}

/// What a module can see and use while it runs.
pub struct Context<'a> {
    /// The controller's flags.
    pub internal: InternalArgs,
    /// The door to external commands.
    pub runner: &'a dyn Runner,
    /// Warnings collected for the result.
    pub warnings: Vec<String>,
}

impl Context<'_> {
    /// Whether this run is a dry run.
    pub fn check_mode(&self) -> bool {
        self.internal.check_mode
    }
    /// Whether the user asked for diffs.
    pub fn diff(&self) -> bool {
        self.internal.diff
    }
    /// The permission to change the system. Refused in check mode, so no
    /// code path holding a [`ChangeToken`] can run under `--check`.
    pub fn change_token(&self) -> Result<ChangeToken, Failure> {
        if self.internal.check_mode {
            Err(Failure::new(
                "internal error: a change was attempted in check mode",
            ))
        } else {
            Ok(ChangeToken::grant())
        }
    }
    /// Adds a warning to the result.
    pub fn warn(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }
}

pub use crate::change::ChangeToken;

/// A successful result.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Something changed (or would, in check mode).
    pub changed: bool,
    /// A short summary.
    pub msg: Option<String>,
    /// `{before, after, ...}`; printed only in diff mode.
    pub diff: Option<Value>,
    /// Module-specific return values.
    pub data: Map<String, Value>,
}

impl Outcome {
    /// An unchanged result with a message.
    pub fn unchanged(msg: impl Into<String>) -> Outcome {
        Outcome {
            msg: Some(msg.into()),
            ..Outcome::default()
        }
    }
    /// Adds a return value.
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Outcome {
        self.data.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

/// A failed result: the message a user can act on, and return values that
/// help (raw command output, the state found).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Failure {
    /// What went wrong and what to do.
    pub msg: String,
    /// Extra return values.
    pub data: Map<String, Value>,
    /// Something was changed before the failure (a step of several).
    pub changed: bool,
}

impl Failure {
    /// A failure with only a message.
    pub fn new(msg: impl Into<String>) -> Failure {
        Failure {
            msg: msg.into(),
            data: Map::new(),
            changed: false,
        }
    }
    /// Marks the failure as one that came after a change.
    pub fn after_change(mut self) -> Failure {
        self.changed = true;
        self
    }
    /// Adds a return value.
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Failure {
        self.data.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

impl From<crate::cmd::CmdError> for Failure {
    fn from(err: crate::cmd::CmdError) -> Failure {
        Failure::new(err.to_string())
    }
}

/// Secrets known so far, for the panic hook.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Set once the one JSON object has been written.
static PRINTED: AtomicBool = AtomicBool::new(false);

/// Runs module `M` as a binary module and exits the process.
pub fn run<M: Module>() -> ! {
    install_panic_hook(M::NAME);
    let result = match read_args(std::env::args_os().nth(1).as_deref(), &mut std::io::stdin()) {
        Ok(text) => execute::<M>(&text, &SystemRunner),
        Err(ArgsError::NotGiven) => output::failed_result(&Failure::new(format!(
            "no args file given: {} is an Ansible module; run it through Ansible, or as '{} ARGS_FILE', or as '{} -' with the args on standard input",
            M::NAME,
            M::NAME,
            M::NAME
        ))),
        Err(ArgsError::Unreadable(msg)) => output::failed_result(&Failure::new(msg)),
    };
    finish(result)
}

/// Why the args could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// No argument at all: the binary was started by hand.
    NotGiven,
    /// The file or standard input could not be read; the message says which.
    Unreadable(String),
}

/// The text of the args: from the file named by `arg`, or from `stdin` to
/// its end when `arg` is `-`. Bytes that are not UTF-8 are replaced, as for
/// a file, so that the parser reports them instead of the reader.
pub fn read_args(
    arg: Option<&std::ffi::OsStr>,
    stdin: &mut dyn std::io::Read,
) -> Result<String, ArgsError> {
    let Some(path) = arg else {
        return Err(ArgsError::NotGiven);
    };
    if path == "-" {
        let mut bytes = Vec::new();
        return match stdin.read_to_end(&mut bytes) {
            Ok(_) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(err) => Err(ArgsError::Unreadable(format!(
                "cannot read the args from standard input: {err}"
            ))),
        };
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(err) => Err(ArgsError::Unreadable(format!(
            "cannot read the args file '{}': {err}",
            path.to_string_lossy()
        ))),
    }
}

/// Runs module `M` on the text of an args file with the given command
/// runner, and returns the result object (not yet printed).
pub fn execute<M: Module>(args_text: &str, runner: &dyn Runner) -> Map<String, Value> {
    let mut raw = match json::parse_args(args_text) {
        Ok(map) => map,
        Err(msg) => return output::failed_result(&Failure::new(msg)),
    };
    let internal = InternalArgs::split_from(&mut raw);
    let name = internal
        .module_name
        .clone()
        .unwrap_or_else(|| M::NAME.to_string());
    let spec = M::spec();
    let validated = match spec::validate(&spec, raw, &name, internal.ignore_unknown_opts) {
        Ok(v) => v,
        Err(msg) => return output::failed_result(&Failure::new(msg)),
    };
    if let Ok(mut secrets) = SECRETS.lock() {
        secrets.clone_from(&validated.no_log_values);
    }
    let invocation = output::invocation(&validated.params, &spec);
    let secrets = validated.no_log_values.clone();
    if internal.check_mode && !M::SUPPORTS_CHECK_MODE {
        let mut result = Map::new();
        result.insert("changed".into(), Value::Bool(false));
        result.insert("failed".into(), Value::Bool(false));
        result.insert("skipped".into(), Value::Bool(true));
        result.insert(
            "msg".into(),
            Value::String(format!(
                "remote module ({name}) does not support check mode"
            )),
        );
        result.insert("invocation".into(), invocation);
        return output::masked(result, &secrets);
    }
    let typed_input = output::canonical_params(&validated.params, &spec);
    let params: M::Params = match serde_json::from_value(Value::Object(typed_input)) {
        Ok(p) => p,
        Err(err) => {
            return output::masked(
                output::failed_result(&Failure::new(format!("invalid module arguments: {err}"))),
                &secrets,
            )
        }
    };
    let mut ctx = Context {
        internal,
        runner,
        warnings: validated.warnings,
    };
    let outcome = M::run(params, &mut ctx);
    output::render(outcome, ctx, invocation, &secrets)
}

fn finish(result: Map<String, Value>) -> ! {
    let failed = result
        .get("failed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    print_once(&Value::Object(result));
    std::process::exit(i32::from(failed))
}

fn print_once(value: &Value) {
    if PRINTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let text = serde_json::to_string(value).unwrap_or_else(|_| {
        r#"{"failed": true, "msg": "internal error: result not serialisable"}"#.to_string()
    });
    let mut stdout = std::io::stdout().lock();
    // Nothing sensible can be done if stdout is gone.
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

fn install_panic_hook(name: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let failure = Failure::new(format!(
            "internal error in module {name}: {payload}{location}. This is a bug: please report it with the task that triggered it"
        ));
        let secrets = SECRETS.lock().map(|s| s.clone()).unwrap_or_default();
        print_once(&Value::Object(output::masked(
            output::failed_result(&failure),
            &secrets,
        )));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    /// A reader that fails, as a closed or broken stdin does.
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("broken pipe"))
        }
    }

    #[test]
    fn args_come_from_the_file_named_or_from_stdin_for_a_dash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("args");
        std::fs::write(&path, r#"{"a": 1}"#).expect("write");
        let mut unused: &[u8] = b"not read";
        assert_eq!(
            read_args(Some(path.as_os_str()), &mut unused),
            Ok(r#"{"a": 1}"#.to_string())
        );
        assert_eq!(unused, b"not read", "a file argument leaves stdin alone");

        let mut stdin: &[u8] = b"{\"b\": \"x\"}\n";
        assert_eq!(
            read_args(Some(OsStr::new("-")), &mut stdin),
            Ok("{\"b\": \"x\"}\n".to_string())
        );
        assert!(stdin.is_empty(), "stdin is read to its end");
    }

    #[test]
    fn unreadable_args_say_where_they_were_looked_for() {
        let mut empty: &[u8] = b"";
        assert_eq!(read_args(None, &mut empty), Err(ArgsError::NotGiven));
        match read_args(Some(OsStr::new("/nonexistent/args")), &mut empty) {
            Err(ArgsError::Unreadable(msg)) => {
                assert!(
                    msg.starts_with("cannot read the args file '/nonexistent/args': "),
                    "{msg}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            read_args(Some(OsStr::new("-")), &mut Broken),
            Err(ArgsError::Unreadable(
                "cannot read the args from standard input: broken pipe".to_string()
            ))
        );
    }

    #[test]
    fn stdin_bytes_that_are_not_utf8_reach_the_parser_replaced() {
        let mut stdin: &[u8] = b"{\"a\": \"\xff\"}";
        assert_eq!(
            read_args(Some(OsStr::new("-")), &mut stdin),
            Ok("{\"a\": \"\u{fffd}\"}".to_string())
        );
    }
}
