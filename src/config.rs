//! The one configuration file and where hushline's files live.
//!
//! Found at `--config FILE`, else `$HUSHLINE_CONFIG`, else `$XDG_CONFIG_HOME/hushline/
//! config.toml` (`~/.config/hushline/config.toml`) if it exists; no file means defaults.
//! Each setting is taken from, in order: the command-line flag, its environment variable
//! (as containers set them), the file, the default:
//!
//! | setting     | variable              | default                                         |
//! |-------------|-----------------------|-------------------------------------------------|
//! | models_dir  | `HUSHLINE_MODELS_DIR` | `./models` inside a hushline checkout, else `$XDG_CACHE_HOME/hushline/models` |
//! | key_file    | `HUSHLINE_KEY_FILE`   | none (a key must be given)                      |
//! | audit_log   | `HUSHLINE_AUDIT_LOG`  | `$XDG_STATE_HOME/hushline/audit.log`            |
//! | rules       | `HUSHLINE_RULES`      | the built-in rules                              |
//!
//! plus `[serve]` and `[worker]` tables for the servers' flags (see [`ServeSettings`],
//! [`WorkerSettings`]). Must not hold secrets itself: the key file is a path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

pub const CONFIG_ENV: &str = "HUSHLINE_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration ({source})")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid hushline configuration: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
}

/// The file's contents; every field optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub models_dir: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub rules: Option<PathBuf>,
    #[serde(default)]
    pub serve: ServeSettings,
    #[serde(default)]
    pub worker: WorkerSettings,
    /// Where the file was read from (None: defaults only).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[serve]`: defaults for `hushline serve`'s flags of the same names.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    pub sip: Option<String>,
    pub out: Option<PathBuf>,
    pub rtp_ports: Option<String>,
    pub lookahead: Option<f64>,
    pub inactivity: Option<f64>,
    pub metrics: Option<String>,
}

/// `[worker]`: defaults for `hushline worker`'s flags of the same names.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub queue: Option<String>,
    pub out: Option<String>,
    pub jobs: Option<usize>,
    pub metrics: Option<String>,
}

impl Config {
    /// Finds and reads the configuration (see the module doc for where).
    pub fn load(cli: Option<&Path>) -> Result<Config, ConfigError> {
        let path = cli.map(Path::to_path_buf).or_else(|| env_path(CONFIG_ENV));
        let path = match path {
            Some(p) => p,
            None => match dirs::config_dir().map(|d| d.join("hushline/config.toml")) {
                Some(p) if p.is_file() => p,
                _ => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            source: Box::new(e),
        })?;
        config.source = Some(path);
        Ok(config)
    }

    /// The models folder: `HUSHLINE_MODELS_DIR`, the file, `./models` when run from a
    /// hushline checkout, else the XDG cache folder.
    pub fn models_dir(&self) -> PathBuf {
        env_path("HUSHLINE_MODELS_DIR")
            .or_else(|| self.models_dir.clone())
            .unwrap_or_else(|| {
                if Path::new("models/SHA256SUMS").is_file() {
                    PathBuf::from("models")
                } else {
                    cache_dir().join("models")
                }
            })
    }

    /// The key file: the flag, `HUSHLINE_KEY_FILE`, the file.
    pub fn key_file(&self, cli: Option<&Path>) -> Option<PathBuf> {
        crate::store::key_file_from_env_or(cli).or_else(|| self.key_file.clone())
    }

    /// The audit log: the flag, `HUSHLINE_AUDIT_LOG`, the file, the XDG state folder.
    pub fn audit_log(&self, cli: Option<&Path>) -> PathBuf {
        cli.map(Path::to_path_buf)
            .or_else(|| env_path("HUSHLINE_AUDIT_LOG"))
            .or_else(|| self.audit_log.clone())
            .unwrap_or_else(|| state_dir().join("audit.log"))
    }

    /// Detection rules layered over the built-in ones: the flag, `HUSHLINE_RULES`, the file.
    pub fn rules(&self, cli: Option<&Path>) -> Option<PathBuf> {
        cli.map(Path::to_path_buf)
            .or_else(|| env_path("HUSHLINE_RULES"))
            .or_else(|| self.rules.clone())
    }
}

/// The configuration of this process, loaded once by the command line.
pub fn get() -> &'static Config {
    GLOBAL.get_or_init(Config::default)
}

/// Sets the process's configuration (first call wins).
pub fn set(config: Config) {
    let _ = GLOBAL.set(config);
}

static GLOBAL: OnceLock<Config> = OnceLock::new();

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$XDG_CACHE_HOME/hushline` (`~/.cache/hushline`): models, downloaded wheels.
pub fn cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("hushline")
}

/// `$XDG_STATE_HOME/hushline` (`~/.local/state/hushline`): the audit log.
pub fn state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("hushline")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_paths_and_server_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "models_dir = \"/srv/models\"\naudit_log = \"/var/log/hushline/audit.log\"\n\
             [worker]\nqueue = \"nats://nats:4222\"\njobs = 2\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.models_dir.as_deref(), Some(Path::new("/srv/models")));
        assert_eq!(
            c.audit_log(None),
            PathBuf::from("/var/log/hushline/audit.log")
        );
        assert_eq!(
            c.audit_log(Some(Path::new("x.log"))),
            PathBuf::from("x.log")
        );
        assert_eq!(c.worker.jobs, Some(2));
        assert_eq!(c.source.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "model_dir = \"typo\"\n").unwrap();
        let e = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("config.toml") && e.contains("model_dir"), "{e}");
    }
}
