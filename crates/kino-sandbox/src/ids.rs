//! Random identifiers.

use rand::Rng;
use rand::distr::Alphanumeric;

/// A random (version 4) UUID in its hyphenated lowercase form.
pub(crate) fn uuid_v4() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A random alphanumeric token of `len` characters.
pub(crate) fn token(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_is_v4() {
        let id = super::uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, super::uuid_v4());
        assert_eq!(super::token(12).len(), 12);
    }
}
