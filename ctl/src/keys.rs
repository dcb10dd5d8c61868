//! The operator's signing key at rest, and the key commands: `keygen`, `enroll`, `keys`, `revoke`.
//!
//! The private key never leaves this machine (invariant 3: the daemon holds only public keys). It
//! is a PKCS#8 PEM file, owner-only, optionally encrypted under a passphrase (PKCS#8
//! `EncryptedPrivateKeyInfo`: PBES2 with scrypt and AES-256-CBC). The passphrase comes from an
//! environment variable, never from argv, where every user of the machine could read it in `ps`.
//! A key file others can read is refused rather than used: a leaked key approves anything.
//!
//! `keygen` also writes the public half beside the key (`operator-key.pub.pem`) with the key id
//! and label as RFC 7468 explanatory text above the PEM block, so another operator can enrol it
//! with `nightjarctl enroll --public-key FILE` and the label travels with it.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;
use daemon::paths::Paths;
use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use schemas::control::{Request, Response};
use schemas::verdict::{
    ENROLL_DOMAIN, EnrollPayload, KeyInfo, MAX_VALIDITY_SECS, REVOKE_DOMAIN, RevokePayload, Signed,
};

use crate::client::{Client, CtlError};

/// The operator key's file name in the config directory.
pub const KEY_FILE: &str = "operator-key.pem";
/// Where an encrypted key's passphrase is looked for when `--passphrase-env` is not given.
pub const PASSPHRASE_ENV: &str = "NIGHTJAR_KEY_PASSPHRASE";

const PUBLIC_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PUBLIC_END: &str = "-----END PUBLIC KEY-----";
const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";

/// Which key signs, and how to unlock it: shared by every command that signs.
#[derive(Debug, Clone, Default, Args)]
pub struct KeyArgs {
    /// The operator's private key (default: operator-key.pem in the config directory).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Read the key's passphrase from this environment variable (default:
    /// NIGHTJAR_KEY_PASSPHRASE), so the passphrase never appears on the command line.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
}

impl KeyArgs {
    pub fn path(&self, paths: &Paths) -> PathBuf {
        self.key
            .clone()
            .unwrap_or_else(|| paths.config_dir.join(KEY_FILE))
    }

    /// The passphrase from the process environment, if one is given.
    pub fn passphrase(&self) -> Result<Option<Zeroizing<String>>, KeyError> {
        passphrase(self.passphrase_env.as_deref(), |name| {
            std::env::var(name).ok()
        })
    }

    /// Loads the signing key these arguments name.
    pub fn load(&self, paths: &Paths) -> Result<OperatorKey, KeyError> {
        let passphrase = self.passphrase()?;
        load(&self.path(paths), passphrase.as_ref().map(|p| p.as_str()))
    }
}

