//! TLS for the one listener: the configured PEM pair, or a self-signed pair made once in
//! `<data dir>/tls/` and reused on every start.

use std::path::{Path, PathBuf};

use axum_server::tls_rustls::RustlsConfig;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS files {cert} and {key}: {reason}")]
    Load {
        cert: String,
        key: String,
        reason: String,
    },
    #[error("cannot create the self-signed certificate in {dir}: {reason}")]
    Generate { dir: String, reason: String },
}

/// Where the certificate and key are, and whether they were just generated.
#[derive(Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub generated: bool,
}

/// The PEM pair to serve with: the configured one, or the data dir's self-signed one.
pub fn files(config: &Config) -> Result<TlsFiles, TlsError> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        return Ok(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            generated: false,
        });
    }
    let dir = config.data_dir.join("tls");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok(TlsFiles {
            cert,
            key,
            generated: false,
        });
    }
    generate(&dir, &cert, &key)?;
    Ok(TlsFiles {
        cert,
        key,
        generated: true,
    })
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let fail = |reason: String| TlsError::Generate {
        dir: dir.display().to_string(),
        reason,
    };
    crate::files::private_dir(dir).map_err(|e| fail(e.to_string()))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| fail(e.to_string()))?;
    write_private(key_path, certified.key_pair.serialize_pem().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    write_private(cert_path, certified.cert.pem().as_bytes()).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The rustls server config for `files`, with stateless session tickets: a booth that comes
/// back after a network blip resumes its TLS session (no certificate signature, no key
/// exchange by certificate), however many other devices connected meanwhile.
pub async fn rustls_config(files: &TlsFiles) -> Result<RustlsConfig, TlsError> {
    let fail = |reason: String| TlsError::Load {
        cert: files.cert.display().to_string(),
        key: files.key.display().to_string(),
        reason,
    };
    let loaded = RustlsConfig::from_pem_file(&files.cert, &files.key)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut config = (*loaded.get_inner()).clone();
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| fail(e.to_string()))?;
    Ok(RustlsConfig::from_config(std::sync::Arc::new(config)))
}
