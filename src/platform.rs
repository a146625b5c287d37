//! The two things the runtime provides that pure code must not reach for itself: the clock and randomness.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        worker::js_sys::Date::now() as i64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// Bytes from the platform's CSPRNG (`getrandom`: `crypto.getRandomValues` in the Worker, the OS on a host). A
/// CSPRNG that cannot answer is a broken platform: ids and secrets must never fall back to weaker bytes, so this
/// aborts the invocation rather than return them.
pub fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Err(e) = getrandom::getrandom(&mut buf) {
        panic!("the platform CSPRNG failed: {e}");
    }
    buf
}