/// Why a key file could not be made or used. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{} already exists; keygen will not replace an operator key (once enrolled, the daemon \
         knows only that key). Pass --force to replace it.",
        path.display()
    )]
    Exists { path: PathBuf },
    #[error(
        "no operator key at {}: create one with `nightjarctl keygen`, or point --key at yours",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "{} can be read by other users (mode {mode:03o}), so it is not used; make it private with \
         `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "{} is encrypted: put its passphrase in ${PASSPHRASE_ENV}, or name the environment \
         variable holding it with --passphrase-env VAR",
        path.display()
    )]
    NeedsPassphrase { path: PathBuf },
    #[error(
        "the environment variable {var} is not set or empty; --passphrase-env names the variable \
         that holds the passphrase, not the passphrase itself"
    )]
    PassphraseUnset { var: String },
    #[error("cannot decrypt {}: wrong passphrase (or a damaged key file)", path.display())]
    WrongPassphrase { path: PathBuf },
    #[error("{} is not a PKCS#8 P-256 private key: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error(
        "{} holds no P-256 public key (an SPKI PEM block, as `nightjarctl keygen` writes to \
         operator-key.pub.pem): {message}",
        path.display()
    )]
    BadPublicKey { path: PathBuf, message: String },
    #[error("a label is 1 to 64 characters, without control characters")]
    BadLabel,
    #[error("cannot encode the key: {0}")]
    Encode(String),
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<KeyError> for CtlError {
    fn from(e: KeyError) -> Self {
        CtlError::Other(e.into())
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.to_owned();
    move |source| KeyError::Io { what, path, source }
}

/// The passphrase: from the variable `--passphrase-env` names (which must then be set), else from
/// [`PASSPHRASE_ENV`] if set. `env` is injectable for tests.
pub fn passphrase(
    var: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Zeroizing<String>>, KeyError> {
    match var {
        Some(var) => match env(var).filter(|v| !v.is_empty()) {
            Some(p) => Ok(Some(Zeroizing::new(p))),
            None => Err(KeyError::PassphraseUnset {
                var: var.to_owned(),
            }),
        },
        None => Ok(env(PASSPHRASE_ENV)
            .filter(|v| !v.is_empty())
            .map(Zeroizing::new)),
    }
}

/// A loaded signing key.
#[derive(Debug)]
pub struct OperatorKey {
    pub signing: SigningKey,
    /// SPKI PEM of the public half.
    pub public_pem: String,
    pub key_id: String,
    pub path: PathBuf,
}

impl OperatorKey {
    fn from_signing(signing: SigningKey, path: &Path) -> Result<OperatorKey, KeyError> {
        let public_pem = daemon::approvals::public_key_pem(&signing);
        let key_id = daemon::approvals::key_id(&public_pem).map_err(|e| KeyError::Malformed {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(OperatorKey {
            signing,
            public_pem,
            key_id,
            path: path.to_owned(),
        })
    }

    /// ES256 over the payload's canonical JSON.
    pub fn sign<T: serde::Serialize>(&self, payload: &T) -> Signed {
        daemon::approvals::sign(payload, &self.signing)
    }
}

/// The validity window of a signed act made now: from now (whole seconds) for the longest the
/// daemon accepts, so a verdict signed after a confirmation is still fresh when it arrives.
pub fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    use chrono::SubsecRound;
    let not_before = now.trunc_subsecs(0);
    (
        not_before,
        not_before + chrono::Duration::seconds(MAX_VALIDITY_SECS),
    )
}

/// Reads the operator key at `path`: refused when group or others can read it; an encrypted key
/// needs `passphrase`.
pub fn load(path: &Path, passphrase: Option<&str>) -> Result<OperatorKey, KeyError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(io("read", path)(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io("read", path))?);
    let signing = if text.contains(ENCRYPTED_BEGIN) {
        let Some(passphrase) = passphrase else {
            return Err(KeyError::NeedsPassphrase {
                path: path.to_owned(),
            });
        };
        // A wrong passphrase fails the padding check, or (rarely) yields bytes that are no key:
        // both mean the same thing to the user.
        SigningKey::from_pkcs8_encrypted_pem(&text, passphrase).map_err(|_| {
            KeyError::WrongPassphrase {
                path: path.to_owned(),
            }
        })?
    } else {
        SigningKey::from_pkcs8_pem(&text).map_err(|e| KeyError::Malformed {
            path: path.to_owned(),
            message: e.to_string(),
        })?
    };
    OperatorKey::from_signing(signing, path)
}

/// Where the public half of the key at `key` is written: `NAME.pub.pem` beside `NAME.pem`.
pub fn public_path(key: &Path) -> PathBuf {
    let name = key
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| KEY_FILE.to_owned());
    let stem = name.strip_suffix(".pem").unwrap_or(&name);
    key.with_file_name(format!("{stem}.pub.pem"))
}

fn check_label(label: &str) -> Result<&str, KeyError> {
    let label = label.trim();
    let count = label.chars().count();
    if count == 0 || count > 64 || label.chars().any(char::is_control) {
        return Err(KeyError::BadLabel);
    }
    Ok(label)
}

/// A public key as handed from one operator to another: the PEM block and the label written
/// above it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyFile {
    /// Just the SPKI PEM block, as the daemon expects it.
    pub pem: String,
    pub label: Option<String>,
    pub key_id: String,
}

/// The text of a `.pub.pem` file: explanatory lines, then the PEM block.
pub fn public_file_text(key_id: &str, label: &str, pem: &str) -> String {
    format!(
        "Nightjar operator key\nkey id: {key_id}\nlabel: {label}\n{}\n",
        pem.trim()
    )
}

