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

/// JSON Schema, from the Worker's JavaScript (`src/schema.mjs`, `@cfworker/json-schema`): see `domain::schema` for
/// why not a crate. A host build has no engine: it finds every schema wrong and all data fitting, and host tests use
/// their own engine.
pub struct SchemaEngine;

#[cfg(target_arch = "wasm32")]
mod schema_js {
    use worker::wasm_bindgen::{self, prelude::*};

    #[wasm_bindgen(module = "/src/schema.mjs")]
    extern "C" {
        #[wasm_bindgen(js_name = schemaProblem, catch)]
        pub fn schema_problem(schema: &str) -> Result<Option<String>, JsValue>;
        #[wasm_bindgen(js_name = dataMismatch, catch)]
        pub fn data_mismatch(schema: &str, data: &str) -> Result<JsValue, JsValue>;
    }
}

impl crate::domain::schema::Engine for SchemaEngine {
    fn schema_problem(&self, schema: &str) -> Option<String> {
        #[cfg(target_arch = "wasm32")]
        {
            schema_js::schema_problem(schema).unwrap_or_else(|e| Some(format!("not a valid JSON Schema: {e:?}")))
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = schema;
            Some("JSON Schema is checked in the Worker only".into())
        }
    }

    fn mismatch(&self, schema: &str, data: &str) -> Option<crate::domain::schema::Mismatch> {
        #[cfg(target_arch = "wasm32")]
        {
            let found = schema_js::data_mismatch(schema, data).ok()?;
            serde_wasm_bindgen::from_value(found).ok().flatten()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (schema, data);
            None
        }
    }
}

/// An RS256 (RSASSA-PKCS1-v1_5, SHA-256) signature of `data` with a PKCS #8 PEM private key, by the platform's
/// WebCrypto (`src/webcrypto.mjs`): a Google service account's JWT. A host build has no WebCrypto and refuses.
pub async fn rs256(pem: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    #[cfg(target_arch = "wasm32")]
    {
        use worker::js_sys;
        use worker::wasm_bindgen::{self, prelude::*};
        #[wasm_bindgen(module = "/src/webcrypto.mjs")]
        extern "C" {
            #[wasm_bindgen(js_name = signRs256, catch)]
            async fn sign_rs256(pem: &str, data: &[u8]) -> Result<JsValue, JsValue>;
        }
        let signed = sign_rs256(pem, data).await.map_err(|e| {
            let text = e.as_string().unwrap_or_else(|| format!("{e:?}"));
            format!("the service account's private key could not sign: {text}")
        })?;
        Ok(worker::js_sys::Uint8Array::new(&signed).to_vec())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (pem, data);
        Err("RS256 is signed by the Worker's WebCrypto only".into())
    }
}

/// Bytes the Worker holds on its heap, as counted by its allocator (wasm only; 0 elsewhere). A transformation reads
/// it at every step to stop a program that holds more than its budget (`domain::transform::MEMORY_BUDGET`).
pub fn allocated() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        counting::HELD.load(core::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// The system allocator, counting what it hands out and takes back: one add per call, on a target with one
/// thread per instance (the atomic is a plain load and store there).
#[cfg(target_arch = "wasm32")]
mod counting {
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::alloc::{GlobalAlloc, Layout, System};

    pub static HELD: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    // SAFETY: every call is passed to the system allocator unchanged; only a counter is kept beside it.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                HELD.fetch_add(layout.size(), Ordering::Relaxed);
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                HELD.fetch_add(layout.size(), Ordering::Relaxed);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                HELD.fetch_add(new_size, Ordering::Relaxed);
                HELD.fetch_sub(layout.size(), Ordering::Relaxed);
            }
            p
        }
    }
}
