//! Secrets Tollgate generates for itself (the session signing key, the key
//! that seals upstream API keys) when the config gives none: 32 random bytes
//! as hex, kept in the data directory with mode 0600 so restarts reuse them.

use std::{fs, io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::Context;

use crate::platform::ids;

/// The secret in `path`, created on first use.
pub fn read_or_create(path: &Path) -> anyhow::Result<String> {
    if let Some(secret) = read(path)? {
        return Ok(secret);
    }
    let secret = ids::random_hex(32);
    write_new(path, &secret)?;
    Ok(secret)
}

/// The secret in `path`, or `None` when there is no such file.
pub fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(secret) if secret.trim().len() >= 32 => Ok(Some(secret.trim().to_owned())),
        Ok(_) => anyhow::bail!(
            "{} is too short to be a key; delete it to generate a new one",
            path.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `secret` to a new file at `path` (mode 0600) and syncs it to disk;
/// fails when the file exists.
pub fn write_new(path: &Path, secret: &str) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Puts the file `from` in the place of `to` in one step (a rename in the
/// same directory), then syncs the directory so the change survives a crash.
pub fn replace(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::rename(from, to)
        .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
    if let Some(dir) = to.parent() {
        fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_secret_is_persisted_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let first = read_or_create(&path).unwrap();
        let second = read_or_create(&path).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        let mode = fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_replaced_secret_is_read_from_the_old_place_and_stays_private() {
        let dir = tempfile::tempdir().unwrap();
        let (path, next) = (dir.path().join("secret"), dir.path().join("secret.next"));
        let old = read_or_create(&path).unwrap();
        let new = crate::platform::ids::random_hex(32);
        write_new(&next, &new).unwrap();
        assert!(write_new(&next, &old).is_err(), "never overwritten");
        replace(&next, &path).unwrap();
        assert_eq!(read(&path).unwrap(), Some(new));
        assert_eq!(read(&next).unwrap(), None);
        let mode = fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
}