/// Parses a public key file: any explanatory text (a `label:` line is kept), then one SPKI PEM
/// block. The key must be a P-256 key.
pub fn parse_public(path: &Path, text: &str) -> Result<PublicKeyFile, KeyError> {
    let bad = |message: &str| KeyError::BadPublicKey {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let start = text
        .find(PUBLIC_BEGIN)
        .ok_or_else(|| bad("no BEGIN PUBLIC KEY line"))?;
    let end = text[start..]
        .find(PUBLIC_END)
        .map(|i| start + i + PUBLIC_END.len())
        .ok_or_else(|| bad("no END PUBLIC KEY line"))?;
    let pem = format!("{}\n", &text[start..end]);
    let key_id = daemon::approvals::key_id(&pem).map_err(|e| bad(&e.to_string()))?;
    let label = text[..start]
        .lines()
        .find_map(|l| l.trim().strip_prefix("label:"))
        .map(|l| l.trim().to_owned())
        .filter(|l| check_label(l).is_ok());
    Ok(PublicKeyFile { pem, label, key_id })
}

fn read_public(path: &Path) -> Result<PublicKeyFile, KeyError> {
    let text = std::fs::read_to_string(path).map_err(io("read", path))?;
    parse_public(path, &text)
}

/// What `keygen` made.
#[derive(Debug)]
pub struct Generated {
    pub key_id: String,
    pub key_path: PathBuf,
    pub public_path: PathBuf,
    pub encrypted: bool,
}

/// Writes `bytes` to a fresh owner-only temporary file beside `path` and syncs it.
fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, KeyError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", &tmp)(e));
    }
    Ok(tmp)
}

/// Creates a new P-256 operator key at `key_path` (0600; encrypted when `passphrase` is given)
/// and its public half beside it. Refuses to replace an existing key unless `force`.
pub fn generate(
    key_path: &Path,
    label: &str,
    passphrase: Option<&str>,
    force: bool,
) -> Result<Generated, KeyError> {
    let label = check_label(label)?;
    if !force && std::fs::symlink_metadata(key_path).is_ok() {
        return Err(KeyError::Exists {
            path: key_path.to_owned(),
        });
    }
    if let Some(dir) = key_path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        daemon::paths::create_private_dir(dir).map_err(io("create", dir))?;
    }
    let signing = SigningKey::generate();
    let pem = match passphrase {
        Some(p) => signing.to_pkcs8_encrypted_pem(p, LineEnding::LF),
        None => signing.to_pkcs8_pem(LineEnding::LF),
    }
    .map_err(|e| KeyError::Encode(e.to_string()))?;
    let key = OperatorKey::from_signing(signing, key_path)?;

    let tmp = write_temp(key_path, pem.as_bytes(), 0o600)?;
    let placed = if force {
        std::fs::rename(&tmp, key_path)
    } else {
        // A hard link fails if the name exists: no window in which another keygen's key is
        // silently replaced.
        std::fs::hard_link(&tmp, key_path).and_then(|()| std::fs::remove_file(&tmp))
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: key_path.to_owned(),
            }
        } else {
            io("write", key_path)(e)
        });
    }

    let public = public_path(key_path);
    let text = public_file_text(&key.key_id, label, &key.public_pem);
    let tmp = write_temp(&public, text.as_bytes(), 0o644)?;
    std::fs::rename(&tmp, &public).map_err(io("write", &public))?;
    Ok(Generated {
        key_id: key.key_id,
        key_path: key_path.to_owned(),
        public_path: public,
        encrypted: passphrase.is_some(),
    })
}

/// `nightjarctl keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// A name for the key, shown in `nightjarctl keys` and the feed (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Encrypt the key with the passphrase held in this environment variable (read from the
    /// environment so it never appears on the command line). Signing commands then need it in
    /// $NIGHTJAR_KEY_PASSPHRASE or the variable their --passphrase-env names.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Replace an existing key (an enrolled one stops working until the new one is enrolled).
    #[arg(long)]
    pub force: bool,
    /// Where to write the key (default: operator-key.pem in the config directory).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

fn default_label() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| check_label(u).is_ok())
        .unwrap_or_else(|| "operator".to_owned())
}

