use std::fmt;

/// Who holds a lease: `host:pid:nonce`. On the same host a lease whose process is gone can be
/// taken over at once instead of waiting for it to expire (`kill -9` then `kino resume`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner(String);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Owner {
    pub fn current() -> Self {
        let nonce = uuid::Uuid::now_v7().simple().to_string();
        Self(format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            &nonce[nonce.len() - 8..]
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True only when `other` names a process on this host that no longer runs.
    pub fn is_dead(other: &str) -> bool {
        let mut parts = other.rsplitn(3, ':');
        let (_nonce, pid, host) = (parts.next(), parts.next(), parts.next());
        let (Some(pid), Some(host)) = (pid.and_then(|p| p.parse::<u32>().ok()), host) else {
            return false;
        };
        if host != hostname() || pid == std::process::id() {
            return false;
        }
        let proc_root = std::path::Path::new("/proc/self");
        proc_root.exists() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_foreign_owners_are_not_dead() {
        let me = Owner::current();
        assert!(!Owner::is_dead(me.as_str()));
        assert!(!Owner::is_dead("some-other-host:1:abc"));
        assert!(!Owner::is_dead("garbage"));
    }

    #[test]
    fn a_gone_process_on_this_host_is_dead() {
        if !std::path::Path::new("/proc/self").exists() {
            return;
        }
        // PIDs are below 2^22 on Linux; this one cannot be running.
        let ghost = format!("{}:{}:deadbeef", hostname(), 4_194_303 + 1);
        assert!(Owner::is_dead(&ghost));
    }
}
