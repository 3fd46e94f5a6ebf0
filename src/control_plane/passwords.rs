//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 iterations, 1 lane), run on a
//! small pool of dedicated threads at the lowest scheduling priority: at most
//! [`hashing_threads`] hashes run at once (memory ≤ threads × 19 MiB), and a flood of logins
//! yields the CPU to the data path instead of competing with it.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use super::FieldError;

/// The shortest password accepted.
pub const MIN_LEN: usize = 12;
/// The longest password accepted.
pub const MAX_LEN: usize = 256;

/// Passwords at most this far down zxcvbn's list of common passwords are refused.
pub const COMMON_RANK: usize = 3000;

/// Whether `password` is (as a whole, case-insensitively, also reversed or in l33t) one of the
/// [`COMMON_RANK`] most common passwords of zxcvbn's frequency list.
pub fn is_common(password: &str) -> bool {
    let len = password.chars().count();
    if len == 0 || len > MAX_LEN {
        return false;
    }
    let entropy = zxcvbn::zxcvbn(password, &[]);
    entropy.sequence().iter().any(|m| {
        // zxcvbn keeps its dictionary type private; its name is stable ("Passwords").
        matches!(&m.pattern, zxcvbn::matching::patterns::MatchPattern::Dictionary(d)
            if d.rank <= COMMON_RANK && format!("{:?}", d.dictionary_name) == "Passwords")
            && m.i == 0
            && m.j + 1 == len
    })
}

/// A hashing failure (not a wrong password).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    /// A hashing failure described by `message`.
    pub fn from_message(message: String) -> Self {
        Self(message)
    }
}

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks a new password's length (counted in characters).
pub fn validate_new(password: &str) -> Result<(), FieldError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(FieldError::new(
            "password",
            format!("must be at least {MIN_LEN} characters"),
        ));
    }
    if len > MAX_LEN {
        return Err(FieldError::new(
            "password",
            format!("must be at most {MAX_LEN} characters"),
        ));
    }
    if is_common(password) {
        return Err(FieldError::new(
            "password",
            "is one of the most common passwords; choose another",
        ));
    }
    Ok(())
}

/// How many hashing threads run on `cores` cores: half of them (at least one), so hashing
/// never takes every core from the data path.
pub fn hashing_threads(cores: usize) -> usize {
    (cores / 2).max(1)
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' queue, started on first use.
fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..hashing_threads(cores) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // Lowest priority (nice 19 on Linux): the data path wins any contention.
                    if let Err(e) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    ) {
                        tracing::debug!(error = ?e, "could not lower the hashing thread's priority");
                    }
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Mutex::new(tx)
    })
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most argon2 computations ever running at once in this process (each holds 19 MiB, so
/// hashing memory peaked at this × 19 MiB).
pub fn peak_concurrent_hashes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Runs `work` on a hashing thread.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
) -> Result<T, HashError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        let result = work();
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        let _ = tx.send(result);
    });
    pool()
        .lock()
        .map_err(|_| HashError("hashing pool poisoned".into()))?
        .send(job)
        .map_err(|_| HashError("hashing pool stopped".into()))?;
    rx.await
        .map_err(|_| HashError("hashing thread ended".into()))?
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, HashError> {
    on_hashing_thread(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    })
    .await
}

/// Whether `password` matches the stored PHC string.
pub async fn verify(password: String, phc: String) -> Result<bool, HashError> {
    on_hashing_thread(move || {
        let parsed = PasswordHash::new(&phc).map_err(|e| HashError(e.to_string()))?;
        Ok(hasher()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters() {
        let phc = hash("correct horse battery".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery".into(), phc.clone())
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse battery".into(), phc)
                .await
                .expect("verify")
        );
    }

    #[test]
    fn common_passwords_are_refused() {
        // Long entries of the common-password list (length rules stop the short ones).
        // Every entry of 12 characters or more among the 3000 most common (shorter ones fail
        // the length rule anyway).
        for p in [
            "123qweasdzxc",
            "1qaz2wsx3edc",
            "q1w2e3r4t5y6",
            "1q2w3e4r5t6y",
            "mailcreated5240",
            "qazwsxedcrfv",
            "123456qwerty",
            "qwerty123456",
            "polniypizdec0211",
            "sojdlg123aljg",
            "leavemealone",
            "123456654321",
            "LeaveMeAlone",
        ] {
            assert!(is_common(p), "{p}");
            assert!(validate_new(p).is_err(), "{p}");
        }
        // Short common ones are recognised too (and refused for length anyway).
        for p in [
            "password", "123456", "qwerty", "iloveyou", "dragon", "monkey",
        ] {
            assert!(is_common(p), "{p}");
        }
        for p in [
            "correct horse battery staple",
            "tr0ub4dor&3-zebra-violet",
            &"x7".repeat(32),
        ] {
            assert!(!is_common(p), "{p}");
            assert!(validate_new(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn length_rules() {
        assert!(validate_new("short").is_err());
        assert!(validate_new(&"x".repeat(64)).is_ok());
        assert!(validate_new(&"x".repeat(300)).is_err());
    }
}