pub fn keygen(paths: &Paths, args: KeygenArgs) -> Result<u8, CtlError> {
    let key_path = KeyArgs {
        key: args.key,
        passphrase_env: None,
    }
    .path(paths);
    // Only an explicit --passphrase-env encrypts: a stray NIGHTJAR_KEY_PASSPHRASE in the
    // environment must not silently make a key its owner cannot unlock.
    let passphrase = match &args.passphrase_env {
        Some(var) => passphrase(Some(var), |name| std::env::var(name).ok())?,
        None => None,
    };
    let label = args.label.unwrap_or_else(default_label);
    let made = generate(
        &key_path,
        &label,
        passphrase.as_ref().map(|p| p.as_str()),
        args.force,
    )?;
    println!("key id:      {}", made.key_id);
    println!("label:       {}", label.trim());
    println!(
        "private key: {}{}",
        made.key_path.display(),
        if made.encrypted {
            " (encrypted, mode 0600)"
        } else {
            " (mode 0600)"
        }
    );
    println!("public key:  {}", made.public_path.display());
    println!(
        "Next: `nightjarctl enroll` registers it with the daemon (the first key needs no \
         approval); another operator's machine enrols it with `nightjarctl enroll --public-key {}`.",
        made.public_path.display()
    );
    Ok(0)
}

/// `nightjarctl enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Enrol another operator's public key (their operator-key.pub.pem), approved by signing
    /// with this machine's enrolled key. Without it: enrol this machine's own key, which needs
    /// no approval only while no key is enrolled.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// The key's label (default: the label keygen wrote into the public key file, else $USER).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    #[command(flatten)]
    pub key: KeyArgs,
}

pub async fn enroll(paths: &Paths, args: EnrollArgs) -> Result<u8, CtlError> {
    let (public_key, label, approval) = match &args.public_key {
        None => {
            let own = args.key.load(paths)?;
            let label = match &args.label {
                Some(l) => l.clone(),
                None => read_public(&public_path(&own.path))
                    .ok()
                    .filter(|p| p.key_id == own.key_id)
                    .and_then(|p| p.label)
                    .unwrap_or_else(default_label),
            };
            (own.public_pem, label, None)
        }
        Some(file) => {
            let theirs = read_public(file)?;
            let Some(label) = args.label.clone().or(theirs.label) else {
                return Err(CtlError::Other(anyhow::anyhow!(
                    "{} carries no label: give one with --label NAME",
                    file.display()
                )));
            };
            let label = check_label(&label)?.to_owned();
            let signer = args.key.load(paths)?;
            let (not_before, expires_at) = window(Utc::now());
            let payload = EnrollPayload {
                v: 1,
                domain: ENROLL_DOMAIN.to_owned(),
                public_key: theirs.pem.clone(),
                label: label.clone(),
                not_before,
                expires_at,
                nonce: daemon::approvals::new_nonce(),
                key_id: signer.key_id.clone(),
            };
            (theirs.pem, label, Some(signer.sign(&payload)))
        }
    };
    let approved_by = approval.as_ref().and_then(|s| {
        serde_json::from_str::<EnrollPayload>(&s.payload)
            .ok()
            .map(|p| p.key_id)
    });
    let mut client = Client::connect(&paths.control_socket()).await?;
    let request = Request::Enroll {
        public_key,
        label,
        approval,
    };
    let key = match client.call(&request).await? {
        Response::Key(key) => key,
        other => return Err(unexpected(&other)),
    };
    match approved_by {
        Some(by) => println!("enrolled {} ({}), approved by {by}", key.key_id, key.label),
        None => println!("enrolled {} ({})", key.key_id, key.label),
    }
    Ok(0)
}

/// The key id of this machine's public key file, if there is one (no passphrase needed).
fn own_key_id(paths: &Paths) -> Option<String> {
    read_public(&public_path(&paths.config_dir.join(KEY_FILE)))
        .ok()
        .map(|p| p.key_id)
}

/// The `keys` listing, one key a line.
pub fn render_keys(keys: &[KeyInfo], own: Option<&str>) -> String {
    if keys.is_empty() {
        return "no keys enrolled; `nightjarctl keygen` then `nightjarctl enroll`\n".to_owned();
    }
    let width = keys
        .iter()
        .map(|k| k.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!("{:<19} {:<width$} STATUS\n", "KEY ID", "LABEL");
    for k in keys {
        let status = if k.revoked { "revoked" } else { "active" };
        let mine = if own == Some(k.key_id.as_str()) {
            "  (this machine)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:<19} {:<width$} {status}{mine}\n",
            k.key_id, k.label
        ));
    }
    out
}

