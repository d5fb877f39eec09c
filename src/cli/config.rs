//! The configuration file (`--config FILE`, `PROM_CONFIG`): a TOML file
//! whose keys are the commands' own settings, named as their flags are
//! without the dashes (`base_url` for `--base-url`). Precedence is flag >
//! environment > file > default: a value from the file is used only where
//! the command line and the environment left a setting at its default.
//!
//! The file is checked against the command line's own definitions, so
//! there is one list of settings: an unknown key is refused with the
//! nearest known one as a hint, and each value is parsed by the same parser
//! as the flag, with the file's line and column in the message.

use clap::parser::ValueSource;
use clap::{ArgAction, Command};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A setting's origin, for `prom config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Environment(String),
    File(PathBuf),
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => write!(f, "flag"),
            Source::Environment(var) => write!(f, "environment ({var})"),
            Source::File(p) => write!(f, "file ({})", p.display()),
            Source::Default => write!(f, "default"),
        }
    }
}

/// A problem in the configuration file, rendered as the questionnaire
/// compiler renders its own: `FILE:LINE:COL: error: …` with a hint.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The settings the file may hold: every flag that an environment variable
/// can also set, of every command (the hidden testing flags excepted), by
/// id.
fn known(cmd: &Command, out: &mut BTreeMap<String, ArgAction>) {
    for a in cmd.get_arguments() {
        let id = a.get_id().as_str();
        // A setting is what a flag and an environment variable both hold.
        if a.get_long().is_none() || a.get_env().is_none() || a.is_hide_set() || id == "config" {
            continue;
        }
        out.entry(id.to_string())
            .or_insert_with(|| a.get_action().clone());
    }
    for s in cmd.get_subcommands() {
        known(s, out);
    }
}

/// Line and column (from 1) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn error_at(
    path: &Path,
    text: &str,
    offset: usize,
    message: &str,
    hint: Option<String>,
) -> ConfigError {
    let (line, col) = line_col(text, offset);
    let mut s = format!("{}:{line}:{col}: error: {message}", path.display());
    if let Some(h) = hint {
        s.push_str(&format!("\n  = hint: {h}"));
    }
    ConfigError(s)
}

/// The file's settings as flag arguments (`--base-url=…`), checked.
pub struct FileSettings {
    pub path: PathBuf,
    values: BTreeMap<String, Vec<String>>,
}

/// Reads and checks the configuration file against the commands of `cmd`.
pub fn read(path: &Path, cmd: &Command) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "{}: error: cannot read the configuration file: {e}",
            path.display()
        ))
    })?;
    let table: BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>> = toml::from_str(&text)
        .map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            error_at(path, &text, offset, e.message().trim(), None)
        })?;
    let mut settings = BTreeMap::new();
    known(cmd, &mut settings);
    let mut values = BTreeMap::new();
    for (key, value) in &table {
        let name = key.get_ref().as_str();
        let Some(action) = settings.get(name) else {
            let nearest = settings
                .keys()
                .map(|k| (strsim::jaro_winkler(k, name), k))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| format!("did you mean `{k}`?"));
            let hint = nearest.or_else(|| {
                Some("the keys are the flags' names with `_` for `-`, as `prom config check` lists them".into())
            });
            return Err(error_at(
                path,
                &text,
                key.span().start,
                &format!("unknown setting `{name}`"),
                hint,
            ));
        };
        let at = value.span().start;
        let wrong = |expected: &str| {
            error_at(
                path,
                &text,
                at,
                &format!(
                    "`{name}` must be {expected}, not {}",
                    describe(value.get_ref())
                ),
                None,
            )
        };
        let strings = match (action, value.get_ref()) {
            (ArgAction::SetTrue, toml::Value::Boolean(b)) => vec![b.to_string()],
            (ArgAction::SetTrue, _) => return Err(wrong("true or false")),
            (ArgAction::Append, toml::Value::Array(items)) => items
                .iter()
                .map(|v| scalar(v).ok_or_else(|| wrong("a list of text values")))
                .collect::<Result<_, _>>()?,
            (_, v) => vec![scalar(v).ok_or_else(|| wrong("a text or a number"))?],
        };
        // The flag's own parser: the same refusal as on the command line.
        if let Some(arg) = find_arg(cmd, name) {
            let long = arg.get_long().unwrap_or(name);
            let probe = Command::new("prom")
                .no_binary_name(true)
                .arg(arg.clone().required(false));
            for s in &strings {
                let flag = match action {
                    ArgAction::SetTrue => format!("--{long}"),
                    _ => format!("--{long}={s}"),
                };
                if let Err(e) = probe.clone().try_get_matches_from([flag]) {
                    let detail = e.to_string();
                    let reason = detail
                        .lines()
                        .next()
                        .unwrap_or("not a valid value")
                        .trim_start_matches("error: ")
                        .to_string();
                    return Err(error_at(path, &text, at, &reason, None));
                }
            }
        }
        values.insert(name.to_string(), strings);
    }
    Ok(FileSettings {
        path: path.to_path_buf(),
        values,
    })
}

