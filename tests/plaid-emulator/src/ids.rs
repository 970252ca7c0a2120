//! Identifiers in Plaid's formats (`idv_…`, request ids, UUID-shaped kids and link tokens).

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn alnum(len: usize) -> String {
    (0..len)
        .map(|_| ALNUM[fastrand::usize(..ALNUM.len())] as char)
        .collect()
}

/// `idv_52xR9LKo77r1Np`: 14 characters after the prefix, as in Plaid's examples.
pub fn idv_id() -> String {
    format!("idv_{}", alnum(14))
}

pub fn screening_id() -> String {
    format!("scr_{}", alnum(14))
}

/// Plaid's `request_id`s are 15 alphanumerics (`saKrIBuEB9qJZng`).
pub fn request_id() -> String {
    alnum(15)
}

/// A random (version 4) UUID in its usual text form.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The `key` of a shareable URL: 64 hex characters, like Plaid's.
pub fn share_key() -> String {
    let b: [u8; 32] = std::array::from_fn(|_| fastrand::u8(..));
    hex::encode(b)
}