pub async fn keys(paths: &Paths, json: bool) -> Result<u8, CtlError> {
    let mut client = Client::connect(&paths.control_socket()).await?;
    let keys = match client.call(&Request::Keys).await? {
        Response::Keys(keys) => keys,
        other => return Err(unexpected(&other)),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&keys).map_err(|e| CtlError::Other(e.into()))?
        );
    } else {
        print!("{}", render_keys(&keys, own_key_id(paths).as_deref()));
    }
    Ok(0)
}

/// `nightjarctl revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key to revoke (see `nightjarctl keys`).
    pub key_id: String,
    /// Why, for the log and the feed.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    #[command(flatten)]
    pub key: KeyArgs,
}

pub async fn revoke(paths: &Paths, args: RevokeArgs) -> Result<u8, CtlError> {
    if args.reason.trim().is_empty() {
        return Err(CtlError::Other(anyhow::anyhow!(
            "--reason must say why the key is revoked"
        )));
    }
    let signer = args.key.load(paths)?;
    let mut client = Client::connect(&paths.control_socket()).await?;
    let (not_before, expires_at) = window(Utc::now());
    let payload = RevokePayload {
        v: 1,
        domain: REVOKE_DOMAIN.to_owned(),
        revoke: args.key_id,
        reason: args.reason,
        not_before,
        expires_at,
        nonce: daemon::approvals::new_nonce(),
        key_id: signer.key_id.clone(),
    };
    let key = match client.call(&Request::Revoke(signer.sign(&payload))).await? {
        Response::Key(key) => key,
        other => return Err(unexpected(&other)),
    };
    println!("revoked {} ({})", key.key_id, key.label);
    Ok(0)
}