fn describe(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a text",
        toml::Value::Integer(_) => "a number",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

fn find_arg<'a>(cmd: &'a Command, id: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments()
        .find(|a| a.get_id() == id)
        .or_else(|| cmd.get_subcommands().find_map(|s| find_arg(s, id)))
}

/// The command chosen on the command line and its matches, innermost.
fn leaf<'a>(cmd: &'a Command, m: &'a clap::ArgMatches) -> (&'a Command, &'a clap::ArgMatches) {
    match m.subcommand() {
        Some((name, sub)) => match cmd.find_subcommand(name) {
            Some(c) => leaf(c, sub),
            None => (cmd, m),
        },
        None => (cmd, m),
    }
}

/// The arguments with the file's settings added where neither a flag nor
/// the environment set them, and where each setting of the chosen command
/// came from.
pub fn layer(
    cmd: &Command,
    args: Vec<OsString>,
    file: Option<&FileSettings>,
) -> Result<(Vec<OsString>, BTreeMap<String, Source>), clap::Error> {
    let m = cmd.clone().try_get_matches_from(&args)?;
    let (leaf_cmd, leaf_m) = leaf(cmd, &m);
    let mut args = args;
    let mut sources = BTreeMap::new();
    for a in leaf_cmd.get_arguments() {
        let id = a.get_id().as_str();
        if a.get_long().is_none() || a.get_env().is_none() || a.is_hide_set() || id == "config" {
            continue;
        }
        let source = match leaf_m.value_source(id) {
            Some(ValueSource::CommandLine) => Source::Flag,
            Some(ValueSource::EnvVariable) => Source::Environment(
                a.get_env()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            _ => match file.and_then(|f| f.values.get(id).map(|v| (f, v))) {
                Some((f, values)) => {
                    let long = a.get_long().unwrap_or(id);
                    match a.get_action() {
                        ArgAction::SetTrue if values.first().is_some_and(|v| v == "true") => {
                            args.push(format!("--{long}").into());
                        }
                        ArgAction::SetTrue => {}
                        _ => {
                            for v in values {
                                args.push(format!("--{long}={v}").into());
                            }
                        }
                    }
                    Source::File(f.path.clone())
                }
                None => Source::Default,
            },
        };
        sources.insert(id.to_string(), source);
    }
    Ok((args, sources))
}

/// A value fit to print: a password in a URL, a token or a secret masked.
pub fn masked(id: &str, value: &str) -> String {
    if id.contains("token") || id.contains("secret") || id.contains("password") {
        return "********".into();
    }
    // user:password@ in a URL (postgres://, smtp://).
    if let Some((scheme, rest)) = value.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:********@{host}");
    }
    // libpq's key=value form.
    value
        .split_whitespace()
        .map(|part| match part.split_once('=') {
            Some(("password", _)) => "password=********".to_string(),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_and_secrets_are_masked() {
        assert_eq!(
            masked("database", "postgres://prom:s3cret@db1,db2/prom"),
            "postgres://prom:********@db1,db2/prom"
        );
        assert_eq!(masked("smtp_url", "smtp://mail:25"), "smtp://mail:25");
        assert_eq!(masked("metrics_token", "abc"), "********");
        assert_eq!(
            masked("database", "host=a password=x dbname=prom"),
            "host=a password=******** dbname=prom"
        );
    }

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_col("a = 1\nbc = 2", 6), (2, 1));
        assert_eq!(line_col("a = 1\nbc = 2", 11), (2, 6));
    }
}
