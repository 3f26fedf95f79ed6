//! Bearer-key acceptance shared by every emulated platform.

use axum::http::{HeaderMap, header};

use crate::state::Shared;

/// Why a request's key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// No (non-empty) bearer token.
    Missing,
    /// A token the sandbox does not accept.
    Invalid,
}

/// The bearer token, if the request carries a non-empty one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Check the bearer key against `api_keys` (empty = any token not starting with `sk-invalid`);
/// returns it on success.
pub(crate) fn check(shared: &Shared, headers: &HeaderMap) -> Result<String, KeyError> {
    let token = bearer(headers).ok_or(KeyError::Missing)?;
    let keys = shared.config().api_keys;
    let accepted = if keys.is_empty() {
        !token.starts_with("sk-invalid")
    } else {
        keys.iter().any(|k| k == token)
    };
    if accepted {
        Ok(token.to_owned())
    } else {
        Err(KeyError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            "Bearer sk-1".parse().expect("header"),
        );
        assert_eq!(bearer(&h), Some("sk-1"));
        h.insert(header::AUTHORIZATION, "bearer  ".parse().expect("header"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&h), None);
    }
}