pub fn unexpected(response: &Response) -> CtlError {
    CtlError::Other(anyhow::anyhow!(
        "unexpected response from nightjard: {response:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_generated_key_is_private_loads_and_matches_its_public_file() {
        let d = dir();
        let path = d.path().join("cfg").join(KEY_FILE);
        let made = generate(&path, "alice", None, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(d.path().join("cfg"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700, "a config dir keygen creates is private");
        let key = load(&path, None).unwrap();
        assert_eq!(key.key_id, made.key_id);
        assert_eq!(made.public_path, d.path().join("cfg/operator-key.pub.pem"));
        let public = read_public(&made.public_path).unwrap();
        assert_eq!(public.key_id, made.key_id);
        assert_eq!(public.label.as_deref(), Some("alice"));
        assert_eq!(public.pem, key.public_pem);
        // No temporary files left behind.
        let names: Vec<String> = std::fs::read_dir(d.path().join("cfg"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn keygen_refuses_to_replace_a_key_unless_forced() {
        let d = dir();
        let path = d.path().join(KEY_FILE);
        let first = generate(&path, "a", None, false).unwrap();
        let err = generate(&path, "a", None, false).unwrap_err();
        assert!(matches!(err, KeyError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(load(&path, None).unwrap().key_id, first.key_id, "untouched");
        let second = generate(&path, "a", None, true).unwrap();
        assert_ne!(second.key_id, first.key_id);
        assert_eq!(load(&path, None).unwrap().key_id, second.key_id);
    }

    #[test]
    fn a_key_others_can_read_is_refused_with_the_fix() {
        let d = dir();
        let path = d.path().join(KEY_FILE);
        generate(&path, "a", None, false).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load(&path, None).unwrap_err();
            assert!(matches!(err, KeyError::TooOpen { .. }), "{mode:o}: {err}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("chmod 600 {}", path.display())),
                "{text}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load(&path, None).is_ok(), "owner-only read is fine");
    }

    #[test]
    fn an_encrypted_key_needs_its_passphrase() {
        let d = dir();
        let path = d.path().join(KEY_FILE);
        let made = generate(&path, "a", Some("correct horse"), false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(ENCRYPTED_BEGIN), "{text}");
        assert_eq!(
            load(&path, Some("correct horse")).unwrap().key_id,
            made.key_id
        );
        let wrong = load(&path, Some("battery staple")).unwrap_err();
        assert!(matches!(wrong, KeyError::WrongPassphrase { .. }), "{wrong}");
        let none = load(&path, None).unwrap_err();
        assert!(matches!(none, KeyError::NeedsPassphrase { .. }), "{none}");
        assert!(none.to_string().contains(PASSPHRASE_ENV), "{none}");
    }

    #[test]
    fn missing_and_malformed_keys_say_what_to_do() {
        let d = dir();
        let path = d.path().join(KEY_FILE);
        let err = load(&path, None).unwrap_err();
        assert!(err.to_string().contains("nightjarctl keygen"), "{err}");
        std::fs::write(&path, "not a key").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            load(&path, None).unwrap_err(),
            KeyError::Malformed { .. }
        ));
    }

    #[test]
    fn the_passphrase_comes_from_the_named_variable_or_the_default_one() {
        let env: HashMap<&str, &str> =
            [("MINE", "s3cret"), (PASSPHRASE_ENV, "dflt"), ("EMPTY", "")]
                .into_iter()
                .collect();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let check = |var: Option<&str>, expected: Result<Option<&str>, ()>| {
            let got = passphrase(var, get);
            match (got, expected) {
                (Ok(p), Ok(e)) => assert_eq!(p.as_ref().map(|p| p.as_str()), e, "{var:?}"),
                (Err(KeyError::PassphraseUnset { .. }), Err(())) => {}
                (got, e) => panic!("{var:?}: {got:?}, expected {e:?}"),
            }
        };
        check(Some("MINE"), Ok(Some("s3cret")));
        check(None, Ok(Some("dflt")));
        check(Some("EMPTY"), Err(()));
        check(Some("UNSET"), Err(()));
        assert!(passphrase(None, |_| None).unwrap().is_none());
    }

    #[test]
    fn public_files_parse_with_or_without_explanatory_text() {
        let key = SigningKey::generate();
        let pem = daemon::approvals::public_key_pem(&key);
        let id = daemon::approvals::key_id(&pem).unwrap();
        let p = Path::new("x.pub.pem");
        let with = parse_public(p, &public_file_text(&id, "bob at desk 2", &pem)).unwrap();
        assert_eq!(
            (
                with.label.as_deref(),
                with.key_id.as_str(),
                with.pem.as_str()
            ),
            (Some("bob at desk 2"), id.as_str(), pem.as_str())
        );
        let bare = parse_public(p, &pem).unwrap();
        assert_eq!((bare.label, bare.key_id), (None, id));
        let err = parse_public(p, "label: x\n").unwrap_err();
        assert!(matches!(err, KeyError::BadPublicKey { .. }), "{err}");
        let broken = pem.replace("A", "B");
        assert!(parse_public(p, &broken).is_err());
    }

    #[test]
    fn public_paths_sit_beside_the_key() {
        assert_eq!(
            public_path(Path::new("/c/operator-key.pem")),
            Path::new("/c/operator-key.pub.pem")
        );
        assert_eq!(public_path(Path::new("k")), Path::new("k.pub.pem"));
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label(" ok ").is_ok());
        assert!(check_label("").is_err());
        assert!(check_label("a\nb").is_err());
        assert!(check_label(&"x".repeat(65)).is_err());
    }

    #[test]
    fn signed_windows_span_the_longest_the_daemon_accepts() {
        let now: DateTime<Utc> = "2026-03-02T10:00:00.750Z".parse().unwrap();
        let (nb, exp) = window(now);
        assert_eq!(nb, "2026-03-02T10:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!((exp - nb).num_seconds(), MAX_VALIDITY_SECS);
    }

    #[test]
    fn key_listing_marks_revoked_and_own_keys() {
        let keys = vec![
            KeyInfo {
                key_id: "k-0000000000000001".into(),
                label: "alice".into(),
                revoked: false,
            },
            KeyInfo {
                key_id: "k-0000000000000002".into(),
                label: "bob".into(),
                revoked: true,
            },
        ];
        assert_eq!(
            render_keys(&keys, Some("k-0000000000000001")),
            "KEY ID              LABEL STATUS\n\
             k-0000000000000001  alice active  (this machine)\n\
             k-0000000000000002  bob   revoked\n"
        );
    }
}
